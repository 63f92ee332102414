//! Sessions in the broker crate's key-value store (file, Redis or NATS KV), one entry per
//! shard under `sessions.{key}`.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::store::{SavedSession, SessionStore, SessionStoreError};

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

    /// The puts of a round are sent concurrently: their round trips overlap rather than
    /// add up.
    async fn save_all(
        &self,
        batch: &[(String, SavedSession)],
    ) -> Vec<Result<(), SessionStoreError>> {
        futures_util::future::join_all(batch.iter().map(|(key, session)| self.save(key, session)))
            .await
    }

    async fn remove(&self, key: &str) -> Result<(), SessionStoreError> {
        self.kv
            .delete(&format!("sessions.{key}"))
            .await
            .map_err(|e| kv_error(key, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
