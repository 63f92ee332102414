//! What a saved session is and where it is kept: the [`SessionStore`] trait that the file and
//! key-value stores implement (sessions, and beside each the snapshot of the shard's cache),
//! its record and its errors, and the key of a shard's session.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A saved session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// Discord's session id.
    pub session_id: String,
    /// The last sequence handed to the broker.
    pub seq: u64,
    /// `resume_gateway_url` from READY.
    pub resume_url: String,
    /// In a shard pool, the epoch of the grant under which it was saved: a store holding a
    /// higher one refuses the save (it comes from a node that lost the shard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
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
    /// The store holds the session of a later grant of the shard.
    #[error("session {key}: refused the save of epoch {ours}: epoch {theirs} holds the shard now")]
    Stale {
        /// The session's key.
        key: String,
        /// The epoch of the save refused.
        ours: u64,
        /// The epoch stored.
        theirs: u64,
    },
}

/// Where sessions are kept.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The session saved under `key`, if any.
    async fn load(&self, key: &str) -> Result<Option<SavedSession>, SessionStoreError>;
    /// Saves `session` under `key`.
    async fn save(&self, key: &str, session: &SavedSession) -> Result<(), SessionStoreError>;
    /// Saves each `(key, session)` of one round; the results come in the same order. One
    /// after the other unless the store can do better.
    async fn save_all(
        &self,
        batch: &[(String, SavedSession)],
    ) -> Vec<Result<(), SessionStoreError>> {
        let mut out = Vec::with_capacity(batch.len());
        for (key, session) in batch {
            out.push(self.save(key, session).await);
        }
        out
    }
    /// Forgets `key`.
    async fn remove(&self, key: &str) -> Result<(), SessionStoreError>;
    /// The snapshot of the shard's cache saved beside the session `key`, if any.
    async fn load_cache(&self, key: &str) -> Result<Option<Vec<u8>>, SessionStoreError>;
    /// Saves a snapshot of the shard's cache beside the session `key`, replacing the last
    /// one only once it is whole: a crash while saving leaves the last one readable.
    async fn save_cache(&self, key: &str, snapshot: Vec<u8>) -> Result<(), SessionStoreError>;
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
