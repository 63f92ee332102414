//! The `[gateway]` section: the bot, its token (or `DISCORD_TOKEN`), intents, shards, what is
//! published, the outbound path and where sessions are saved. `switchyard run` reads it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use switchyard_core::outbound::ReplyNamespace;
use switchyard_core::{Pattern, TopicTemplate};
use switchyard_gateway::{
    EventFilter, GatewayConfig, OutboundConfig, PayloadMode, Profile, RouteAllowlist, Secret,
    ShardRange, parse_intents,
};

/// `[gateway]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// The bot's name (envelope, `{bot}` in topics, session keys).
    pub bot: String,
    /// The bot token; `DISCORD_TOKEN` takes precedence. Never logged.
    pub token: Option<String>,
    /// Intent names (`GUILDS`, `GUILD_MESSAGES`, `MESSAGE_CONTENT`, ... or `NON_PRIVILEGED`).
    pub intents: Vec<String>,
    /// Discord's REST base (no `/api`).
    pub api_url: String,
    /// The gateway URL; by default the one `GET /gateway/bot` returns.
    pub gateway_url: Option<String>,
    /// Total shard count; by default the recommended one.
    pub shards: Option<u32>,
    /// `[first, last]` shard ids this node runs (default: all).
    pub shard_range: Option<[u32; 2]>,
    /// `default` or `bytebot` (MESSAGE_CREATE only, raw payloads, own messages skipped).
    pub profile: String,
    /// `envelope` (default) or `raw` (the `d` object alone).
    pub payload: String,
    /// Only these events are published (empty: all).
    pub events: Vec<String>,
    /// These events are never published.
    pub drop_events: Vec<String>,
    /// Skip the bot's own MESSAGE_CREATE events.
    pub skip_own_messages: bool,
    /// The inbound topic template.
    pub topic_template: String,
    /// Events queued per shard between the shard and the broker.
    pub queue_capacity: usize,
    /// How long (ms) the queue may stay full before the shard is closed until it drains.
    pub full_bound_ms: u64,
    /// The identify window per max_concurrency bucket (ms).
    pub identify_window_ms: u64,
    /// How often sessions are saved (ms), each covering only events the broker confirmed.
    /// After a crash Discord replays what came after the last save (durable brokers drop
    /// the repeats by id), so this bounds the replay; each busy shard costs one write per
    /// interval (10 ms measured within the noise of 200 ms, about 1 µs of gateway CPU per
    /// event at 10,000 events/s over 16 shards with the file store; BENCHMARKS.md).
    pub session_save_ms: u64,
    /// Where sessions are saved (with the embedded broker).
    pub session_dir: PathBuf,
    /// Read `outbound.discord.>` and call Discord.
    pub outbound: bool,
    /// Routes general outbound requests may use (groups or `[METHOD ]/path/*` patterns).
    pub allowed_routes: Vec<String>,
    /// Outbound workers.
    pub outbound_workers: usize,
    /// Where `reply_to` topics of outbound messages must lie: `{reply_prefix}.…`. Anything
    /// else is refused, so that nobody makes the gateway publish Discord's answer on an
    /// inbound or control topic.
    pub reply_prefix: String,
    /// Gateway commands (presence, voice, member requests) waiting per shard; beyond it a
    /// command is refused with when to retry, so that Discord never closes a shard for
    /// sending too many.
    pub command_queue: usize,
    /// With a durable broker, outbound messages wait for a gateway; one older than this (ms)
    /// when read is reported as expired on `errors.…`, not sent.
    pub outbound_max_age_ms: u64,
    /// Gateway commands older than this (ms) when their turn comes are reported as expired,
    /// not sent.
    pub command_max_age_ms: u64,
    /// Share the bot's shards with the other `switchyard run` processes of the same bot
    /// (SHARD_CONNECT / SHARD_ACCEPT / SHARD_DEATH); needs a Redis or NATS broker.
    pub pool: bool,
    /// The pool's lease (ms): a silent process is dead after this long, and its shards move.
    pub pool_lease_ms: u64,
    /// Several bots in this process (`[[gateway.bots]]`): each entry overrides the settings
    /// above for one bot. Empty: one bot, `bot` with `DISCORD_TOKEN` or `token`.
    pub bots: Vec<BotEntry>,
}

/// One bot of `[[gateway.bots]]`; unset keys come from `[gateway]`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotEntry {
    /// The bot's name (envelope, `{bot}` in topics, session keys).
    pub bot: String,
    /// Its token (prefer `token_env`, which keeps it out of the file).
    pub token: Option<String>,
    /// The environment variable holding its token.
    pub token_env: Option<String>,
    /// Intent names.
    pub intents: Option<Vec<String>>,
    /// Total shard count.
    pub shards: Option<u32>,
    /// The inbound topic template.
    pub topic_template: Option<String>,
    /// The outbound pattern this bot answers (every bot needs its own; the first bot's
    /// default is `outbound.discord.>`).
    pub outbound_pattern: Option<String>,
    /// Where this bot's `reply_to` topics must lie (default: `gateway.reply_prefix`), so
    /// that one bot's consumers cannot have the gateway publish on another's reply topics.
    pub reply_prefix: Option<String>,
}

impl std::fmt::Debug for BotEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotEntry")
            .field("bot", &self.bot)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_env", &self.token_env)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for GatewaySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySection")
            .field("bot", &self.bot)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("intents", &self.intents)
            .field("api_url", &self.api_url)
            .field("gateway_url", &self.gateway_url)
            .field("shards", &self.shards)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            bot: "switchyard".into(),
            token: None,
            intents: vec!["NON_PRIVILEGED".into(), "MESSAGE_CONTENT".into()],
            api_url: "https://discord.com".into(),
            gateway_url: None,
            shards: None,
            shard_range: None,
            profile: "default".into(),
            payload: "envelope".into(),
            events: Vec::new(),
            drop_events: Vec::new(),
            skip_own_messages: false,
            topic_template: switchyard_core::template::DEFAULT_INBOUND_TEMPLATE.into(),
            queue_capacity: 4096,
            full_bound_ms: 5_000,
            identify_window_ms: 5_000,
            session_save_ms: switchyard_gateway::DEFAULT_SESSION_SAVE_INTERVAL.as_millis() as u64,
            session_dir: PathBuf::from(".switchyard/sessions"),
            outbound: true,
            allowed_routes: switchyard_gateway::DEFAULT_ROUTE_GROUPS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            outbound_workers: 8,
            reply_prefix: switchyard_core::outbound::DEFAULT_REPLY_PREFIX.into(),
            command_queue: 100,
            outbound_max_age_ms: 600_000,
            command_max_age_ms: switchyard_gateway::DEFAULT_COMMAND_MAX_AGE.as_millis() as u64,
            pool: false,
            pool_lease_ms: 5_000,
            bots: Vec::new(),
        }
    }
}

impl GatewaySection {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if self.pool && self.pool_lease_ms < 30 {
            anyhow::bail!("gateway.pool_lease_ms must be at least 30");
        }
        if self.pool && self.shard_range.is_some() {
            anyhow::bail!(
                "gateway.shard_range and gateway.pool exclude each other: the pool hands out the shards"
            );
        }
        for warning in self.event_name_warnings() {
            tracing::warn!("{warning}");
        }
        if self.bots.is_empty() {
            return self.library(Some(Secret::new("validation"))).map(|_| ());
        }
        self.bot_configs(true).map(|_| ())
    }

    /// One line per name in `events` or `drop_events` that Discord is not known to send (a
    /// typo there silently filters everything, or nothing); not an error, as Discord adds
    /// events.
    pub fn event_name_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, names) in [
            ("gateway.events", &self.events),
            ("gateway.drop_events", &self.drop_events),
        ] {
            for unknown in switchyard_gateway::unknown_events(names.iter().map(String::as_str)) {
                out.push(format!(
                    "{key}: {unknown}; it is kept, but no event of that name may ever arrive"
                ));
            }
        }
        out
    }

    /// The library's configuration of every bot this process runs: `[gateway]` alone, or
    /// one per `[[gateway.bots]]` entry. `validating` uses a placeholder for missing tokens.
    pub fn bot_configs(&self, validating: bool) -> anyhow::Result<Vec<GatewayConfig>> {
        if self.bots.is_empty() {
            return Ok(vec![self.library(None)?]);
        }
        let mut configs: Vec<GatewayConfig> = Vec::new();
        for (i, entry) in self.bots.iter().enumerate() {
            let at = format!("gateway.bots[{i}]");
            if entry.bot.is_empty() {
                anyhow::bail!("{at}.bot must be set");
            }
            let token = match (&entry.token, &entry.token_env) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(var)) => std::env::var(var).ok().filter(|t| !t.trim().is_empty()),
                (None, None) => None,
            };
            let token = match (token, validating) {
                (Some(t), _) => Secret::new(t),
                (None, true) => Secret::new("validation"),
                (None, false) => anyhow::bail!(
                    "{at} ({}): no token: set {at}.token_env to the name of an environment variable holding it (or {at}.token)",
                    entry.bot
                ),
            };
            let mut section = self.clone();
            section.bots.clear();
            section.bot = entry.bot.clone();
            if let Some(v) = &entry.intents {
                section.intents = v.clone();
            }
            if entry.shards.is_some() {
                section.shards = entry.shards;
            }
            if let Some(v) = &entry.reply_prefix {
                section.reply_prefix = v.clone();
            }
            if let Some(v) = &entry.topic_template {
                section.topic_template = v.clone();
            }
            let mut config = section
                .library(Some(token))
                .map_err(|e| anyhow::anyhow!("{at} ({}): {e}", entry.bot))?;
            match &entry.outbound_pattern {
                Some(p) => {
                    Pattern::new(p)
                        .map_err(|e| anyhow::anyhow!("{at}.outbound_pattern = {p:?}: {e}"))?;
                    config.outbound.pattern = p.clone();
                }
                None if i > 0 => anyhow::bail!(
                    "{at} ({}): set outbound_pattern (for example \"outbound.{}.>\"); outbound.discord.> belongs to the first bot",
                    entry.bot,
                    entry.bot
                ),
                None => {}
            }
            if let Some(other) = configs.iter().find(|c| c.bot == config.bot) {
                anyhow::bail!("{at}: the bot name {:?} is used twice", other.bot);
            }
            let mine = Pattern::new(&config.outbound.pattern)
                .map_err(|e| anyhow::anyhow!("{at}.outbound_pattern: {e}"))?;
            for other in &configs {
                let theirs = Pattern::new(&other.outbound.pattern)
                    .map_err(|e| anyhow::anyhow!("{at}: bot {}: {e}", other.bot))?;
                if let Some(topic) = mine.overlap(&theirs) {
                    anyhow::bail!(
                        "{at} ({}): its outbound_pattern {} overlaps bot {}'s {}: a message on {topic} would be sent once by each bot; every bot needs its own outbound_pattern, disjoint from the others (for example \"outbound.{}.>\")",
                        entry.bot,
                        mine,
                        other.bot,
                        theirs,
                        entry.bot
                    );
                }
            }
            let inbound = config
                .topic_template
                .pattern_for(&config.bot)
                .map_err(|e| anyhow::anyhow!("{at}.topic_template: {e}"))?;
            for other in &configs {
                let theirs = other
                    .topic_template
                    .pattern_for(&other.bot)
                    .map_err(|e| anyhow::anyhow!("{at}: bot {}: {e}", other.bot))?;
                if let Some(topic) = inbound.overlap(&theirs) {
                    anyhow::bail!(
                        "{at} ({}): its topic_template publishes on topics bot {}'s does too (such as {topic}), so consumers could not tell the two bots' events apart; give each bot its own, for example topic_template = \"inbound.{}.{{guild}}.{{channel}}.{{user}}\" (or one with {{bot}})",
                        entry.bot,
                        other.bot,
                        entry.bot
                    );
                }
            }
            configs.push(config);
        }
        Ok(configs)
    }

    /// The shard pool's settings.
    pub fn pool(&self) -> switchyard_gateway::pool::PoolConfig {
        switchyard_gateway::pool::PoolConfig {
            lease: Duration::from_millis(self.pool_lease_ms),
        }
    }

    /// The library's configuration; the token comes from `token` (if given), else
    /// `DISCORD_TOKEN`, else `gateway.token`.
    pub fn library(&self, token: Option<Secret>) -> anyhow::Result<GatewayConfig> {
        let token = match token {
            Some(t) => t,
            None => std::env::var("DISCORD_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .or_else(|| self.token.clone())
                .map(Secret::new)
                .context("no bot token: set DISCORD_TOKEN or gateway.token")?,
        };
        if self.bot.is_empty() {
            anyhow::bail!("gateway.bot must not be empty");
        }
        let mut c = GatewayConfig::new(self.bot.clone(), token);
        c.intents = parse_intents(self.intents.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("gateway.intents: {e}"))?;
        c.gateway_url = self.gateway_url.clone();
        c.shards = self.shards;
        if self.shards == Some(0) {
            anyhow::bail!("gateway.shards must be at least 1");
        }
        c.shard_range = self
            .shard_range
            .map(|[first, last]| ShardRange { first, last });
        if let Some([first, last]) = self.shard_range
            && first > last
        {
            anyhow::bail!("gateway.shard_range = [{first}, {last}]: first must not exceed last");
        }
        c.profile = match self.profile.as_str() {
            "default" => Profile::Default,
            "bytebot" => Profile::Bytebot,
            other => anyhow::bail!("gateway.profile = {other:?}: use \"default\" or \"bytebot\""),
        };
        c.payload = match self.payload.as_str() {
            "envelope" => PayloadMode::Envelope,
            "raw" => PayloadMode::Raw,
            other => anyhow::bail!("gateway.payload = {other:?}: use \"envelope\" or \"raw\""),
        };
        c.events = EventFilter {
            allow: self.events.iter().map(|e| e.to_ascii_uppercase()).collect(),
            deny: self
                .drop_events
                .iter()
                .map(|e| e.to_ascii_uppercase())
                .collect(),
        };
        c.skip_own_messages = self.skip_own_messages;
        c.topic_template = TopicTemplate::parse(&self.topic_template)
            .map_err(|e| anyhow::anyhow!("gateway.topic_template: {e}"))?;
        if self.queue_capacity == 0 {
            anyhow::bail!("gateway.queue_capacity must be at least 1");
        }
        c.queue_capacity = self.queue_capacity;
        c.full_bound = Duration::from_millis(self.full_bound_ms);
        c.identify_window = Duration::from_millis(self.identify_window_ms);
        c.session_save_interval = Duration::from_millis(self.session_save_ms.max(1));
        c.outbound = OutboundConfig {
            enabled: self.outbound,
            allowed_routes: RouteAllowlist::parse(self.allowed_routes.iter().map(String::as_str))
                .map_err(|e| anyhow::anyhow!("gateway.allowed_routes: {e}"))?,
            workers: self.outbound_workers.max(1),
            replies: ReplyNamespace::new(&self.reply_prefix)
                .map_err(|e| anyhow::anyhow!("gateway.reply_prefix: {e}"))?,
            command_queue: if self.command_queue == 0 {
                anyhow::bail!("gateway.command_queue must be at least 1");
            } else {
                self.command_queue
            },
            message_max_age: Duration::from_millis(self.outbound_max_age_ms),
            command_max_age: Duration::from_millis(self.command_max_age_ms),
            ..OutboundConfig::default()
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_errors_name_the_key() {
        GatewaySection::default()
            .validate()
            .expect("defaults are valid");
        let bad = |f: fn(&mut GatewaySection)| {
            let mut s = GatewaySection::default();
            f(&mut s);
            s.validate().expect_err("invalid").to_string()
        };
        assert!(bad(|s| s.intents = vec!["GUILD_MESAGES".into()]).contains("gateway.intents"));
        assert!(bad(|s| s.profile = "bytbot".into()).contains("gateway.profile"));
        assert!(bad(|s| s.allowed_routes = vec!["nope".into()]).contains("gateway.allowed_routes"));
        assert!(bad(|s| s.topic_template = "a.{x}".into()).contains("gateway.topic_template"));
        assert!(bad(|s| s.reply_prefix = "inbound..rest".into()).contains("gateway.reply_prefix"));
        assert!(bad(|s| s.command_queue = 0).contains("gateway.command_queue"));
        let s = GatewaySection {
            events: vec!["MESSAGE_CREATE".into(), "MESAGE_UPDATE".into()],
            drop_events: vec!["typing_start".into(), "TYPING_STRAT".into()],
            ..GatewaySection::default()
        };
        s.validate().expect("unknown event names only warn");
        let warnings = s.event_name_warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("gateway.events: \"MESAGE_UPDATE\"")
                && warnings[0].contains("did you mean MESSAGE_UPDATE?"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("gateway.drop_events: \"TYPING_STRAT\"")
                && warnings[1].contains("TYPING_START"),
            "{warnings:?}"
        );
        let s = GatewaySection {
            token: Some("sekrit".into()),
            ..GatewaySection::default()
        };
        assert!(!format!("{s:?}").contains("sekrit"));
    }

    fn bots(extra: &str) -> anyhow::Result<Vec<GatewayConfig>> {
        let text = format!(
            "[[gateway.bots]]\nbot = \"main\"\ntoken = \"t1\"\n[[gateway.bots]]\nbot = \"helper\"\n{extra}"
        );
        crate::config::Config::from_sources(&text, "test.toml", Vec::new())?
            .gateway
            .bot_configs(false)
    }

    /// [`bots`], the second bot with its own inbound topics.
    fn bots_apart(extra: &str) -> anyhow::Result<Vec<GatewayConfig>> {
        bots(&format!(
            "{extra}\ntopic_template = \"inbound.helper.{{guild}}.{{channel}}.{{user}}\""
        ))
    }

    #[test]
    fn several_bots_each_need_a_token_and_their_own_topics() {
        let ok = bots(
            "token = \"t2\"\noutbound_pattern = \"outbound.helper.>\"\ntopic_template = \"inbound.helper.{guild}.{channel}.{user}\"",
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
        assert_eq!(
            (ok[0].bot.as_str(), ok[0].outbound.pattern.as_str()),
            ("main", "outbound.discord.>")
        );
        assert_eq!(
            (ok[1].bot.as_str(), ok[1].outbound.pattern.as_str()),
            ("helper", "outbound.helper.>")
        );
        assert_eq!(ok[1].token.expose(), "t2");
        assert_eq!(ok[1].outbound.replies.prefix(), "inbound.rest");
        let own = bots_apart("token = \"t2\"\noutbound_pattern = \"outbound.helper.>\"\nreply_prefix = \"inbound.rest.helper\"")
            .expect("valid");
        assert_eq!(own[0].outbound.replies.prefix(), "inbound.rest");
        assert_eq!(own[1].outbound.replies.prefix(), "inbound.rest.helper");

        let e = bots_apart("token_env = \"SWITCHYARD_TEST_UNSET_TOKEN_VAR\"\noutbound_pattern = \"outbound.helper.>\"")
            .expect_err("no token")
            .to_string();
        assert!(
            e.contains("gateway.bots[1] (helper)") && e.contains("token_env"),
            "{e}"
        );
        let e = bots_apart("token = \"t2\"")
            .expect_err("no pattern")
            .to_string();
        assert!(e.contains("outbound_pattern"), "{e}");
        let e = bots_apart("token = \"t2\"\noutbound_pattern = \"outbound.discord.>\"")
            .expect_err("same pattern")
            .to_string();
        assert!(e.contains("overlaps bot main's outbound.discord.>"), "{e}");
        let e = bots_apart("token = \"t2\"\noutbound_pattern = \"outbound.>\"")
            .expect_err("overlapping pattern")
            .to_string();
        assert!(
            e.contains("gateway.bots[1] (helper)")
                && e.contains("outbound.>")
                && e.contains("bot main's outbound.discord.>"),
            "{e}"
        );
        let e = bots_apart("token = \"t2\"\noutbound_pattern = \"outbound..x\"")
            .expect_err("invalid pattern")
            .to_string();
        assert!(e.contains("gateway.bots[1].outbound_pattern"), "{e}");
        let e = bots("token = \"t2\"\noutbound_pattern = \"outbound.helper.>\"")
            .expect_err("the same inbound topics")
            .to_string();
        assert!(
            e.contains("gateway.bots[1] (helper)")
                && e.contains("bot main's")
                && e.contains("inbound.discord.")
                && e.contains("topic_template = \"inbound.helper.{guild}.{channel}.{user}\""),
            "{e}"
        );
        bots("token = \"t2\"\noutbound_pattern = \"outbound.helper.>\"\ntopic_template = \"inbound.discord.{bot}.{guild}.{channel}.{user}\"")
            .expect("{bot} keeps the topics apart");
        let e = bots("token = \"t2\"\nnope = 1")
            .expect_err("unknown key")
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }
}
