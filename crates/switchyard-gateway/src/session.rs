//! Shard sessions that survive restarts: session id, sequence and resume URL, saved in batches
//! (every `session_save_interval`) and only up to the last sequence handed to the broker,
//! once the broker has confirmed it holds what was handed ([`Broker::flush`]).
//!
//! The store is a small trait ([`SessionStore`]) with two implementations: one JSON file per
//! shard written atomically ([`FileSessionStore`]), and the broker crate's key-value store
//! (file, Redis, NATS KV) under `sessions.{key}` ([`KvSessionStore`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchyard_broker::{Broker, BrokerError};

use crate::status::ShardStatus;

/// A saved session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// Discord's session id.
    pub session_id: String,
    /// The last sequence handed to the broker.
    pub seq: u64,
    /// `resume_gateway_url` from READY.
    pub resume_url: String,
}

/// Why a session could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// Reading or writing failed.
    #[error("session store {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored session is not valid JSON.
    #[error("session store {path}: corrupt session: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Where sessions are kept.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The session saved under `key`, if any.
    async fn load(&self, key: &str) -> Result<Option<SavedSession>, SessionStoreError>;
    /// Saves `session` under `key`.
    async fn save(&self, key: &str, session: &SavedSession) -> Result<(), SessionStoreError>;
    /// Forgets `key`.
    async fn remove(&self, key: &str) -> Result<(), SessionStoreError>;
}

/// The key of a shard's session: `{bot}.{shard}.{total}` (a session belongs to one shard
/// count).
pub fn session_key(bot: &str, shard: u32, total: u32) -> String {
    let safe: String = bot
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.{shard}.{total}")
}

/// One JSON file per key in a directory.
#[derive(Debug, Clone)]
pub struct FileSessionStore {
    dir: PathBuf,
}

impl FileSessionStore {
    /// A store in `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, SessionStoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| SessionStoreError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(FileSessionStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }
}

#[async_trait]
impl SessionStore for FileSessionStore {
    async fn load(&self, key: &str) -> Result<Option<SavedSession>, SessionStoreError> {
        let path = self.path(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| SessionStoreError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SessionStoreError::Io { path, source }),
        }
    }

    async fn save(&self, key: &str, session: &SavedSession) -> Result<(), SessionStoreError> {
        let path = self.path(key);
        let tmp = self.dir.join(format!(".{key}.tmp"));
        let bytes = serde_json::to_vec(session).map_err(|source| SessionStoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        // Written beside and renamed over, in one trip to the blocking pool.
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || {
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &target)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        written.map_err(|source| SessionStoreError::Io { path, source })
    }

    async fn remove(&self, key: &str) -> Result<(), SessionStoreError> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SessionStoreError::Io { path, source }),
        }
    }
}

/// Sessions in the broker's key-value store, under `sessions.{bot}.{shard}.{total}`.
#[derive(Clone)]
pub struct KvSessionStore {
    kv: Arc<dyn switchyard_broker::kv::KvStore>,
}

impl KvSessionStore {
    /// Sessions in `kv`.
    pub fn new(kv: Arc<dyn switchyard_broker::kv::KvStore>) -> Self {
        KvSessionStore { kv }
    }
}

fn kv_error(key: &str, e: impl std::fmt::Display) -> SessionStoreError {
    SessionStoreError::Io {
        path: PathBuf::from(format!("kv:sessions.{key}")),
        source: std::io::Error::other(e.to_string()),
    }
}

#[async_trait]
impl SessionStore for KvSessionStore {
    async fn load(&self, key: &str) -> Result<Option<SavedSession>, SessionStoreError> {
        let full = format!("sessions.{key}");
        match self.kv.get(&full).await.map_err(|e| kv_error(key, e))? {
            None => Ok(None),
            Some(entry) => serde_json::from_slice(&entry.value)
                .map(Some)
                .map_err(|source| SessionStoreError::Corrupt {
                    path: PathBuf::from(format!("kv:{full}")),
                    source,
                }),
        }
    }

    async fn save(&self, key: &str, session: &SavedSession) -> Result<(), SessionStoreError> {
        let bytes = serde_json::to_vec(session).map_err(|e| kv_error(key, e))?;
        self.kv
            .put(&format!("sessions.{key}"), bytes.into(), None)
            .await
            .map(|_| ())
            .map_err(|e| kv_error(key, e))
    }

    async fn remove(&self, key: &str) -> Result<(), SessionStoreError> {
        self.kv
            .delete(&format!("sessions.{key}"))
            .await
            .map_err(|e| kv_error(key, e))
    }
}

/// The longest wait for the broker to confirm what was handed to it before a save.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Saves each shard's handed-over session whenever it changed, every `interval`, until
/// `stop` fires; then saves once more.
pub(crate) async fn run_saver(
    store: Arc<dyn SessionStore>,
    broker: Arc<dyn Broker>,
    bot: String,
    shards: crate::shards::ShardList,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut saved: std::collections::HashMap<u32, Option<SavedSession>> = Default::default();
    let mut unconfirmed = false;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(interval) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let now: Vec<Arc<ShardStatus>> = shards
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut last: Vec<Option<SavedSession>> = now
            .iter()
            .map(|s| saved.get(&s.id).cloned().flatten())
            .collect();
        match save_changed(&*store, &*broker, &bot, &now, &mut last).await {
            Ok(()) => unconfirmed = false,
            Err(e) => {
                metrics::counter!("switchyard_gateway_session_saves_deferred_total").increment(1);
                if !unconfirmed {
                    tracing::warn!(error = %e, "the broker cannot confirm the events handed to it; sessions are not saved past them until it can (a RESUME after a crash replays from the last save)");
                }
                unconfirmed = true;
            }
        }
        saved = now.iter().map(|s| s.id).zip(last).collect();
        if stopping {
            return;
        }
    }
}

/// Saves the sessions of `shards` that changed since `saved`. The sequences handed to the
/// broker are read first and the broker is flushed before anything is saved, so a saved
/// sequence never covers an event still in a client's buffer. When the broker cannot
/// confirm, nothing is saved and its error is returned: the sessions stay at their last
/// save, and a RESUME replays more rather than skipping what may be lost.
pub(crate) async fn save_changed(
    store: &dyn SessionStore,
    broker: &dyn Broker,
    bot: &str,
    shards: &[Arc<ShardStatus>],
    saved: &mut [Option<SavedSession>],
) -> Result<(), BrokerError> {
    let mut changed = Vec::new();
    for (i, (status, last)) in shards.iter().zip(saved.iter()).enumerate() {
        let handed = status.handed();
        let (current, resume_url) = status.session_and_resume_url();
        // The resume URL known is the current session's: an older session still being
        // handed over waits for the next round (by then the new one is).
        let (Some(session), Some(resume_url)) = (handed.session, resume_url) else {
            continue;
        };
        if current.as_ref() != Some(&session) {
            continue;
        }
        let now = SavedSession {
            session_id: session.to_string(),
            seq: handed.seq,
            resume_url,
        };
        if last.as_ref() != Some(&now) {
            changed.push((i, status, now));
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(FLUSH_TIMEOUT, broker.flush()).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(BrokerError::Disconnected {
                backend: broker.backend(),
                detail: format!("no answer to a flush within {FLUSH_TIMEOUT:?}"),
            });
        }
    }
    for (i, status, now) in changed {
        let key = session_key(bot, status.id, status.total);
        match store.save(&key, &now).await {
            Ok(()) => {
                metrics::counter!("switchyard_gateway_session_saves_total").increment(1);
                saved[i] = Some(now);
            }
            Err(e) => {
                metrics::counter!("switchyard_gateway_session_save_errors_total").increment(1);
                tracing::warn!(error = %e, shard = status.id, "cannot save the shard's session");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_round_trip_and_corruption_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileSessionStore::new(dir.path().join("s")).expect("store");
        let key = session_key("my bot", 1, 4);
        assert_eq!(key, "my_bot.1.4");
        assert_eq!(store.load(&key).await.expect("load"), None);
        let s = SavedSession {
            session_id: "abc".into(),
            seq: 42,
            resume_url: "ws://x".into(),
        };
        store.save(&key, &s).await.expect("save");
        assert_eq!(store.load(&key).await.expect("load"), Some(s));
        std::fs::write(store.dir().join("bad.json"), b"{").expect("write");
        let e = store.load("bad").await.expect_err("corrupt");
        assert!(e.to_string().contains("bad.json"), "{e}");
        store.remove(&key).await.expect("remove");
        assert_eq!(store.load(&key).await.expect("load"), None);
    }

    #[tokio::test]
    async fn kv_store_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = switchyard_broker::kv::FileKv::open(&dir.path().join("kv.json")).expect("kv");
        let store = KvSessionStore::new(Arc::new(kv));
        let s = SavedSession {
            session_id: "abc".into(),
            seq: 7,
            resume_url: "ws://x".into(),
        };
        store.save("b.0.1", &s).await.expect("save");
        assert_eq!(store.load("b.0.1").await.expect("load"), Some(s));
        store.remove("b.0.1").await.expect("remove");
        assert_eq!(store.load("b.0.1").await.expect("load"), None);
    }
}
