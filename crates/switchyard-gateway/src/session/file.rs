//! Sessions as one small JSON file per shard in a directory, overwritten in place; beside
//! each, the snapshot of the shard's cache (`{key}.cache.json`), replaced whole.
//!
//! A save writes the session's JSON over the start of its file, padded with spaces (which
//! JSON ignores) to the file's length, through a handle kept open. It does not write a new
//! file and rename it over the old one: on ext4 each such rename flushes the new file to disk
//! and frees the old one's blocks (a synchronous discard where the filesystem is mounted with
//! `discard`), which made saving every 10 ms cost the gateway about 13 µs per event at
//! 10,000 events/s over 16 shards (BENCHMARKS.md). A process killed at any moment leaves its
//! last complete write, since the page cache outlives it; a file torn by a power cut is
//! reported when the gateway starts, and that shard identifies afresh.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::store::{SavedSession, SessionStore, SessionStoreError};

/// One JSON file per key in a directory.
#[derive(Debug, Clone)]
pub struct FileSessionStore {
    dir: PathBuf,
    open: Arc<Mutex<HashMap<PathBuf, OpenFile>>>,
}

/// A session file this process writes, and how long it is.
#[derive(Debug)]
struct OpenFile {
    file: File,
    len: u64,
}

impl FileSessionStore {
    /// A store in `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, SessionStoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| SessionStoreError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(FileSessionStore {
            dir,
            open: Arc::default(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn cache_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cache.json"))
    }
}

/// Writes `bytes` over the start of the file at `path`, padded with spaces to its length; the
/// handle is opened once (again when the file was deleted meanwhile) and kept in `open`.
fn overwrite(
    open: &mut HashMap<PathBuf, OpenFile>,
    path: &Path,
    mut bytes: Vec<u8>,
) -> std::io::Result<()> {
    if open.contains_key(path) && !path.exists() {
        open.remove(path);
    }
    let slot = match open.entry(path.to_owned()) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)?;
            let len = file.metadata()?.len();
            v.insert(OpenFile { file, len })
        }
    };
    let len = bytes.len() as u64;
    if len < slot.len {
        bytes.resize(slot.len as usize, b' ');
    }
    slot.file.seek(SeekFrom::Start(0))?;
    slot.file.write_all(&bytes)?;
    slot.len = slot.len.max(len);
    Ok(())
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
        let batch = [(key.to_owned(), session.clone())];
        self.save_all(&batch).await.pop().unwrap_or(Ok(()))
    }

    /// The whole round in one trip to the blocking pool.
    async fn save_all(
        &self,
        batch: &[(String, SavedSession)],
    ) -> Vec<Result<(), SessionStoreError>> {
        let mut jobs = Vec::with_capacity(batch.len());
        let mut results = Vec::with_capacity(batch.len());
        for (i, (key, session)) in batch.iter().enumerate() {
            let path = self.path(key);
            match serde_json::to_vec(session) {
                Ok(bytes) => {
                    jobs.push((i, path, bytes));
                    results.push(Ok(()));
                }
                Err(source) => results.push(Err(SessionStoreError::Corrupt { path, source })),
            }
        }
        let open = self.open.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
            jobs.into_iter()
                .filter_map(
                    |(i, path, bytes)| match overwrite(&mut open, &path, bytes) {
                        Ok(()) => None,
                        Err(source) => {
                            // a handle that failed is opened afresh next time
                            open.remove(&path);
                            Some((i, SessionStoreError::Io { path, source }))
                        }
                    },
                )
                .collect::<Vec<_>>()
        })
        .await;
        match written {
            Ok(failed) => {
                for (i, e) in failed {
                    results[i] = Err(e);
                }
            }
            Err(e) => {
                for (r, (key, _)) in results.iter_mut().zip(batch) {
                    *r = Err(SessionStoreError::Io {
                        path: self.path(key),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
            }
        }
        results
    }

    async fn load_cache(&self, key: &str) -> Result<Option<Vec<u8>>, SessionStoreError> {
        let path = self.cache_path(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SessionStoreError::Io { path, source }),
        }
    }

    /// Written to `{key}.cache.json.tmp`, then renamed over `{key}.cache.json`: a snapshot is
    /// large and saved seldom, so it is replaced whole rather than overwritten in place.
    async fn save_cache(&self, key: &str, snapshot: Vec<u8>) -> Result<(), SessionStoreError> {
        let path = self.cache_path(key);
        let tmp = path.with_extension("json.tmp");
        tokio::task::spawn_blocking(move || {
            std::fs::write(&tmp, &snapshot).map_err(|source| SessionStoreError::Io {
                path: tmp.clone(),
                source,
            })?;
            std::fs::rename(&tmp, &path).map_err(|source| SessionStoreError::Io { path, source })
        })
        .await
        .map_err(|e| SessionStoreError::Io {
            path: self.cache_path(key),
            source: std::io::Error::other(e.to_string()),
        })?
    }

    async fn remove(&self, key: &str) -> Result<(), SessionStoreError> {
        let path = self.path(key);
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&path);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SessionStoreError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::session_key;

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
            epoch: None,
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
    async fn file_store_saves_a_round_at_once_and_names_what_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileSessionStore::new(dir.path().join("s")).expect("store");
        let batch: Vec<(String, SavedSession)> = (0..3)
            .map(|i| {
                let s = SavedSession {
                    session_id: format!("s{i}"),
                    seq: i,
                    resume_url: "ws://x".into(),
                    epoch: None,
                };
                (session_key("bot", i as u32, 3), s)
            })
            .collect();
        assert!(store.save_all(&batch).await.iter().all(Result::is_ok));
        for (key, s) in &batch {
            assert_eq!(store.load(key).await.expect("load").as_ref(), Some(s));
        }
        std::fs::remove_dir_all(store.dir()).expect("rm");
        let failed = store.save_all(&batch[..2]).await;
        assert_eq!(failed.len(), 2);
        for (r, (key, _)) in failed.iter().zip(&batch) {
            let e = r.as_ref().expect_err("no directory");
            assert!(e.to_string().contains(&format!("{key}.json")), "{e}");
        }
    }

    #[tokio::test]
    async fn a_cache_snapshot_is_kept_beside_the_session_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileSessionStore::new(dir.path()).expect("store");
        assert_eq!(store.load_cache("k").await.expect("load"), None);
        store
            .save_cache("k", b"{\"v\":1,\"long\":true}".to_vec())
            .await
            .expect("save");
        store
            .save_cache("k", b"{\"v\":1}".to_vec())
            .await
            .expect("save");
        assert_eq!(
            store.load_cache("k").await.expect("load").as_deref(),
            Some(&b"{\"v\":1}"[..])
        );
        assert!(dir.path().join("k.cache.json").exists());
        assert!(
            !dir.path().join("k.cache.json.tmp").exists(),
            "renamed, not left"
        );
        assert_eq!(store.load("k").await.expect("load"), None, "not a session");
    }

    #[tokio::test]
    async fn a_shorter_session_overwrites_a_longer_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileSessionStore::new(dir.path()).expect("store");
        let long = SavedSession {
            session_id: "a-rather-long-session-id".into(),
            seq: 123_456_789,
            resume_url: "wss://gateway-us-east1-b.discord.gg".into(),
            epoch: None,
        };
        let short = SavedSession {
            session_id: "s".into(),
            seq: 1,
            resume_url: "ws://x".into(),
            epoch: None,
        };
        store.save("k", &long).await.expect("save");
        store.save("k", &short).await.expect("save");
        assert_eq!(store.load("k").await.expect("load"), Some(short.clone()));
        // another process (a restart) reads and overwrites the same file
        let again = FileSessionStore::new(dir.path()).expect("store");
        assert_eq!(again.load("k").await.expect("load"), Some(short.clone()));
        again.save("k", &long).await.expect("save");
        assert_eq!(store.load("k").await.expect("load"), Some(long));
        // a file deleted behind the store's back is written again, not into the void
        std::fs::remove_file(dir.path().join("k.json")).expect("rm");
        store.save("k", &short).await.expect("save");
        assert_eq!(store.load("k").await.expect("load"), Some(short));
    }
}
