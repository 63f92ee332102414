//! [`FileKv`]: the key-value store of the embedded broker, one JSON file rewritten atomically
//! (write a temporary file, then rename) on every change. For one process: two processes
//! sharing the file would overwrite each other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{KvEntry, KvError, KvStore, check_key, deadline, expired};

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The last revision handed out.
    revision: u64,
    entries: BTreeMap<String, Record>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    value: Vec<u8>,
    revision: u64,
    /// Milliseconds since the epoch; 0 for never.
    expires: u64,
}

/// A key-value store in one file.
#[derive(Debug)]
pub struct FileKv {
    path: PathBuf,
    state: Mutex<State>,
}

impl FileKv {
    /// Opens (or starts) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, KvError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| file_error(path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(file_error(path, e)),
        };
        Ok(FileKv {
            path: path.to_owned(),
            state: Mutex::new(state),
        })
    }

    fn save(&self, state: &State) -> Result<(), KvError> {
        let bytes = serde_json::to_vec(state).map_err(|e| file_error(&self.path, e))?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|e| file_error(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| file_error(&self.path, e))
    }

    fn live<'s>(state: &'s State, key: &str) -> Option<&'s Record> {
        state.entries.get(key).filter(|r| !expired(r.expires))
    }

    fn write(
        &self,
        state: &mut State,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        state.revision += 1;
        let revision = state.revision;
        state.entries.insert(
            key.to_owned(),
            Record {
                value: value.to_vec(),
                revision,
                expires: deadline(ttl),
            },
        );
        state.entries.retain(|_, r| !expired(r.expires));
        self.save(state)?;
        Ok(revision)
    }
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> KvError {
    KvError::File {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

#[async_trait]
impl KvStore for FileKv {
    fn backend(&self) -> &'static str {
        "file"
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        check_key(key)?;
        let state = self.state.lock().await;
        Ok(Self::live(&state, key).map(|r| KvEntry {
            value: Bytes::from(r.value.clone()),
            revision: r.revision,
        }))
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<u64, KvError> {
        check_key(key)?;
        let mut state = self.state.lock().await;
        self.write(&mut state, key, value, ttl)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        check_key(key)?;
        let mut state = self.state.lock().await;
        let found = Self::live(&state, key).map(|r| r.revision);
        if found != expected {
            return Err(KvError::conflict(key, expected, found));
        }
        self.write(&mut state, key, value, ttl)
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        let mut state = self.state.lock().await;
        if state.entries.remove(key).is_some() {
            self.save(&state)?;
        }
        Ok(())
    }
}
