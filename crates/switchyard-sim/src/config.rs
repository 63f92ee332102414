//! The sim's configuration: one serde struct (no CLI types) with Discord-like defaults, and
//! every timing in milliseconds so that tests can shrink them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::strip_token_prefix;

/// Every privileged intent: GUILD_MEMBERS, GUILD_PRESENCES and MESSAGE_CONTENT.
pub use switchyard_core::gateway_proto::intents::PRIVILEGED_INTENTS;

/// Configuration of a fake Discord. `Default` gives Discord's own numbers. Its `Debug`
/// redacts the token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Address to bind (loopback by default).
    pub host: IpAddr,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// When set, only this bot token is accepted (with or without the `Bot ` prefix).
    pub token: Option<String>,
    /// Shard count recommended by `GET /gateway/bot`.
    pub shards: u32,
    /// `session_start_limit.max_concurrency`, which also sets the identify buckets.
    pub max_concurrency: u32,
    /// `session_start_limit.total`: identifies allowed per reset period.
    pub session_start_total: u32,
    /// Length of the session-start period in milliseconds (`reset_after`).
    pub session_start_reset_ms: u64,
    /// Largest number of guilds one shard may hold before IDENTIFY gets 4011.
    pub max_guilds_per_shard: usize,
    /// Large-bot sharding: the shard count must be a multiple of this, else 4010 (1: any).
    pub shard_count_multiple: u32,
    /// Privileged intents each bot is approved for (bit mask; all of them by default), unless
    /// [`SimConfig::approved_intents_by_token`] names the bot.
    pub approved_privileged_intents: u64,
    /// Per-bot overrides of [`SimConfig::approved_privileged_intents`], keyed by token (with
    /// or without the `Bot ` prefix): the privileged intents that bot is approved for.
    pub approved_intents_by_token: BTreeMap<String, u64>,
    /// How many dispatches each session keeps for RESUME.
    pub replay_buffer: usize,
    /// Gateway timings.
    pub timings: Timings,
    /// REST rate limits.
    pub rate_limits: RateLimits,
    /// The generated world.
    pub world: WorldConfig,
    /// Payloads at least this long are compressed when IDENTIFY asked for `compress: true`
    /// (and no transport compression is in use).
    pub payload_compression_threshold: usize,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("shards", &self.shards)
            .field("max_concurrency", &self.max_concurrency)
            .field("session_start_total", &self.session_start_total)
            .field("session_start_reset_ms", &self.session_start_reset_ms)
            .field("max_guilds_per_shard", &self.max_guilds_per_shard)
            .field("shard_count_multiple", &self.shard_count_multiple)
            .field(
                "approved_privileged_intents",
                &self.approved_privileged_intents,
            )
            .field(
                "approved_intents_by_token",
                &format_args!("<{} redacted>", self.approved_intents_by_token.len()),
            )
            .field("replay_buffer", &self.replay_buffer)
            .field("timings", &self.timings)
            .field("rate_limits", &self.rate_limits)
            .field("world", &self.world)
            .field(
                "payload_compression_threshold",
                &self.payload_compression_threshold,
            )
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            token: None,
            shards: 1,
            max_concurrency: 1,
            session_start_total: 1000,
            session_start_reset_ms: 86_400_000,
            max_guilds_per_shard: 2500,
            shard_count_multiple: 1,
            approved_privileged_intents: PRIVILEGED_INTENTS,
            approved_intents_by_token: BTreeMap::new(),
            replay_buffer: 2048,
            timings: Timings::default(),
            rate_limits: RateLimits::default(),
            world: WorldConfig::default(),
            payload_compression_threshold: 1024,
        }
    }
}

/// Gateway timings, all in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timings {
    /// `heartbeat_interval` sent in HELLO.
    pub heartbeat_interval_ms: u64,
    /// A connection with no heartbeat for this long is closed with 4009; by default 1.5
    /// intervals plus a little slack, as Discord is lenient.
    pub heartbeat_timeout_ms: u64,
    /// One IDENTIFY per rate-limit bucket per this window (Discord: 5 s).
    pub identify_window_ms: u64,
    /// How long a session stays resumable after an abnormal close or a TCP drop.
    pub resume_window_ms: u64,
    /// The client send limit: at most `send_limit` frames per `send_window_ms`.
    pub send_limit: u32,
    /// Window of the client send limit.
    pub send_window_ms: u64,
    /// After an injected RECONNECT the server closes the socket after this delay.
    pub reconnect_close_delay_ms: u64,
    /// Window in which a second full member request for one guild is rate limited.
    pub member_request_window_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 41_250,
            heartbeat_timeout_ms: 41_250 * 3 / 2 + 5_000,
            identify_window_ms: 5_000,
            resume_window_ms: 180_000,
            send_limit: 120,
            send_window_ms: 60_000,
            reconnect_close_delay_ms: 2_000,
            member_request_window_ms: 30_000,
        }
    }
}

/// One rate limit: `limit` requests per `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length in milliseconds.
    pub window_ms: u64,
}

impl Limit {
    /// The window as a [`Duration`].
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }
}

/// REST rate limits; defaults are close to Discord's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Creating messages, per channel (Discord: 5 per 5 s).
    pub message_create: Limit,
    /// Reactions, per channel (Discord: 1 per 250 ms).
    pub reactions: Limit,
    /// Every other route, per route and major parameter.
    pub default_route: Limit,
    /// The global limit per bot token (Discord: 50/s). Interaction callbacks are exempt.
    pub global_per_token: Limit,
    /// The global limit per IP for requests without a token (Discord: 50/s).
    pub global_per_ip: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            message_create: Limit {
                limit: 5,
                window_ms: 5_000,
            },
            reactions: Limit {
                limit: 1,
                window_ms: 250,
            },
            default_route: Limit {
                limit: 50,
                window_ms: 1_000,
            },
            global_per_token: Limit {
                limit: 50,
                window_ms: 1_000,
            },
            global_per_ip: Limit {
                limit: 50,
                window_ms: 1_000,
            },
        }
    }
}

/// Shape of the seeded world every bot is a member of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldConfig {
    /// Seed of the generator: the same seed gives the same world.
    pub seed: u64,
    /// Number of guilds.
    pub guilds: usize,
    /// Text channels per guild (one voice channel is added on top).
    pub channels_per_guild: usize,
    /// Members per guild (besides the bots).
    pub members_per_guild: usize,
    /// Roles per guild (besides @everyone).
    pub roles_per_guild: usize,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            guilds: 4,
            channels_per_guild: 4,
            members_per_guild: 25,
            roles_per_guild: 3,
        }
    }
}

impl SimConfig {
    /// Approves the bot of `token` for exactly the privileged intents in `mask`, overriding
    /// [`SimConfig::approved_privileged_intents`] for that bot.
    #[must_use]
    pub fn with_approved_intents(mut self, token: impl Into<String>, mask: u64) -> Self {
        self.approved_intents_by_token.insert(token.into(), mask);
        self
    }

    /// The privileged intents the bot of `token` is approved for (the token with or without
    /// its `Bot ` prefix).
    pub fn approved_intents_for(&self, token: &str) -> u64 {
        let token = strip_token_prefix(token);
        self.approved_intents_by_token
            .iter()
            .find(|(k, _)| strip_token_prefix(k) == token)
            .map_or(self.approved_privileged_intents, |(_, mask)| *mask)
    }

    /// A configuration for tests: Discord's defaults with every timing shortened to
    /// milliseconds, and rate limits left as Discord's.
    pub fn fast() -> Self {
        Self {
            timings: Timings {
                heartbeat_interval_ms: 1_000,
                heartbeat_timeout_ms: 3_000,
                identify_window_ms: 50,
                resume_window_ms: 5_000,
                send_limit: 120,
                send_window_ms: 60_000,
                reconnect_close_delay_ms: 100,
                member_request_window_ms: 500,
            },
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token_and_toml_overrides_defaults() {
        let cfg = SimConfig {
            token: Some("sekrit".into()),
            ..SimConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("sekrit"));
        let cfg = SimConfig::default().with_approved_intents("Bot sekrit", 0);
        assert!(!format!("{cfg:?}").contains("sekrit"));
        assert_eq!(cfg.approved_intents_for("sekrit"), 0);
        assert_eq!(cfg.approved_intents_for("other"), PRIVILEGED_INTENTS);
        let parsed: SimConfig =
            toml::from_str("[approved_intents_by_token]\n\"tok\" = 2").expect("toml");
        assert_eq!(parsed.approved_intents_for("Bot tok"), 2);
        let parsed: SimConfig =
            toml::from_str("port = 8765\nshards = 4\n[timings]\nheartbeat_interval_ms = 500")
                .expect("toml");
        assert_eq!(
            (
                parsed.port,
                parsed.shards,
                parsed.timings.heartbeat_interval_ms
            ),
            (8765, 4, 500)
        );
        assert_eq!(parsed.timings.identify_window_ms, 5_000);
        assert!(
            toml::from_str::<SimConfig>("nope = 1").is_err(),
            "unknown keys are refused"
        );
    }
}
