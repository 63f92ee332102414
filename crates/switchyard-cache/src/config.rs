//! What the cache keeps: [`CacheConfig`], the `[gateway.cache]` table.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// How often a shard's cache is saved beside its session unless configured (docs/cache.md,
/// "Surviving a restart", weighs it).
pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(2);

/// What the cache keeps. Off unless `enabled`; then every resource below is kept unless
/// turned off, and the last `messages` messages of each channel (0 keeps none).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Whether the gateway keeps a cache at all.
    pub enabled: bool,
    /// Guilds (their own fields).
    pub guilds: bool,
    /// Channels and threads.
    pub channels: bool,
    /// Roles.
    pub roles: bool,
    /// Members, and their users.
    pub members: bool,
    /// Each guild's emojis.
    pub emojis: bool,
    /// Each guild's stickers.
    pub stickers: bool,
    /// Members' presences (with the GUILD_PRESENCES intent).
    pub presences: bool,
    /// Voice states.
    pub voice_states: bool,
    /// Stage instances.
    pub stage_instances: bool,
    /// Scheduled events.
    pub scheduled_events: bool,
    /// Messages kept per channel, newest last (0: none).
    pub messages: usize,
    /// Ask for every member of each guild whose GUILD_CREATE carried only some (large
    /// guilds: op 8, within the shard's command budget; needs the GUILD_MEMBERS intent).
    pub request_members: bool,
    /// How often each shard's cache is saved beside its session
    /// (`snapshot_interval_ms`, at least 1), so that a shard restarted after a crash resumes
    /// its session with the cache it had; the events since the snapshot are replayed by
    /// Discord on RESUME.
    #[serde(rename = "snapshot_interval_ms", deserialize_with = "millis")]
    pub snapshot_interval: Duration,
}

fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ms = u64::deserialize(d)?;
    if ms == 0 {
        return Err(serde::de::Error::custom(
            "must be at least 1 (milliseconds)",
        ));
    }
    Ok(Duration::from_millis(ms))
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            guilds: true,
            channels: true,
            roles: true,
            members: true,
            emojis: true,
            stickers: true,
            presences: true,
            voice_states: true,
            stage_instances: true,
            scheduled_events: true,
            messages: 50,
            request_members: false,
            snapshot_interval: DEFAULT_SNAPSHOT_INTERVAL,
        }
    }
}

impl CacheConfig {
    /// A cache that keeps everything, with the default message count.
    pub fn all() -> Self {
        CacheConfig {
            enabled: true,
            ..CacheConfig::default()
        }
    }
}
