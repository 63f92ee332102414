//! A small key-value store beside the broker, for shard sessions and leases: the same
//! [`KvStore`] trait over a file ([`FileKv`], for the embedded broker), Redis ([`RedisKv`])
//! and NATS KV ([`NatsKv`]), with compare-and-set on revisions and per-key expiry.
//!
//! Revisions only grow: a key deleted and written again never gets back an old revision, so
//! a compare-and-set on a stale revision always fails. Expiry is exact on Redis (the server
//! expires the key); on the file and NATS KV an expired entry is treated as absent by every
//! call, judged by the local clock (NATS 2.9 has no per-key TTL).
//!
//! ```no_run
//! # async fn lease(kv: &dyn switchyard_broker::kv::KvStore) -> Result<(), switchyard_broker::kv::KvError> {
//! use std::time::Duration;
//! // Take the lease only if nobody holds it; it lapses after 10 s unless renewed.
//! let rev = kv.compare_and_set("lease.shard.0", None, "node-a".into(), Some(Duration::from_secs(10))).await?;
//! // Renew it only if it is still ours.
//! kv.compare_and_set("lease.shard.0", Some(rev), "node-a".into(), Some(Duration::from_secs(10))).await?;
//! # Ok(()) }
//! ```

mod file;
mod nats;
mod redis;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;

pub use file::FileKv;
pub use nats::NatsKv;
pub use redis::RedisKv;

use crate::url::BackendKind;
use crate::{BrokerError, BrokerOptions, BrokerUrl};

/// A stored value and its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    /// The value.
    pub value: Bytes,
    /// Its revision, for [`KvStore::compare_and_set`].
    pub revision: u64,
}

/// Why a key-value call failed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// Compare-and-set found another revision (or a value where none was expected).
    #[error("compare-and-set on {key:?} failed: expected {expected}, found {found}")]
    Conflict {
        /// The key.
        key: String,
        /// What the caller expected.
        expected: String,
        /// What is there.
        found: String,
    },
    /// The key cannot be stored on every backend.
    #[error(
        "invalid key {0:?}: use letters, digits and `-_=/.` (no leading, trailing or double dots)"
    )]
    InvalidKey(String),
    /// Connecting or talking to the backend failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The file store could not be read or written.
    #[error("key-value file {path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

impl KvError {
    pub(crate) fn conflict(key: &str, expected: Option<u64>, found: Option<u64>) -> Self {
        let show =
            |r: Option<u64>| r.map_or_else(|| "no value".to_owned(), |r| format!("revision {r}"));
        KvError::Conflict {
            key: key.to_owned(),
            expected: show(expected),
            found: show(found),
        }
    }
}

/// A small shared key-value store with compare-and-set and expiry.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The backend's name: `file`, `redis` or `nats`.
    fn backend(&self) -> &'static str;

    /// The live (unexpired) entry of `key`.
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError>;

    /// Writes `value` whatever is there; it expires after `ttl` if given. Returns the new
    /// revision.
    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<u64, KvError>;

    /// Writes `value` only if the live entry's revision is `expected` (`None`: only if there
    /// is no live entry). Returns the new revision, or [`KvError::Conflict`].
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError>;

    /// Removes `key` (nothing happens if it is absent).
    async fn delete(&self, key: &str) -> Result<(), KvError>;
}

/// Opens the store that goes with a broker URL: a file at `file` for `embedded`, Redis keys
/// under `{name}:kv:` for `redis://`, the NATS KV bucket `{name}` for `nats://` (`name` is
/// the durable name, `switchyard` by default).
pub async fn open(
    url: &str,
    options: &BrokerOptions,
    file: &Path,
) -> Result<Arc<dyn KvStore>, KvError> {
    let url = BrokerUrl::parse(url)?;
    let mut options = options.clone();
    options.durable.apply_url(&url)?;
    Ok(match url.kind() {
        // ZeroMQ carries messages only: sessions stay in a file, as beside the embedded broker.
        BackendKind::Embedded | BackendKind::Zmq => Arc::new(FileKv::open(file)?),
        BackendKind::Redis => Arc::new(RedisKv::connect(&url, &options).await?),
        BackendKind::Nats => Arc::new(NatsKv::connect(&url, &options).await?),
    })
}

/// Checks a key against the rules every backend accepts (those of NATS KV).
pub(crate) fn check_key(key: &str) -> Result<(), KvError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'/' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(KvError::InvalidKey(key.to_owned()))
    }
}

/// Milliseconds since the Unix epoch, by the local clock.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The deadline of a TTL (0: never).
pub(crate) fn deadline(ttl: Option<Duration>) -> u64 {
    ttl.map_or(0, |t| {
        now_ms().saturating_add(u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1))
    })
}

/// Whether a deadline has passed.
pub(crate) fn expired(deadline: u64) -> bool {
    deadline != 0 && now_ms() >= deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_strictest_backend() {
        for good in ["session.0", "lease/shard-1", "a=b_c"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", ".a", "a.", "a..b", "a b", "a*", "ä"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
