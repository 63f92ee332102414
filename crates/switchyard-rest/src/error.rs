//! Typed errors of the REST client and limiter.

use std::time::Duration;

/// Why a request was not answered by Discord.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The request would have waited longer than allowed (or the client fails fast): retry
    /// after `retry_after`. The proxy answers this as a synthetic 429.
    #[error("rate limited by the proxy: retry after {retry_after:?} (global: {global})")]
    RateLimited {
        /// How long until a slot is expected.
        retry_after: Duration,
        /// Whether the global limit (rather than the route's bucket) is the reason.
        global: bool,
    },
    /// Discord answered 401 to this token earlier; it is locked so that it stops spending the
    /// invalid-request budget.
    #[error(
        "this token was rejected by Discord (401 Unauthorized) and is locked by the proxy; fix the token and restart, or call Limiter::unlock"
    )]
    TokenLocked,
    /// The upstream could not be reached or broke the connection.
    #[error("upstream unreachable: {0}")]
    Upstream(#[source] reqwest::Error),
    /// The request could not be built (bad method, path or header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The shared Redis store failed.
    #[error("redis store: {0}")]
    Redis(#[source] redis::RedisError),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
}
