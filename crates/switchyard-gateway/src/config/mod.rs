//! The gateway's settings, as plain structs with Discord-like defaults (the binary reads them
//! from its `[gateway]` section and validates them there).

use std::collections::HashSet;
use std::time::Duration;

use switchyard_core::TopicTemplate;
use switchyard_core::outbound::ReplyNamespace;
use twilight_gateway::Intents;

use crate::routes::RouteAllowlist;
use crate::secret::Secret;

/// What is published for each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadMode {
    /// The envelope (`{v, id, s, t, seq, shard, bot, received_ms, d}`), the default.
    #[default]
    Envelope,
    /// The raw `d` object alone, as Bytebot published it.
    Raw,
}

/// A named set of defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Every dispatch the intents allow, in the envelope.
    #[default]
    Default,
    /// Bytebot's gateway: only MESSAGE_CREATE, the raw message object, the bot's own messages
    /// skipped; outbound JSON strings are sent as text (as in every profile).
    Bytebot,
}

/// Which events are published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only these events (empty: every event).
    pub allow: HashSet<String>,
    /// Never these events (applied after `allow`).
    pub deny: HashSet<String>,
}

impl EventFilter {
    /// Whether `event` is published.
    pub fn passes(&self, event: &str) -> bool {
        (self.allow.is_empty() || self.allow.contains(event)) && !self.deny.contains(event)
    }
}

/// How often sessions are saved unless configured: every few milliseconds, as cheap as every
/// 200 ms on the file store (BENCHMARKS.md).
pub const DEFAULT_SESSION_SAVE_INTERVAL: Duration = Duration::from_millis(10);

/// Discord's dispatch event names, for checking the names given to [`EventFilter`]: every
/// name twilight-model 0.18 knows, plus newer ones it does not.
pub const KNOWN_EVENTS: &[&str] = &[
    "APPLICATION_COMMAND_PERMISSIONS_UPDATE",
    "AUTO_MODERATION_ACTION_EXECUTION",
    "AUTO_MODERATION_RULE_CREATE",
    "AUTO_MODERATION_RULE_DELETE",
    "AUTO_MODERATION_RULE_UPDATE",
    "CHANNEL_CREATE",
    "CHANNEL_DELETE",
    "CHANNEL_PINS_UPDATE",
    "CHANNEL_UPDATE",
    "ENTITLEMENT_CREATE",
    "ENTITLEMENT_DELETE",
    "ENTITLEMENT_UPDATE",
    "GUILD_AUDIT_LOG_ENTRY_CREATE",
    "GUILD_BAN_ADD",
    "GUILD_BAN_REMOVE",
    "GUILD_CREATE",
    "GUILD_DELETE",
    "GUILD_EMOJIS_UPDATE",
    "GUILD_INTEGRATIONS_UPDATE",
    "GUILD_MEMBER_ADD",
    "GUILD_MEMBER_REMOVE",
    "GUILD_MEMBER_UPDATE",
    "GUILD_MEMBERS_CHUNK",
    "GUILD_ROLE_CREATE",
    "GUILD_ROLE_DELETE",
    "GUILD_ROLE_UPDATE",
    "GUILD_SCHEDULED_EVENT_CREATE",
    "GUILD_SCHEDULED_EVENT_DELETE",
    "GUILD_SCHEDULED_EVENT_UPDATE",
    "GUILD_SCHEDULED_EVENT_USER_ADD",
    "GUILD_SCHEDULED_EVENT_USER_REMOVE",
    "GUILD_SOUNDBOARD_SOUND_CREATE",
    "GUILD_SOUNDBOARD_SOUND_DELETE",
    "GUILD_SOUNDBOARD_SOUND_UPDATE",
    "GUILD_SOUNDBOARD_SOUNDS_UPDATE",
    "GUILD_STICKERS_UPDATE",
    "GUILD_UPDATE",
    "INTEGRATION_CREATE",
    "INTEGRATION_DELETE",
    "INTEGRATION_UPDATE",
    "INTERACTION_CREATE",
    "INVITE_CREATE",
    "INVITE_DELETE",
    "MESSAGE_CREATE",
    "MESSAGE_DELETE",
    "MESSAGE_DELETE_BULK",
    "MESSAGE_POLL_VOTE_ADD",
    "MESSAGE_POLL_VOTE_REMOVE",
    "MESSAGE_REACTION_ADD",
    "MESSAGE_REACTION_REMOVE",
    "MESSAGE_REACTION_REMOVE_ALL",
    "MESSAGE_REACTION_REMOVE_EMOJI",
    "MESSAGE_UPDATE",
    "PRESENCE_UPDATE",
    "RATE_LIMITED",
    "READY",
    "RESUMED",
    "SOUNDBOARD_SOUNDS",
    "STAGE_INSTANCE_CREATE",
    "STAGE_INSTANCE_DELETE",
    "STAGE_INSTANCE_UPDATE",
    "SUBSCRIPTION_CREATE",
    "SUBSCRIPTION_DELETE",
    "SUBSCRIPTION_UPDATE",
    "THREAD_CREATE",
    "THREAD_DELETE",
    "THREAD_LIST_SYNC",
    "THREAD_MEMBER_UPDATE",
    "THREAD_MEMBERS_UPDATE",
    "THREAD_UPDATE",
    "TYPING_START",
    "UNAVAILABLE_GUILD",
    "USER_UPDATE",
    "VOICE_CHANNEL_EFFECT_SEND",
    "VOICE_SERVER_UPDATE",
    "VOICE_STATE_UPDATE",
    "WEBHOOKS_UPDATE",
];

/// An event name given to a filter that Discord is not known to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent {
    /// The name as given.
    pub name: String,
    /// The closest known name, when one is close enough to be a likely typo.
    pub nearest: Option<&'static str>,
}

impl std::fmt::Display for UnknownEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a known Discord event name", self.name)?;
        match self.nearest {
            Some(n) => write!(f, " (did you mean {n}?)"),
            None => Ok(()),
        }
    }
}

/// The names among `names` that are not in `KNOWN_EVENTS` (compared in upper case), each
/// with the nearest known name. Unknown names are not errors: Discord adds events.
pub fn unknown_events<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<UnknownEvent> {
    names
        .into_iter()
        .filter(|n| !KNOWN_EVENTS.contains(&n.trim().to_ascii_uppercase().as_str()))
        .map(|n| {
            let upper = n.trim().to_ascii_uppercase();
            let nearest = KNOWN_EVENTS
                .iter()
                .map(|k| (edit_distance(&upper, k), *k))
                .min()
                .filter(|(d, _)| *d <= 3)
                .map(|(_, k)| k);
            UnknownEvent {
                name: n.to_owned(),
                nearest,
            }
        })
        .collect()
}

/// Levenshtein distance over bytes (event names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Which shards this node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    /// The first shard id.
    pub first: u32,
    /// The last shard id (inclusive).
    pub last: u32,
}

/// How long a command may wait (unsent: in a durable stream while no gateway read it, or in a
/// queue) before it is refused as expired, by default: a voice join a minute late is a bug.
pub const DEFAULT_COMMAND_MAX_AGE: Duration = Duration::from_secs(30);

/// Settings of the outbound path.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Whether outbound messages are read at all.
    pub enabled: bool,
    /// The pattern subscribed to.
    pub pattern: String,
    /// Routes general requests may use.
    pub allowed_routes: RouteAllowlist,
    /// Where `reply_to` topics must lie (default `inbound.rest.…`).
    pub replies: ReplyNamespace,
    /// Workers (messages of one channel always go to the same one, in order).
    pub workers: usize,
    /// Gateway commands waiting per shard; beyond it a command is refused with when to retry.
    pub command_queue: usize,
    /// How long a forwarded command may wait for its shard's holder to take it before the
    /// requester hears that no process holds the shard.
    pub command_ack_timeout: Duration,
    /// On a durable broker, how old a message or REST request may be when a gateway reads
    /// it (published while none ran); older ones are reported as expired, not sent.
    pub message_max_age: Duration,
    /// How old a gateway command may be when its shard sends it; older ones are reported
    /// as expired, not sent (a voice join a minute late is a bug).
    pub command_max_age: Duration,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            enabled: true,
            pattern: "outbound.discord.>".into(),
            allowed_routes: RouteAllowlist::default(),
            replies: ReplyNamespace::default(),
            workers: 8,
            command_queue: 100,
            command_ack_timeout: Duration::from_secs(5),
            message_max_age: Duration::from_secs(600),
            command_max_age: DEFAULT_COMMAND_MAX_AGE,
        }
    }
}

/// Settings of one bot's gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The bot's name, in the envelope, topics (`{bot}`) and session keys.
    pub bot: String,
    /// The bot token.
    pub token: Secret,
    /// Gateway intents.
    pub intents: Intents,
    /// The gateway URL (`wss://gateway.discord.gg`); `None` uses the URL from
    /// `GET /gateway/bot`.
    pub gateway_url: Option<String>,
    /// The total shard count; `None` uses the count recommended by `GET /gateway/bot`.
    pub shards: Option<u32>,
    /// The shards this node runs (`None`: all of them).
    pub shard_range: Option<ShardRange>,
    /// A profile; [`GatewayConfig::effective`] applies it.
    pub profile: Profile,
    /// What is published.
    pub payload: PayloadMode,
    /// Which events are published.
    pub events: EventFilter,
    /// Skip MESSAGE_CREATE events authored by the bot itself.
    pub skip_own_messages: bool,
    /// The inbound topic template.
    pub topic_template: TopicTemplate,
    /// Events queued per shard between the shard and the broker.
    pub queue_capacity: usize,
    /// How long the queue may stay full before the shard is closed (resumably) until it
    /// drains, so that Discord holds the backlog.
    pub full_bound: Duration,
    /// One IDENTIFY per `max_concurrency` bucket per this window (Discord: 5 s).
    pub identify_window: Duration,
    /// How often sessions are saved (default 10 ms); a save covers only what the broker
    /// confirmed, so this bounds what Discord replays after a crash.
    pub session_save_interval: Duration,
    /// `large_threshold` sent with IDENTIFY (50 to 250).
    pub large_threshold: u64,
    /// The outbound path.
    pub outbound: OutboundConfig,
}

impl GatewayConfig {
    /// Defaults for `bot` with `token`: the Bytebot topic scheme, every event in the
    /// envelope, non-privileged intents plus MESSAGE_CONTENT.
    pub fn new(bot: impl Into<String>, token: Secret) -> Self {
        GatewayConfig {
            bot: bot.into(),
            token,
            intents: (Intents::all() - crate::close::privileged()) | Intents::MESSAGE_CONTENT,
            gateway_url: None,
            shards: None,
            shard_range: None,
            profile: Profile::Default,
            payload: PayloadMode::Envelope,
            events: EventFilter::default(),
            skip_own_messages: false,
            topic_template: TopicTemplate::default(),
            queue_capacity: 4096,
            full_bound: Duration::from_secs(5),
            identify_window: Duration::from_secs(5),
            session_save_interval: DEFAULT_SESSION_SAVE_INTERVAL,
            large_threshold: 50,
            outbound: OutboundConfig::default(),
        }
    }

    /// The configuration with its profile applied: Bytebot forces MESSAGE_CREATE only, raw
    /// payloads and skipping the bot's own messages.
    pub fn effective(&self) -> GatewayConfig {
        let mut out = self.clone();
        if self.profile == Profile::Bytebot {
            out.payload = PayloadMode::Raw;
            out.events.allow = HashSet::from(["MESSAGE_CREATE".to_owned()]);
            out.skip_own_messages = true;
        }
        out
    }
}

/// Parses intent names (`GUILD_MESSAGES`, case-insensitive) or numbers into [`Intents`].
pub fn parse_intents<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Intents, String> {
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
                let known: Vec<&str> = Intents::all().iter_names().map(|(n, _)| n).collect();
                return Err(format!(
                    "unknown intent {name:?}; known: {}",
                    known.join(", ")
                ));
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
        assert!(e.events.passes("MESSAGE_CREATE"));
        assert!(!e.events.passes("TYPING_START"));
        assert!(e.skip_own_messages);
        let i = parse_intents(["guilds", "MESSAGE_CONTENT", "512"]).expect("valid");
        assert_eq!(
            i,
            Intents::GUILDS | Intents::MESSAGE_CONTENT | Intents::GUILD_MESSAGES
        );
        assert!(parse_intents(["GUILD_MESAGES"]).is_err());
    }

    #[test]
    fn unknown_event_names_are_reported_with_the_nearest() {
        let unknown = unknown_events([
            "MESSAGE_CREATE",
            "message_update",
            "MESAGE_CRATE",
            "BRAND_NEW_EVENT",
        ]);
        assert_eq!(
            unknown,
            [
                UnknownEvent {
                    name: "MESAGE_CRATE".into(),
                    nearest: Some("MESSAGE_CREATE")
                },
                UnknownEvent {
                    name: "BRAND_NEW_EVENT".into(),
                    nearest: None
                },
            ]
        );
        assert_eq!(
            unknown[0].to_string(),
            "\"MESAGE_CRATE\" is not a known Discord event name (did you mean MESSAGE_CREATE?)"
        );
        assert_eq!(
            unknown_events(["GUILD_MEMBER_CHUNK"])[0].nearest,
            Some("GUILD_MEMBERS_CHUNK")
        );
    }

    #[test]
    fn known_events_agree_with_twilight() {
        use serde::Deserialize as _;
        use serde::de::IntoDeserializer as _;
        use serde::de::value::{Error, StrDeserializer};
        let newer = [
            "GUILD_SOUNDBOARD_SOUND_CREATE",
            "GUILD_SOUNDBOARD_SOUND_DELETE",
            "GUILD_SOUNDBOARD_SOUND_UPDATE",
            "GUILD_SOUNDBOARD_SOUNDS_UPDATE",
            "SOUNDBOARD_SOUNDS",
            "VOICE_CHANNEL_EFFECT_SEND",
        ];
        for name in KNOWN_EVENTS {
            let de: StrDeserializer<'_, Error> = name.into_deserializer();
            let known = twilight_gateway::EventType::deserialize(de)
                .ok()
                .and_then(|t| t.name());
            assert_eq!(known.is_some(), !newer.contains(name), "{name}");
        }
    }
}
