//! Shard sessions that survive restarts: session id, sequence and resume URL, saved in batches
//! (every `session_save_interval`) and only up to the last sequence handed to the broker,
//! once the broker has confirmed it holds what was handed ([`Broker::flush`]).
//!
//! The store is a small trait ([`SessionStore`]) with two implementations: one JSON file per
//! shard ([`file`]), and the broker crate's key-value store (file, Redis, NATS KV) under
//! `sessions.{key}` ([`kv`]).

mod file;
mod kv;

pub use file::FileSessionStore;
pub use kv::KvSessionStore;

use std::path::PathBuf;
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
    let batch: Vec<(String, SavedSession)> = changed
        .iter()
        .map(|(_, status, now)| (session_key(bot, status.id, status.total), now.clone()))
        .collect();
    let results = store.save_all(&batch).await;
    for ((i, status, now), result) in changed.into_iter().zip(results) {
        match result {
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
