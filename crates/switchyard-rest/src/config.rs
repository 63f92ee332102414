//! The limiter's and client's settings: plain structs with Discord's numbers as defaults.
//! [`RestConfig`] reads a flat TOML table (the binary's `[rest]` section) through a struct of
//! its keys, whose defaults are [`RestConfig::default`]'s: keys and defaults are defined here
//! and nowhere else.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

/// `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed in any window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl Rate {
    /// `limit` per second.
    pub const fn per_second(limit: u32) -> Self {
        Rate {
            limit,
            window: Duration::from_secs(1),
        }
    }
}

/// What happens when a request would have to wait for a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Wait in the bucket's FIFO queue, at most `max_wait`; beyond it, answer a synthetic 429.
    Queue {
        /// The longest a request may wait in total.
        max_wait: Duration,
    },
    /// Never wait for a rate limit: answer a synthetic 429 at once.
    FailFast,
}

/// Settings of a [`crate::Limiter`] and [`crate::RestClient`]. As a table its keys are flat:
/// `upstream`, `global_per_second`, `global_per_bot` (a table of bot user id to requests per
/// second), `ip_per_second`, `mode` (`queue` or `fail_fast`), `max_wait_ms`, `margin_ms`,
/// `max_retries`, `idle_evict_s`, `invalid_warn`, `redis`, `redis_prefix`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RestKeys")]
pub struct RestConfig {
    /// Where requests go: `https://discord.com` (no trailing slash, no `/api`).
    pub upstream: String,
    /// The global limit per bot (Discord: 50/s).
    pub global: Rate,
    /// Per-bot overrides of the global limit, keyed by bot user id (as a string).
    pub global_per_bot: HashMap<String, Rate>,
    /// The global limit for requests without a token (Discord: 50/s per IP). With Redis it
    /// is shared by every node, as if they all used one IP.
    pub global_per_ip: Rate,
    /// Queue or fail fast.
    pub wait: WaitMode,
    /// Added to every window before a slot is reused, to absorb latency jitter between the
    /// moment a slot is taken and the moment Discord counts the request.
    pub margin: Duration,
    /// How many times an upstream 429 is retried before it is passed to the caller.
    pub max_retries: u32,
    /// Bodies up to this size are buffered so that a 429 can be retried; larger ones stream.
    pub replay_limit: usize,
    /// A per-token limiter unused this long is dropped.
    pub idle_evict: Duration,
    /// Invalid responses (401/403/429) per 10 minutes at which the warning metric rises
    /// (Discord bans the IP at 10,000).
    pub invalid_warn: u32,
    /// Redis URL; when set, buckets and global limits are shared by every node using it.
    pub redis: Option<String>,
    /// Prefix of the Redis keys.
    pub redis_prefix: String,
    /// How long an unknown bucket is reserved for its first request (if its owner dies).
    pub probe_ttl: Duration,
    /// Connect timeout towards the upstream.
    pub connect_timeout: Duration,
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            upstream: "https://discord.com".to_owned(),
            global: Rate::per_second(50),
            global_per_bot: HashMap::new(),
            global_per_ip: Rate::per_second(50),
            wait: WaitMode::Queue {
                max_wait: Duration::from_secs(30),
            },
            margin: Duration::from_millis(50),
            max_retries: 3,
            replay_limit: 1024 * 1024,
            idle_evict: Duration::from_secs(600),
            invalid_warn: 5_000,
            redis: None,
            redis_prefix: "switchyard:rest:".to_owned(),
            probe_ttl: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl RestConfig {
    /// Checks what the types alone cannot: the URLs' schemes, limits of at least one.
    /// Messages name the key and never repeat a URL (it may hold a password).
    pub fn check(&self) -> Result<(), InvalidRestConfig> {
        let invalid = |problem: &str| Err(InvalidRestConfig(problem.to_owned()));
        if !(self.upstream.starts_with("http://") || self.upstream.starts_with("https://")) {
            return invalid("upstream must start with http:// or https://");
        }
        if self.global.limit == 0 || self.global_per_ip.limit == 0 {
            return invalid("global_per_second and ip_per_second must be at least 1");
        }
        if let Some((bot, _)) = self.global_per_bot.iter().find(|(_, r)| r.limit == 0) {
            return Err(InvalidRestConfig(format!(
                "global_per_bot.{bot} must be at least 1"
            )));
        }
        if let Some(url) = &self.redis
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return invalid("redis must be a redis:// or rediss:// URL");
        }
        Ok(())
    }
}

/// A [`RestConfig`] that [`RestConfig::check`] refused: what is wrong, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRestConfig(String);

/// What a request that would have to wait does, as the `mode` key says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ModeKey {
    /// Wait in the bucket's queue, at most `max_wait_ms`.
    Queue,
    /// Answer a synthetic 429 at once.
    FailFast,
}

/// The keys of [`RestConfig`] as a flat table; the defaults are [`RestConfig::default`]'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RestKeys {
    /// Where requests go (Discord, or the fake in tests).
    pub upstream: String,
    /// Global limit per bot, requests per second (Discord: 50).
    pub global_per_second: u32,
    /// Per-bot global limits (requests per second), keyed by bot user id.
    pub global_per_bot: HashMap<String, u32>,
    /// Global limit for requests without a token, per second (Discord: 50 per IP).
    pub ip_per_second: u32,
    /// `queue` (default) or `fail_fast`.
    pub mode: ModeKey,
    /// Longest wait in queue mode before a synthetic 429, in milliseconds.
    pub max_wait_ms: u64,
    /// Safety margin added to every window, in milliseconds.
    pub margin_ms: u64,
    /// Upstream 429s retried per request.
    pub max_retries: u32,
    /// Per-token limiters idle this long (seconds) are dropped.
    pub idle_evict_s: u64,
    /// Invalid responses per 10 minutes at which the warning metric rises.
    pub invalid_warn: u32,
    /// Redis URL to share limits across nodes (`redis://host:port`).
    pub redis: Option<String>,
    /// Prefix of the Redis keys.
    pub redis_prefix: String,
}

impl Default for RestKeys {
    fn default() -> Self {
        let c = RestConfig::default();
        let (mode, max_wait) = match c.wait {
            WaitMode::Queue { max_wait } => (ModeKey::Queue, max_wait),
            WaitMode::FailFast => (ModeKey::FailFast, Duration::ZERO),
        };
        let per_second = |r: Rate| r.limit;
        RestKeys {
            upstream: c.upstream,
            global_per_second: per_second(c.global),
            global_per_bot: c
                .global_per_bot
                .into_iter()
                .map(|(k, r)| (k, per_second(r)))
                .collect(),
            ip_per_second: per_second(c.global_per_ip),
            mode,
            max_wait_ms: millis(max_wait),
            margin_ms: millis(c.margin),
            max_retries: c.max_retries,
            idle_evict_s: c.idle_evict.as_secs(),
            invalid_warn: c.invalid_warn,
            redis: c.redis,
            redis_prefix: c.redis_prefix,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TryFrom<RestKeys> for RestConfig {
    type Error = InvalidRestConfig;

    fn try_from(k: RestKeys) -> Result<Self, InvalidRestConfig> {
        let config = RestConfig {
            upstream: k.upstream,
            global: Rate::per_second(k.global_per_second),
            global_per_bot: k
                .global_per_bot
                .into_iter()
                .map(|(bot, limit)| (bot, Rate::per_second(limit)))
                .collect(),
            global_per_ip: Rate::per_second(k.ip_per_second),
            wait: match k.mode {
                ModeKey::Queue => WaitMode::Queue {
                    max_wait: Duration::from_millis(k.max_wait_ms),
                },
                ModeKey::FailFast => WaitMode::FailFast,
            },
            margin: Duration::from_millis(k.margin_ms),
            max_retries: k.max_retries,
            idle_evict: Duration::from_secs(k.idle_evict_s),
            invalid_warn: k.invalid_warn,
            redis: k.redis,
            redis_prefix: k.redis_prefix,
            ..RestConfig::default()
        };
        config.check()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_read_back_as_the_defaults() {
        let read = RestConfig::try_from(RestKeys::default()).expect("valid");
        let d = RestConfig::default();
        assert_eq!(
            (
                read.upstream,
                read.global,
                read.global_per_ip,
                read.wait,
                read.margin
            ),
            (d.upstream, d.global, d.global_per_ip, d.wait, d.margin)
        );
        assert_eq!(
            (
                read.max_retries,
                read.idle_evict,
                read.invalid_warn,
                read.redis_prefix
            ),
            (d.max_retries, d.idle_evict, d.invalid_warn, d.redis_prefix)
        );
    }

    #[test]
    fn checks_name_the_key_and_never_repeat_a_url() {
        let bad = |k: RestKeys| RestConfig::try_from(k).expect_err("invalid").to_string();
        let e = bad(RestKeys {
            upstream: "discord.com".into(),
            ..RestKeys::default()
        });
        assert!(e.contains("upstream"), "{e}");
        let e = bad(RestKeys {
            redis: Some("http://user:sekrit@x".into()),
            ..RestKeys::default()
        });
        assert!(e.contains("redis") && !e.contains("sekrit"), "{e}");
        let e = bad(RestKeys {
            global_per_bot: HashMap::from([("42".to_owned(), 0)]),
            ..RestKeys::default()
        });
        assert!(e.contains("global_per_bot.42"), "{e}");
    }
}
