//! Connecting to Redis: the first connection with bounded retries and errors that say what to
//! check, reconnection with backoff, and the server's payload limit.

use std::future::Future;
use std::time::Duration;

use redis::aio::{MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, RedisError};

use crate::{BrokerError, BrokerOptions, BrokerUrl, RetryPolicy};

/// What to check when Redis cannot be reached.
/// How long connecting waits for a Redis that is still loading its data before it counts
/// as unreachable.
const LOADING_WAIT: Duration = Duration::from_secs(300);

const HINT: &str = "that redis-server is running and reachable at that host and port, and the TLS setting (rediss://)";

/// One Redis server: the client, its redacted URL for messages, and the connection settings.
pub(crate) struct RedisTarget {
    client: redis::Client,
    /// The redacted URL.
    pub(crate) url: String,
    pub(crate) retry: RetryPolicy,
    response_timeout: Duration,
}

impl RedisTarget {
    /// Checks the URL; connects nothing yet.
    pub(crate) fn new(url: &BrokerUrl, options: &BrokerOptions) -> Result<Self, BrokerError> {
        use redis::IntoConnectionInfo as _;
        let bad = |e: redis::RedisError| {
            BrokerError::Config(format!("{} is not a usable Redis URL: {e}", url.redacted()))
        };
        // TCP_NODELAY: a publish is written at once rather than held while an earlier one is
        // unacknowledged (the `redis` crate leaves Nagle's algorithm on by default).
        let info = url
            .server()
            .into_connection_info()
            .map_err(bad)?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info).map_err(bad)?;
        Ok(RedisTarget {
            client,
            url: url.redacted(),
            retry: options.retry,
            response_timeout: options.response_timeout,
        })
    }

    /// A multiplexed (pipelining) connection; `blocking` ones have no response timeout, for
    /// commands such as `XREADGROUP … BLOCK`.
    pub(crate) async fn multiplexed(
        &self,
        blocking: bool,
    ) -> Result<MultiplexedConnection, RedisError> {
        let timeout = (!blocking).then_some(self.response_timeout);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(timeout);
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// A multiplexed connection to a server that is done loading its data (a restarted Redis
    /// answers `LOADING` to most commands for a while).
    pub(crate) async fn ready(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut conn = self.multiplexed(false).await?;
        let probe: Result<redis::Value, RedisError> = redis::cmd("EXISTS")
            .arg("switchyard:probe")
            .query_async(&mut conn)
            .await;
        match probe {
            Err(e) if is_loading(&e) => Err(e),
            Err(e) if is_connection_error(&e) => Err(e),
            _ => Ok(conn),
        }
    }

    /// A dedicated pub/sub connection.
    pub(crate) async fn pubsub(&self) -> Result<PubSub, RedisError> {
        self.client.get_async_pubsub().await
    }

    /// Runs `attempt` until it succeeds, retrying with backoff up to the policy's limit. An
    /// authentication failure is returned at once, named as such. A server that answers
    /// but is still loading its data (a restarted Redis reading a large append-only file)
    /// is waited for without counting attempts, for up to [`LOADING_WAIT`].
    pub(crate) async fn first<T, F, Fut>(&self, mut attempt: F) -> Result<T, BrokerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let mut done = 0u32;
        let started = tokio::time::Instant::now();
        loop {
            done += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(e) if is_loading(&e) && started.elapsed() < LOADING_WAIT => {
                    done -= 1;
                    tracing::warn!(
                        "Redis at {} is loading its data; waiting for it ({:.0} s so far)",
                        self.url,
                        started.elapsed().as_secs_f64()
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) if is_auth(&e) => {
                    return Err(BrokerError::Auth {
                        url: self.url.clone(),
                        detail: e.to_string(),
                    });
                }
                Err(e) if self.retry.may_retry(done) => {
                    let delay = self.retry.delay(done);
                    tracing::warn!(
                        "cannot reach Redis at {} (attempt {done}): {e}; retrying in {delay:?} (check {HINT})",
                        self.url
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => {
                    return Err(BrokerError::Unreachable {
                        url: self.url.clone(),
                        attempts: done,
                        detail: e.to_string(),
                        hint: HINT,
                    });
                }
            }
        }
    }

    /// Runs `attempt` until it succeeds, with backoff and no limit (reconnection after a lost
    /// connection). Gives up only when `give_up` says so (the subscriber went away).
    pub(crate) async fn again<T, F, Fut>(
        &self,
        what: &str,
        mut attempt: F,
        give_up: impl Fn() -> bool,
    ) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let mut done = 0u32;
        loop {
            done += 1;
            tokio::time::sleep(self.retry.delay(done)).await;
            if give_up() {
                return None;
            }
            match attempt().await {
                Ok(value) => {
                    tracing::info!("{what}: reconnected to Redis at {}", self.url);
                    return Some(value);
                }
                Err(e) => tracing::warn!(
                    "{what}: still cannot reach Redis at {} (attempt {done}): {e}",
                    self.url
                ),
            }
        }
    }
}

/// Whether Redis refused our credentials.
pub(crate) fn is_auth(e: &RedisError) -> bool {
    if e.kind() == redis::ErrorKind::AuthenticationFailed {
        return true;
    }
    let text = e.to_string();
    [
        "WRONGPASS",
        "NOAUTH",
        "invalid password",
        "invalid username-password",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Whether the connection is gone (as opposed to the server refusing one command).
pub(crate) fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

/// The server's largest bulk string (`proto-max-bulk-len`), if it tells.
pub(crate) async fn server_max_payload(conn: &mut MultiplexedConnection) -> Option<usize> {
    let reply: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("proto-max-bulk-len")
        .query_async(conn)
        .await
        .ok()?;
    reply.get(1)?.parse().ok()
}

/// A reply's text (a bulk or simple string, or an integer), for stream entries' ids and fields.
pub(super) fn text(value: redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(b) => String::from_utf8(b).ok(),
        redis::Value::SimpleString(s) => Some(s),
        redis::Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A reply's bytes (a bulk or simple string), for stream entries' payloads.
pub(super) fn bytes(value: redis::Value) -> Option<bytes::Bytes> {
    match value {
        redis::Value::BulkString(b) => Some(bytes::Bytes::from(b)),
        redis::Value::SimpleString(s) => Some(bytes::Bytes::from(s)),
        _ => None,
    }
}

/// A stream entry (`[id, [k, v, …]]`, as `XRANGE`, `XREADGROUP` and `XAUTOCLAIM` give it) as
/// its id and its field pairs; `None` for anything else (a deleted entry has no pairs).
pub(super) fn entry_fields(value: redis::Value) -> Option<(String, Vec<(String, redis::Value)>)> {
    let redis::Value::Array(mut parts) = value else {
        return None;
    };
    if parts.len() != 2 {
        return None;
    }
    let fields = parts.pop()?;
    let id = text(parts.pop()?)?;
    let mut pairs = Vec::new();
    if let redis::Value::Array(fields) = fields {
        let mut it = fields.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let Some(k) = text(k) {
                pairs.push((k, v));
            }
        }
    }
    Some((id, pairs))
}

/// Whether Redis answered that it is still loading its data (`LOADING`).
fn is_loading(e: &RedisError) -> bool {
    let text = e.to_string();
    text.contains("LOADING") || text.contains("BusyLoading")
}
