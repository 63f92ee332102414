//! Sessions in the broker crate's key-value store (file, Redis or NATS KV), one entry per
//! shard under `sessions.{key}`; beside each, the snapshot of the shard's cache, in chunks.
//!
//! A snapshot may be megabytes, more than one value may hold (NATS refuses a message above
//! its `max_payload`, 1 MiB by default), so it is cut into chunks of [`CHUNK`] bytes under
//! `caches.{key}.{slot}.{n}`, and `caches.{key}` names the slot (0 or 1) and the chunk
//! count. A save writes the slot the manifest does not name, then the manifest: a crash
//! while saving leaves the last snapshot whole.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::store::{SavedSession, SessionStore, SessionStoreError};

/// The most bytes of a snapshot in one value: half of NATS's default `max_payload`.
pub(crate) const CHUNK: usize = 512 * 1024;

/// `caches.{key}`: where the snapshot is.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    /// The slot holding it.
    slot: u8,
    /// Its chunks.
    chunks: usize,
    /// Its length.
    bytes: usize,
    /// Chunks left in the other slot by the save before.
    stale: usize,
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
        self.read_json(key, &format!("sessions.{key}")).await
    }

    /// A save with an epoch is a compare-and-set over the entry it read: refused when the
    /// entry holds a higher epoch, even if that entry was written in between, and skipped
    /// when it already holds a later sequence of the same session and epoch (a periodic
    /// save racing the final one at a handover must not take the session back). A
    /// compare-and-set that lost a race reads again.
    async fn save(&self, key: &str, session: &SavedSession) -> Result<(), SessionStoreError> {
        let bytes = bytes::Bytes::from(serde_json::to_vec(session).map_err(|e| kv_error(key, e))?);
        let entry_key = format!("sessions.{key}");
        let Some(ours) = session.epoch else {
            return self
                .kv
                .put(&entry_key, bytes, None)
                .await
                .map(|_| ())
                .map_err(|e| kv_error(key, e));
        };
        let mut attempts = 0;
        loop {
            let current = self
                .kv
                .get(&entry_key)
                .await
                .map_err(|e| kv_error(key, e))?;
            let stored = current
                .as_ref()
                .and_then(|e| serde_json::from_slice::<SavedSession>(&e.value).ok());
            if let Some(stored) = &stored {
                match stored.epoch {
                    Some(theirs) if theirs > ours => {
                        return Err(SessionStoreError::Stale {
                            key: key.to_owned(),
                            ours,
                            theirs,
                        });
                    }
                    Some(theirs)
                        if theirs == ours
                            && stored.session_id == session.session_id
                            && stored.seq >= session.seq =>
                    {
                        return Ok(());
                    }
                    _ => {}
                }
            }
            let revision = current.map(|e| e.revision);
            match self
                .kv
                .compare_and_set(&entry_key, revision, bytes.clone(), None)
                .await
            {
                Ok(_) => return Ok(()),
                Err(switchyard_broker::kv::KvError::Conflict { .. }) if attempts < 5 => {
                    attempts += 1;
                }
                Err(e) => return Err(kv_error(key, e)),
            }
        }
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

    async fn load_cache(&self, key: &str) -> Result<Option<Vec<u8>>, SessionStoreError> {
        let Some(manifest) = self.manifest(key).await? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(manifest.bytes);
        for n in 0..manifest.chunks {
            let chunk = format!("caches.{key}.{}.{n}", manifest.slot);
            match self.kv.get(&chunk).await.map_err(|e| kv_error(key, e))? {
                Some(entry) => out.extend_from_slice(&entry.value),
                None => return Err(torn(&chunk, "a chunk is missing")),
            }
        }
        if out.len() != manifest.bytes {
            return Err(torn(
                &format!("caches.{key}"),
                "its chunks are not its length",
            ));
        }
        Ok(Some(out))
    }

    async fn save_cache(&self, key: &str, snapshot: Vec<u8>) -> Result<(), SessionStoreError> {
        let last = self.manifest(key).await.ok().flatten().unwrap_or(Manifest {
            slot: 1,
            ..Manifest::default()
        });
        let slot = 1 - last.slot.min(1);
        let snapshot = bytes::Bytes::from(snapshot);
        let chunks = snapshot.len().div_ceil(CHUNK);
        let puts = (0..chunks).map(|n| {
            let part = snapshot.slice(n * CHUNK..((n + 1) * CHUNK).min(snapshot.len()));
            let chunk = format!("caches.{key}.{slot}.{n}");
            async move { self.kv.put(&chunk, part, None).await }
        });
        for put in futures_util::future::join_all(puts).await {
            put.map_err(|e| kv_error(key, e))?;
        }
        for n in chunks..last.stale {
            self.kv
                .delete(&format!("caches.{key}.{slot}.{n}"))
                .await
                .map_err(|e| kv_error(key, e))?;
        }
        let manifest = Manifest {
            slot,
            chunks,
            bytes: snapshot.len(),
            stale: last.chunks,
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| kv_error(key, e))?;
        self.kv
            .put(&format!("caches.{key}"), bytes.into(), None)
            .await
            .map(|_| ())
            .map_err(|e| kv_error(key, e))
    }
}

impl KvSessionStore {
    async fn manifest(&self, key: &str) -> Result<Option<Manifest>, SessionStoreError> {
        self.read_json(key, &format!("caches.{key}")).await
    }

    /// The JSON value under `full` (the store key of `key`), if any.
    async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        full: &str,
    ) -> Result<Option<T>, SessionStoreError> {
        match self.kv.get(full).await.map_err(|e| kv_error(key, e))? {
            None => Ok(None),
            Some(entry) => serde_json::from_slice(&entry.value)
                .map(Some)
                .map_err(|source| SessionStoreError::Corrupt {
                    path: PathBuf::from(format!("kv:{full}")),
                    source,
                }),
        }
    }
}

fn torn(key: &str, why: &str) -> SessionStoreError {
    SessionStoreError::Io {
        path: PathBuf::from(format!("kv:{key}")),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned()),
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
            epoch: None,
        };
        store.save("b.0.1", &s).await.expect("save");
        assert_eq!(store.load("b.0.1").await.expect("load"), Some(s));
        store.remove("b.0.1").await.expect("remove");
        assert_eq!(store.load("b.0.1").await.expect("load"), None);
    }

    #[tokio::test]
    async fn a_save_from_an_older_epoch_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = switchyard_broker::kv::FileKv::open(&dir.path().join("kv.json")).expect("kv");
        let store = KvSessionStore::new(Arc::new(kv));
        let at = |seq, epoch| SavedSession {
            session_id: "abc".into(),
            seq,
            resume_url: "ws://x".into(),
            epoch: Some(epoch),
        };
        store.save("b.0.1", &at(5, 2)).await.expect("first grant");
        store
            .save("b.0.1", &at(9, 3))
            .await
            .expect("the next grant");
        let refused = store.save("b.0.1", &at(7, 2)).await;
        assert!(
            matches!(
                refused,
                Err(SessionStoreError::Stale {
                    ours: 2,
                    theirs: 3,
                    ..
                })
            ),
            "{refused:?}"
        );
        assert_eq!(store.load("b.0.1").await.expect("load"), Some(at(9, 3)));
        store
            .save("b.0.1", &at(10, 3))
            .await
            .expect("the same grant saves on");
    }

    #[tokio::test]
    async fn a_snapshot_is_cut_into_chunks_and_put_together_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv =
            Arc::new(switchyard_broker::kv::FileKv::open(&dir.path().join("kv.json")).expect("kv"));
        let store = KvSessionStore::new(kv.clone());
        assert_eq!(store.load_cache("b.0.1").await.expect("load"), None);
        let big: Vec<u8> = (0..CHUNK * 2 + 10).map(|i| (i % 251) as u8).collect();
        store.save_cache("b.0.1", big.clone()).await.expect("save");
        assert_eq!(
            store.load_cache("b.0.1").await.expect("load"),
            Some(big.clone())
        );
        // a smaller one goes to the other slot; the first slot's chunks are cleared by the
        // save after
        store
            .save_cache("b.0.1", b"small".to_vec())
            .await
            .expect("save");
        assert_eq!(
            store.load_cache("b.0.1").await.expect("load").as_deref(),
            Some(&b"small"[..])
        );
        store
            .save_cache("b.0.1", b"again".to_vec())
            .await
            .expect("save");
        assert_eq!(
            store.load_cache("b.0.1").await.expect("load").as_deref(),
            Some(&b"again"[..])
        );
        use switchyard_broker::kv::KvStore as _;
        for n in 1..3 {
            let left = kv.get(&format!("caches.b.0.1.0.{n}")).await.expect("get");
            assert!(left.is_none(), "chunk {n} of the big snapshot is gone");
        }
        // a missing chunk is a torn snapshot, not a short one
        kv.delete("caches.b.0.1.0.0").await.expect("delete");
        assert!(store.load_cache("b.0.1").await.is_err());
    }
}
