//! The limiter's and client's settings (plain structs; the binary reads them from `[rest]`).

use std::collections::HashMap;
use std::time::Duration;

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

/// Settings of a [`crate::Limiter`] and [`crate::RestClient`].
#[derive(Debug, Clone)]
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
