//! Typed errors of the REST client and limiter.

use std::time::Duration;

/// Why a request was not answered by Discord. The causes are the errors of the libraries
/// underneath (HTTP client, Redis client), kept as [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// Discord could not be reached: the connection was refused, the name did not resolve, or
    /// TLS failed.
    #[error("upstream unreachable: cannot connect: {source}")]
    Connect {
        /// The HTTP client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Connecting to Discord took longer than the configured `connect_timeout`.
    #[error("upstream unreachable: timed out: {source}")]
    Timeout {
        /// The HTTP client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The exchange with Discord broke off once it had begun: sending the request (or reading
    /// its streamed body) or reading the response failed.
    #[error("upstream unreachable: the exchange broke off: {source}")]
    Interrupted {
        /// The HTTP client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The request could not be built (bad method, path or header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The shared Redis store could not be reached, or failed a command.
    #[error("redis store: {source}")]
    Store {
        /// The Redis client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl RestError {
    /// Whether Discord could not be reached or the exchange with it broke off (the proxy
    /// answers these with a 502).
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            RestError::Connect { .. } | RestError::Timeout { .. } | RestError::Interrupted { .. }
        )
    }

    /// A response body that broke off while it was read.
    pub(crate) fn interrupted(e: hyper::Error) -> Self {
        RestError::Interrupted {
            source: Box::new(e),
        }
    }

    /// The error of the Redis store.
    pub(crate) fn store(e: redis::RedisError) -> Self {
        RestError::Store {
            source: Box::new(e),
        }
    }
}
