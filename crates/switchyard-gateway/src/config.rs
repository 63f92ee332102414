//! The gateway's settings, as plain structs with Discord-like defaults (the binary reads them
//! from its `[gateway]` section and validates them there).

use std::collections::HashSet;
use std::time::Duration;

use switchyard_core::TopicTemplate;
use twilight_gateway::Intents;

use crate::outbound::OutboundConfig;
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

/// Which shards this node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    /// The first shard id.
    pub first: u32,
    /// The last shard id (inclusive).
    pub last: u32,
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
    /// How often sessions are saved.
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
            session_save_interval: Duration::from_millis(200),
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
}
