//! Where bucket and global-limit state lives: in this process ([`local`]) or in Redis
//! ([`redis`]), shared by every node. Both implement the same rules:
//!
//! - A route whose bucket is not learned yet lets one request through (the probe); the others
//!   wait until its response headers teach the bucket. A probe is in no log while in flight,
//!   so when another major's response teaches the bucket first, that major's requests still
//!   wait for their own probe's answer.
//! - A learned bucket (per major parameter) and a global limit allow at most `limit` requests in
//!   any interval of `window + margin`, which keeps inside a fixed-window server whatever the
//!   alignment of its windows. The log holds one entry per request: while it is in flight its
//!   time is unknown (it counts as "not before `probe_ttl` from now"); when its response
//!   arrives, the time of the response, which is after Discord counted it. So a slot is reused
//!   only a full window after Discord saw the request that held it, whatever the latency.
//! - A response with `remaining: 0`, or a 429, blocks the bucket (or the global key) until its
//!   reset, plus the margin.
//! - A slot is taken from the global limit and the bucket atomically, or from neither.
//! - What a request costs does not depend on the limits: no sort, no scan of a log, in-flight
//!   requests found by an integer slot id. A log keeps the answered requests of its last two
//!   windows and those in flight, whatever its limit; a route's bucket and the bucket's limits
//!   are kept while one of its logs or blocks can still constrain, then dropped (the local
//!   store's sweep, Redis's TTLs), and a bucket forgotten counts as unknown again.

pub mod local;
pub mod redis;
pub mod shared;
#[cfg(test)]
mod tests;
mod window;

use crate::error::RestError;

/// One request asking for a slot.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// Whose limits: a bot id, a token fingerprint, or `ip`.
    pub scope: &'a str,
    /// The route key.
    pub route: &'a str,
    /// The major parameter.
    pub major: &'a str,
    /// The global key and its rate in ms, or `None` when exempt.
    pub global: Option<(&'a str, u32, u64)>,
    /// Margin in ms.
    pub margin_ms: u64,
    /// How long a probe holds an unknown bucket (and an in-flight request its slot), in ms.
    pub probe_ttl_ms: u64,
    /// This request's slot id, unique within its limiter.
    pub slot: u64,
}

/// The store's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send now; `probe` when this request is the first of an unknown bucket.
    Go {
        /// First request to an unknown bucket.
        probe: bool,
    },
    /// Ask again after `ms`.
    Wait {
        /// Milliseconds to wait.
        ms: u64,
        /// The global limit (not the bucket) is the reason.
        global: bool,
        /// Waiting for another request's headers (an unknown bucket), not for a limit.
        probe: bool,
    },
}

/// What a response taught.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// `X-RateLimit-Bucket`, when present.
    pub bucket: Option<String>,
    /// `X-RateLimit-Limit`.
    pub limit: u32,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// `X-RateLimit-Reset-After` in ms.
    pub reset_after_ms: u64,
    /// On a 429: `retry_after` in ms.
    pub retry_after_ms: Option<u64>,
    /// On a 429: whether it was the global limit.
    pub global: bool,
}

/// A store of limits.
#[derive(Debug, Clone)]
pub enum Store {
    /// In this process.
    Local(std::sync::Arc<local::LocalStore>),
    /// In Redis, with local limits while it is unreachable.
    Redis(shared::SharedStore),
}

impl Store {
    /// Takes a slot or says how long to wait.
    pub async fn acquire(&self, ask: &Ask<'_>) -> Result<Decision, RestError> {
        match self {
            Store::Local(s) => Ok(s.acquire(ask)),
            Store::Redis(s) => Ok(s.acquire(ask).await),
        }
    }

    /// Records what a response taught, and ends the probe of `ask`'s route if any.
    pub async fn observe(&self, ask: &Ask<'_>, seen: &Observed) -> Result<(), RestError> {
        match self {
            Store::Local(s) => {
                s.observe(ask, seen);
                Ok(())
            }
            Store::Redis(s) => {
                s.observe(ask, seen).await;
                Ok(())
            }
        }
    }

    /// Drops state that can no longer matter (in this process; Redis keys expire).
    pub fn sweep(&self) {
        match self {
            Store::Local(s) => s.sweep(),
            Store::Redis(s) => s.mirror().sweep(),
        }
    }
}
