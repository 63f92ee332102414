//! The gateway's settings: one struct per bot with Discord-like defaults, whose serde shape is
//! the `[gateway]` section of the configuration file (keys and defaults are defined here once;
//! the binary deserializes the section straight into [`GatewayConfig`]).

pub(crate) mod de;
mod events;

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use switchyard_cache::CacheConfig;
use switchyard_core::TopicTemplate;
use switchyard_core::outbound::ReplyNamespace;
use twilight_gateway::Intents;

pub use events::{UnknownEvent, unknown_events};

use crate::route_allowlist::RouteAllowlist;
use crate::secret::Secret;

/// What is published for each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadMode {
    /// The envelope (`{v, id, s, t, seq, shard, bot, received_ms, d}`), the default.
    #[default]
    Envelope,
    /// The raw `d` object alone, as Bytebot published it.
    Raw,
}

/// A named set of defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Every dispatch the intents allow, in the envelope.
    #[default]
    Default,
    /// Bytebot's gateway: only MESSAGE_CREATE, the raw message object, the bot's own messages
    /// skipped; outbound JSON strings are sent as text (as in every profile).
    Bytebot,
}

/// How often sessions are saved unless configured: every few milliseconds, as cheap as every
/// 200 ms on the file store (BENCHMARKS.md).
pub const DEFAULT_SESSION_SAVE_INTERVAL: Duration = Duration::from_millis(10);

/// How long a command may wait (unsent: in a durable stream while no gateway read it, or in a
/// queue) before it is refused as expired, by default: a voice join a minute late is a bug.
pub const DEFAULT_COMMAND_MAX_AGE: Duration = Duration::from_secs(30);

/// Which shards this node runs: `[first, last]` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "[u32; 2]")]
pub struct ShardRange {
    /// The first shard id.
    pub first: u32,
    /// The last shard id (inclusive).
    pub last: u32,
}

impl TryFrom<[u32; 2]> for ShardRange {
    type Error = String;

    fn try_from([first, last]: [u32; 2]) -> Result<Self, String> {
        if first > last {
            return Err(format!("[{first}, {last}]: first must not exceed last"));
        }
        Ok(ShardRange { first, last })
    }
}

/// Settings of one bot's gateway; as a TOML table, the `[gateway]` section (each field's key
/// is its name, or `…_ms` for durations in milliseconds).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The bot's name, in the envelope, topics (`{bot}`) and session keys.
    #[serde(deserialize_with = "de::name")]
    pub bot: String,
    /// The bot token. Never logged.
    #[serde(deserialize_with = "de::secret")]
    pub token: Secret,
    /// Gateway intents: names (`GUILDS`, `GUILD_MESSAGES`, `MESSAGE_CONTENT`, ... or
    /// `NON_PRIVILEGED`, `ALL`) or numbers.
    #[serde(deserialize_with = "de::intents")]
    pub intents: Intents,
    /// The gateway URL (`wss://gateway.discord.gg`); `None` uses the URL from
    /// `GET /gateway/bot`.
    pub gateway_url: Option<String>,
    /// The total shard count; `None` uses the count recommended by `GET /gateway/bot`.
    #[serde(deserialize_with = "de::shard_count")]
    pub shards: Option<u32>,
    /// The shards this node runs (`None`: all of them).
    pub shard_range: Option<ShardRange>,
    /// A profile (`default` or `bytebot`); [`GatewayConfig::effective`] applies it.
    pub profile: Profile,
    /// What is published (`envelope` or `raw`).
    pub payload: PayloadMode,
    /// Only these events are published (empty: all); names in upper case.
    #[serde(deserialize_with = "de::event_names")]
    pub events: HashSet<String>,
    /// These events are never published (applied after `events`).
    #[serde(deserialize_with = "de::event_names")]
    pub drop_events: HashSet<String>,
    /// Skip MESSAGE_CREATE events authored by the bot itself.
    pub skip_own_messages: bool,
    /// The inbound topic template.
    #[serde(deserialize_with = "de::template")]
    pub topic_template: TopicTemplate,
    /// Events queued per shard between the shard and the broker.
    #[serde(deserialize_with = "de::at_least_one")]
    pub queue_capacity: usize,
    /// How long the queue may stay full before the shard is closed (resumably) until it
    /// drains, so that Discord holds the backlog.
    #[serde(rename = "full_bound_ms", deserialize_with = "de::millis")]
    pub full_bound: Duration,
    /// One IDENTIFY per `max_concurrency` bucket per this window (Discord: 5 s).
    #[serde(rename = "identify_window_ms", deserialize_with = "de::millis")]
    pub identify_window: Duration,
    /// How often sessions are saved (default 10 ms); a save covers only what the broker
    /// confirmed, so this bounds what Discord replays after a crash (durable brokers drop the
    /// repeats by id). Each busy shard costs one write per interval (BENCHMARKS.md).
    #[serde(
        rename = "session_save_ms",
        deserialize_with = "de::millis_at_least_one"
    )]
    pub session_save_interval: Duration,
    /// `large_threshold` sent with IDENTIFY (50 to 250).
    #[serde(skip)]
    pub large_threshold: u64,
    /// Whether outbound messages are read and sent to Discord at all.
    pub outbound: bool,
    /// The pattern outbound messages are read from.
    #[serde(deserialize_with = "de::pattern")]
    pub outbound_pattern: String,
    /// Routes general outbound requests may use (groups or `[METHOD ]/path/*` patterns).
    #[serde(deserialize_with = "de::routes")]
    pub allowed_routes: RouteAllowlist,
    /// Outbound workers (messages of one channel always go to the same one, in order).
    #[serde(deserialize_with = "de::count_at_least_one")]
    pub outbound_workers: usize,
    /// Where `reply_to` topics must lie (`{reply_prefix}.…`); anything else is refused, so
    /// that nobody makes the gateway publish Discord's answer on an inbound or control topic.
    #[serde(rename = "reply_prefix", deserialize_with = "de::replies")]
    pub replies: ReplyNamespace,
    /// Gateway commands waiting per shard; beyond it a command is refused with when to
    /// retry, so that Discord never closes a shard for sending too many.
    #[serde(deserialize_with = "de::at_least_one")]
    pub command_queue: usize,
    /// How long a forwarded command may wait for its shard's holder to take it before the
    /// requester hears that no process holds the shard.
    #[serde(skip)]
    pub command_ack_timeout: Duration,
    /// On a durable broker, how old a message or REST request may be when a gateway reads
    /// it (published while none ran); older ones are reported as expired, not sent.
    #[serde(rename = "outbound_max_age_ms", deserialize_with = "de::millis")]
    pub message_max_age: Duration,
    /// How old a gateway command may be when its shard sends it; older ones are reported
    /// as expired, not sent (a voice join a minute late is a bug).
    #[serde(rename = "command_max_age_ms", deserialize_with = "de::millis")]
    pub command_max_age: Duration,
    /// The per-shard cache (`[gateway.cache]`), off by default; on, update and delete events
    /// carry the previous state in the envelope's `old`.
    pub cache: CacheConfig,
}

impl Default for GatewayConfig {
    /// The bot `switchyard` without a token: the Bytebot topic scheme, every event in the
    /// envelope, non-privileged intents plus MESSAGE_CONTENT.
    fn default() -> Self {
        GatewayConfig {
            bot: "switchyard".into(),
            token: Secret::new(""),
            intents: (Intents::all() - crate::close::privileged()) | Intents::MESSAGE_CONTENT,
            gateway_url: None,
            shards: None,
            shard_range: None,
            profile: Profile::Default,
            payload: PayloadMode::Envelope,
            events: HashSet::new(),
            drop_events: HashSet::new(),
            skip_own_messages: false,
            topic_template: TopicTemplate::default(),
            queue_capacity: 4096,
            full_bound: Duration::from_secs(5),
            identify_window: Duration::from_secs(5),
            session_save_interval: DEFAULT_SESSION_SAVE_INTERVAL,
            large_threshold: 50,
            outbound: true,
            outbound_pattern: "outbound.discord.>".into(),
            allowed_routes: RouteAllowlist::default(),
            outbound_workers: 8,
            replies: ReplyNamespace::default(),
            command_queue: 100,
            command_ack_timeout: Duration::from_secs(5),
            message_max_age: Duration::from_secs(600),
            command_max_age: DEFAULT_COMMAND_MAX_AGE,
            cache: CacheConfig::default(),
        }
    }
}

impl GatewayConfig {
    /// The defaults for `bot` with `token`.
    pub fn new(bot: impl Into<String>, token: Secret) -> Self {
        GatewayConfig {
            bot: bot.into(),
            token,
            ..GatewayConfig::default()
        }
    }

    /// The configuration with its profile applied: Bytebot forces MESSAGE_CREATE only, raw
    /// payloads and skipping the bot's own messages.
    pub fn effective(&self) -> GatewayConfig {
        let mut out = self.clone();
        if self.profile == Profile::Bytebot {
            out.payload = PayloadMode::Raw;
            out.events = HashSet::from(["MESSAGE_CREATE".to_owned()]);
            out.skip_own_messages = true;
        }
        out
    }

    /// Whether `event` is published: in `events` (or `events` is empty) and not in
    /// `drop_events`.
    pub fn publishes(&self, event: &str) -> bool {
        (self.events.is_empty() || self.events.contains(event)) && !self.drop_events.contains(event)
    }
}

/// An intent name that is neither one of Discord's nor a number of known intent bits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown intent {name:?}; known: {known}", known = known_intents())]
pub struct UnknownIntent {
    /// The name as given.
    pub name: String,
}

fn known_intents() -> String {
    let known: Vec<&str> = Intents::all().iter_names().map(|(n, _)| n).collect();
    known.join(", ")
}

/// Parses intent names (`GUILD_MESSAGES`, case-insensitive) or numbers into [`Intents`].
pub fn parse_intents<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Intents, UnknownIntent> {
    let mut intents = Intents::empty();
    for name in names {
        let upper = name.trim().to_ascii_uppercase();
        let flag = match upper.as_str() {
            "ALL" => Some(Intents::all()),
            "NON_PRIVILEGED" => Some(Intents::all() - crate::close::privileged()),
            _ => Intents::from_name(&upper)
                .or_else(|| upper.parse::<u64>().ok().and_then(Intents::from_bits)),
        };
        match flag {
            Some(f) => intents |= f,
            None => {
                return Err(UnknownIntent {
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(intents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytebot_profile_and_intents() {
        let mut c = GatewayConfig::new("b", Secret::new("t"));
        c.profile = Profile::Bytebot;
        let e = c.effective();
        assert_eq!(e.payload, PayloadMode::Raw);
        assert!(e.publishes("MESSAGE_CREATE"));
        assert!(!e.publishes("TYPING_START"));
        assert!(e.skip_own_messages);
        let i = parse_intents(["guilds", "MESSAGE_CONTENT", "512"]).expect("valid");
        assert_eq!(
            i,
            Intents::GUILDS | Intents::MESSAGE_CONTENT | Intents::GUILD_MESSAGES
        );
        assert!(parse_intents(["GUILD_MESAGES"]).is_err());
    }
}
