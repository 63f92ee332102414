//! The `[gateway]` section: one bot's settings, which deserialize straight into the library's
//! [`GatewayConfig`] (its keys and defaults are defined there, once), and what this process
//! adds around it: Discord's REST base, where sessions are saved, the shard pool and several
//! bots (`[[gateway.bots]]`). `switchyard run` reads it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use switchyard_core::outbound::ReplyNamespace;
use switchyard_core::{Pattern, TopicTemplate};
use switchyard_gateway::pool::PoolConfig;
use switchyard_gateway::{GatewayConfig, Secret, parse_intents};

/// `[gateway]`.
#[derive(Clone, Debug, Default)]
pub struct GatewaySection {
    /// The bot's settings (the token: `DISCORD_TOKEN` takes precedence); each entry of
    /// `bots` overrides some of them for one bot.
    pub bot: GatewayConfig,
    /// What this process adds.
    pub process: ProcessKeys,
}

/// The `[gateway]` keys that are not one bot's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessKeys {
    /// Discord's REST base (no `/api`).
    pub api_url: String,
    /// Where sessions are saved (with the embedded broker).
    pub session_dir: PathBuf,
    /// Share the bot's shards with the other `switchyard run` processes of the same bot
    /// (SHARD_CONNECT / SHARD_ACCEPT / SHARD_DEATH); needs a Redis or NATS broker.
    pub pool: bool,
    /// The pool's lease (ms): a silent process is dead after this long, and its shards move.
    pub pool_lease_ms: u64,
    /// Several bots in this process (`[[gateway.bots]]`): each entry overrides the settings
    /// above for one bot. Empty: one bot, `bot` with `DISCORD_TOKEN` or `token`.
    pub bots: Vec<BotEntry>,
}

impl ProcessKeys {
    const KEYS: [&str; 5] = ["api_url", "session_dir", "pool", "pool_lease_ms", "bots"];
}

impl Default for ProcessKeys {
    fn default() -> Self {
        ProcessKeys {
            api_url: switchyard_rest::RestConfig::default().upstream,
            session_dir: PathBuf::from(".switchyard/sessions"),
            pool: false,
            pool_lease_ms: PoolConfig::default().lease.as_millis() as u64,
            bots: Vec::new(),
        }
    }
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
    /// This bot's cache (`[gateway.bots.cache]`), in place of `[gateway.cache]`.
    pub cache: Option<switchyard_gateway::CacheConfig>,
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

impl GatewaySection {
    /// Reads the `[gateway]` table: this process's keys, then the bot's settings.
    pub(super) fn from_table(table: toml::Table) -> anyhow::Result<Self> {
        let (process, bot) = super::read_apart("gateway", table, &ProcessKeys::KEYS)?;
        Ok(GatewaySection { bot, process })
    }

    pub(super) fn validate(&self) -> anyhow::Result<()> {
        let process = &self.process;
        if process.pool && process.pool_lease_ms < 30 {
            anyhow::bail!("gateway.pool_lease_ms must be at least 30");
        }
        if process.pool && self.bot.shard_range.is_some() {
            anyhow::bail!(
                "gateway.shard_range and gateway.pool exclude each other: the pool hands out the shards"
            );
        }
        for warning in self.event_name_warnings() {
            tracing::warn!("{warning}");
        }
        self.bot_configs(true).map(|_| ())
    }

    /// One line per name in `events` or `drop_events` that Discord is not known to send (a
    /// typo there silently filters everything, or nothing); not an error, as Discord adds
    /// events.
    pub fn event_name_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, names) in [
            ("gateway.events", &self.bot.events),
            ("gateway.drop_events", &self.bot.drop_events),
        ] {
            let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
            names.sort_unstable();
            for unknown in switchyard_gateway::unknown_events(names) {
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
        if self.process.bots.is_empty() {
            let mut config = self.bot.clone();
            let from_env = std::env::var("DISCORD_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty());
            config.token = match from_env {
                Some(token) => Secret::new(token),
                None if !config.token.is_empty() => config.token,
                None if validating => Secret::new("validation"),
                None => anyhow::bail!("no bot token: set DISCORD_TOKEN or gateway.token"),
            };
            return Ok(vec![config]);
        }
        let mut configs: Vec<GatewayConfig> = Vec::new();
        for (i, entry) in self.process.bots.iter().enumerate() {
            let at = format!("gateway.bots[{i}]");
            let config = self.entry(&at, entry, i, validating)?;
            check_apart(&at, entry, &config, &configs)?;
            configs.push(config);
        }
        Ok(configs)
    }

    /// The settings of `[[gateway.bots]]` entry `i` (at `at`): `[gateway]` with its
    /// overrides.
    fn entry(
        &self,
        at: &str,
        entry: &BotEntry,
        i: usize,
        validating: bool,
    ) -> anyhow::Result<GatewayConfig> {
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
        let mut config = GatewayConfig {
            bot: entry.bot.clone(),
            token,
            ..self.bot.clone()
        };
        let named = |key: &str| format!("{at}.{key} ({})", entry.bot);
        if let Some(names) = &entry.intents {
            config.intents = parse_intents(names.iter().map(String::as_str))
                .map_err(|e| anyhow::anyhow!("{}: {e}", named("intents")))?;
        }
        match entry.shards {
            Some(0) => anyhow::bail!("{}: must be at least 1", named("shards")),
            Some(n) => config.shards = Some(n),
            None => {}
        }
        if let Some(cache) = &entry.cache {
            config.cache = cache.clone();
        }
        if let Some(prefix) = &entry.reply_prefix {
            config.replies = ReplyNamespace::new(prefix)
                .map_err(|e| anyhow::anyhow!("{}: {e}", named("reply_prefix")))?;
        }
        if let Some(template) = &entry.topic_template {
            config.topic_template = TopicTemplate::parse(template)
                .map_err(|e| anyhow::anyhow!("{}: {e}", named("topic_template")))?;
        }
        match &entry.outbound_pattern {
            Some(p) => {
                Pattern::new(p)
                    .map_err(|e| anyhow::anyhow!("{at}.outbound_pattern = {p:?}: {e}"))?;
                config.outbound_pattern = p.clone();
            }
            None if i > 0 => anyhow::bail!(
                "{at} ({}): set outbound_pattern (for example \"outbound.{}.>\"); outbound.discord.> belongs to the first bot",
                entry.bot,
                entry.bot
            ),
            None => {}
        }
        Ok(config)
    }

    /// The shard pool's settings.
    pub fn pool(&self) -> PoolConfig {
        PoolConfig {
            lease: Duration::from_millis(self.process.pool_lease_ms),
            key: None,
        }
    }
}

/// Refuses a bot (`config`, from `entry` at `at`) whose name, outbound pattern or inbound
/// topics are another's (`others`).
fn check_apart(
    at: &str,
    entry: &BotEntry,
    config: &GatewayConfig,
    others: &[GatewayConfig],
) -> anyhow::Result<()> {
    if let Some(other) = others.iter().find(|c| c.bot == config.bot) {
        anyhow::bail!("{at}: the bot name {:?} is used twice", other.bot);
    }
    let mine = Pattern::new(&config.outbound_pattern)
        .map_err(|e| anyhow::anyhow!("{at}.outbound_pattern: {e}"))?;
    for other in others {
        let theirs = Pattern::new(&other.outbound_pattern)
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
    for other in others {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[gateway]` with `keys`, validated: the error's text.
    fn bad(keys: &str) -> String {
        section(keys).expect_err("invalid").to_string()
    }

    fn section(keys: &str) -> anyhow::Result<GatewaySection> {
        let config = crate::config::Config::from_sources(
            &format!("[gateway]\n{keys}\n"),
            "test.toml",
            Vec::new(),
        )?;
        Ok(config.gateway)
    }

    #[test]
    fn defaults_validate_and_errors_name_the_key() {
        GatewaySection::default()
            .validate()
            .expect("defaults are valid");
        assert!(bad(r#"intents = ["GUILD_MESAGES"]"#).contains("gateway.intents"));
        assert!(bad(r#"profile = "bytbot""#).contains("gateway.profile"));
        assert!(bad(r#"allowed_routes = ["nope"]"#).contains("gateway.allowed_routes"));
        assert!(bad(r#"topic_template = "a.{x}""#).contains("gateway.topic_template"));
        assert!(bad(r#"reply_prefix = "inbound..rest""#).contains("gateway.reply_prefix"));
        assert!(bad("command_queue = 0").contains("gateway.command_queue"));
        assert!(bad("shards = 0").contains("gateway.shards"));
        assert!(bad("shard_range = [3, 1]").contains("gateway.shard_range"));
        assert!(bad("queue_capacity = -1").contains("gateway.queue_capacity"));
        let e = bad("pool_leas_ms = 100");
        assert!(
            e.contains("pool_leas_ms") && e.contains("pool_lease_ms"),
            "{e}"
        );
        let s = section(
            r#"events = ["MESSAGE_CREATE", "MESAGE_UPDATE"]
drop_events = ["typing_start", "TYPING_STRAT"]"#,
        )
        .expect("unknown event names only warn");
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
        let s = section(r#"token = "sekrit""#).expect("valid");
        assert!(!format!("{s:?}").contains("sekrit"));
    }

    #[test]
    fn keys_read_into_the_bots_settings() {
        let s = section(
            r#"bot = "b"
intents = ["GUILDS"]
profile = "bytebot"
payload = "raw"
shard_range = [1, 2]
full_bound_ms = 7
session_save_ms = 0
outbound = false
outbound_workers = 0
reply_prefix = "inbound.rest.b"
api_url = "http://127.0.0.1:1"
pool_lease_ms = 900"#,
        )
        .expect("valid");
        let c = &s.bot;
        assert_eq!(c.bot, "b");
        assert_eq!(c.intents, switchyard_gateway::Intents::GUILDS);
        assert_eq!(c.profile, switchyard_gateway::Profile::Bytebot);
        assert_eq!(c.payload, switchyard_gateway::PayloadMode::Raw);
        assert_eq!(c.shard_range.map(|r| (r.first, r.last)), Some((1, 2)));
        assert_eq!(c.full_bound, Duration::from_millis(7));
        assert_eq!(
            c.session_save_interval,
            Duration::from_millis(1),
            "0 means 1"
        );
        assert!(!c.outbound);
        assert_eq!(c.outbound_workers, 1, "0 means 1");
        assert_eq!(c.replies.prefix(), "inbound.rest.b");
        assert_eq!(s.process.api_url, "http://127.0.0.1:1");
        assert_eq!(s.pool().lease, Duration::from_millis(900));
        let s = section("[gateway.cache]\nenabled = true\nmessages = 5\nmembers = false")
            .expect("valid cache table");
        assert!(s.bot.cache.enabled && !s.bot.cache.members);
        assert_eq!(s.bot.cache.messages, 5);
        assert!(bad("[gateway.cache]\nmesages = 5").contains("gateway.cache.mesages"));
        let s = section("[gateway.cache]\nsnapshot_interval_ms = 250").expect("an interval");
        assert_eq!(s.bot.cache.snapshot_interval, Duration::from_millis(250));
        assert!(bad("[gateway.cache]\nsnapshot_interval_ms = 0").contains("at least 1"));
        let d = GatewaySection::default();
        assert_eq!(d.bot.queue_capacity, 4096);
        assert_eq!(d.process.api_url, "https://discord.com");
        assert_eq!(d.process.pool_lease_ms, 5_000);
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
    fn a_bot_may_keep_a_cache_of_its_own() {
        let text = "[gateway.cache]\nenabled = true\nmessages = 7\n[[gateway.bots]]\nbot = \"main\"\ntoken = \"t1\"\n[[gateway.bots]]\nbot = \"helper\"\ntoken = \"t2\"\noutbound_pattern = \"outbound.helper.>\"\ntopic_template = \"inbound.helper.{guild}.{channel}.{user}\"\n[gateway.bots.cache]\nenabled = false\n";
        let bots = crate::config::Config::from_sources(text, "test.toml", Vec::new())
            .expect("valid")
            .gateway
            .bot_configs(false)
            .expect("bots");
        assert!(
            bots[0].cache.enabled && bots[0].cache.messages == 7,
            "inherited"
        );
        assert!(!bots[1].cache.enabled, "its own");
    }

    #[test]
    fn several_bots_each_need_a_token_and_their_own_topics() {
        let ok = bots(
            "token = \"t2\"\noutbound_pattern = \"outbound.helper.>\"\ntopic_template = \"inbound.helper.{guild}.{channel}.{user}\"",
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
        assert_eq!(
            (ok[0].bot.as_str(), ok[0].outbound_pattern.as_str()),
            ("main", "outbound.discord.>")
        );
        assert_eq!(
            (ok[1].bot.as_str(), ok[1].outbound_pattern.as_str()),
            ("helper", "outbound.helper.>")
        );
        assert_eq!(ok[1].token.expose(), "t2");
        assert_eq!(ok[1].replies.prefix(), "inbound.rest");
        let own = bots_apart("token = \"t2\"\noutbound_pattern = \"outbound.helper.>\"\nreply_prefix = \"inbound.rest.helper\"")
            .expect("valid");
        assert_eq!(own[0].replies.prefix(), "inbound.rest");
        assert_eq!(own[1].replies.prefix(), "inbound.rest.helper");

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
