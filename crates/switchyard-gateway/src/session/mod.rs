//! Shard sessions that survive restarts: session id, sequence and resume URL, saved in batches
//! (every `session_save_interval`) and only up to the last sequence handed to the broker,
//! once the broker has confirmed it holds what was handed ([`Broker::flush`]).
//!
//! The store is a small trait ([`SessionStore`]) with two implementations: one JSON file per
//! shard ([`file`]), and the broker crate's key-value store (file, Redis, NATS KV) under
//! `sessions.{key}` ([`kv`]). Beside each session it keeps the snapshot of the shard's cache
//! ([`snapshot`]).

mod file;
mod kv;
pub(crate) mod snapshot;
mod store;

pub use file::FileSessionStore;
pub use kv::KvSessionStore;
pub use store::{SavedSession, SessionStore, SessionStoreError, session_key};

use std::sync::Arc;
use std::time::Duration;

use switchyard_broker::{Broker, BrokerError};

use crate::status::ShardStatus;

/// The longest wait for the broker to confirm what was handed to it before a save.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Saves each shard's handed-over session whenever it changed, every `interval`, until
/// `stop` fires; then saves once more. Each pass takes the cache snapshots that are due
/// before the sessions are saved, and saves those the saved sessions cover after (see
/// [`snapshot`]).
pub(crate) async fn run_saver(
    store: Arc<dyn SessionStore>,
    broker: Arc<dyn Broker>,
    bot: String,
    shards: crate::status::ShardList,
    interval: Duration,
    mut snapshots: snapshot::Snapshots,
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
        snapshots.take_due(&now, stopping).await;
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
        let covering = |id: u32| {
            let session = saved.get(&id)?.as_ref()?;
            Some((session.session_id.clone(), session.seq))
        };
        snapshots.save_covered(&*store, &bot, &now, covering).await;
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
        // The resume URL known is the current session's: an older session still being
        // handed over waits for the next round (by then the new one is).
        let Some((session, seq, resume_url)) = status.record().saveable() else {
            continue;
        };
        // A shard whose grant lapsed may run elsewhere now: its session is that node's.
        let fence = status.fence();
        if fence.lapsed() || fence.is_lost() {
            continue;
        }
        let now = SavedSession {
            session_id: session.to_string(),
            seq,
            resume_url,
            epoch: fence.epoch(),
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
                status.set_stored(&now.session_id);
                saved[i] = Some(now);
            }
            Err(e @ SessionStoreError::Stale { .. }) => {
                // A later grant holds the shard: this node lost it without hearing so.
                metrics::counter!("switchyard_gateway_session_saves_refused_total").increment(1);
                tracing::warn!(error = %e, shard = status.id, "the shard runs elsewhere now; this node publishes nothing more for it");
                status.fence().lose();
            }
            Err(e) => {
                metrics::counter!("switchyard_gateway_session_save_errors_total").increment(1);
                tracing::warn!(error = %e, shard = status.id, "cannot save the shard's session");
            }
        }
    }
    Ok(())
}
