//! Each shard's cache saved beside its session, so that a shard restarted after a crash
//! resumes with the cache it had (a resumed session gets no READY and no GUILD_CREATE).
//!
//! A snapshot covers a position: the cache's session and the last sequence it read (S); the
//! saved session covers the last sequence the broker took (P). A snapshot is saved only once
//! a saved session of its own covers it (S ≤ P, see [`Snapshots`]), and a restarted shard
//! resumes from S: Discord replays from there, the cache reads what it missed, and the runner
//! does not publish again what was published (up to P). The saver takes a snapshot every
//! `[gateway.cache] snapshot_interval_ms` (or, for a shard whose snapshot holds its cache
//! locked long, `SPACING` times that long) when the cache read something since, and at once
//! when the cache is in a session the last snapshot is not of; stopping shards are
//! snapshotted with their final session save.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_cache::{CacheConfig, Position, Restored, ShardCache};

use super::store::{SavedSession, SessionStore, session_key};
use crate::status::ShardStatus;

/// How a shard with a saved session starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    /// RESUME the saved session from this sequence: the saved one, or the older sequence of
    /// the cache's snapshot (Discord replays from there; what was published is not again).
    Resume {
        /// The sequence sent in RESUME.
        from: u64,
    },
    /// IDENTIFY a new session (the gap after the saved one is reported, with `why`).
    Identify {
        /// Why the saved session is not resumed.
        why: String,
    },
}

/// The snapshot of a shard's cache saved beside the session `key`, restored; `None` when
/// there is none or it cannot be read (logged and counted: the shard then starts empty).
pub(crate) async fn load(
    store: &dyn SessionStore,
    key: &str,
    config: &CacheConfig,
    shard: u32,
) -> Option<Restored> {
    let bytes = match store.load_cache(key).await {
        Ok(bytes) => bytes?,
        Err(e) => {
            metrics::counter!("switchyard_cache_snapshot_load_errors_total").increment(1);
            tracing::warn!(shard, error = %e, "cannot read the cache snapshot; the cache starts empty");
            return None;
        }
    };
    let started = Instant::now();
    let len = bytes.len();
    let config = config.clone();
    let restored = tokio::task::spawn_blocking(move || ShardCache::restore(config, &bytes)).await;
    match restored {
        Ok(Ok(restored)) => {
            let counts = restored.cache.counts();
            tracing::info!(
                shard,
                bytes = len,
                ms = started.elapsed().as_millis() as u64,
                seq = restored.position.seq,
                guilds = counts.guilds,
                members = counts.members,
                "cache restored from its snapshot"
            );
            Some(restored)
        }
        Ok(Err(e)) => {
            metrics::counter!("switchyard_cache_snapshot_load_errors_total").increment(1);
            tracing::warn!(shard, error = %e, "cannot restore the cache snapshot; the cache starts empty");
            None
        }
        Err(e) => {
            tracing::warn!(shard, error = %e, "restoring the cache snapshot failed; the cache starts empty");
            None
        }
    }
}

/// How a shard with `saved` starts when its cache (if `cache_on`) was `restored`: RESUME from
/// the older of the snapshot's and the session's sequences when the snapshot is of the saved
/// session; else IDENTIFY a new session, because a resumed session with an empty or foreign
/// cache would stay wrong for as long as it lives, while a new one's GUILD_CREATEs rebuild
/// it (and the events lost meanwhile are reported as a gap).
pub(crate) fn start(saved: &SavedSession, restored: Option<&Restored>, cache_on: bool) -> Start {
    if !cache_on {
        return Start::Resume { from: saved.seq };
    }
    let Some(restored) = restored else {
        return Start::Identify {
            why: "the cache has no snapshot to go with the saved session".into(),
        };
    };
    if restored.position.session.as_deref() != Some(saved.session_id.as_str()) {
        return Start::Identify {
            why: "the cache's snapshot is of another session than the saved one".into(),
        };
    }
    Start::Resume {
        from: restored.position.seq.unwrap_or(0).min(saved.seq),
    }
}

/// A shard's cache is locked at most this share of the time by its snapshots: one that
/// held it for `h` is followed by the next no sooner than `h * SPACING`, whatever the
/// configured interval (a shard of a million cached objects takes a few hundred ms).
const SPACING: u32 = 50;

/// Where a shard's last snapshot stood.
#[derive(Debug, Clone)]
struct Taken {
    position: Position,
    at: Instant,
    /// How long it held the cache locked.
    held: Duration,
    /// How long it was.
    len: usize,
}

/// A snapshot taken and not saved yet: it waits until the broker has confirmed its sequence.
#[derive(Debug)]
struct Pending {
    position: Position,
    bytes: Vec<u8>,
    started: Instant,
}

/// The snapshots the saver took, per shard, and those waiting to be saved.
///
/// A snapshot is saved only once the session saved beside it covers its sequence (S ≤ P):
/// the cache runs ahead of the broker, and a snapshot past the last event the broker took
/// would leave the events between them to be published again after a crash without the
/// `old` the cache already applied. Held back, every event after the snapshot is replayed
/// into the cache, and those the broker took are not published again.
#[derive(Debug)]
pub(crate) struct Snapshots {
    interval: Duration,
    taken: HashMap<u32, Taken>,
    pending: HashMap<u32, Pending>,
}

impl Snapshots {
    pub(crate) fn new(interval: Duration) -> Self {
        Snapshots {
            interval,
            taken: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// Takes a snapshot of each shard's cache that is due (all of them with `force`, when
    /// they read anything since), to be saved by [`Snapshots::save_covered`].
    pub(crate) async fn take_due(&mut self, shards: &[Arc<ShardStatus>], force: bool) {
        self.taken
            .retain(|id, _| shards.iter().any(|s| s.id == *id));
        self.pending
            .retain(|id, _| shards.iter().any(|s| s.id == *id));
        for status in shards {
            let Some(cache) = status.cache().cloned() else {
                continue;
            };
            let now = {
                let cached = crate::cache_feed::read(&cache);
                Position {
                    session: cached.session.as_deref().map(str::to_owned),
                    seq: cached.seq,
                }
            };
            if now.session.is_none() {
                continue;
            }
            let last = self.taken.get(&status.id);
            let due = match last {
                None => true,
                Some(last) if last.position.session != now.session => true,
                Some(last) => {
                    let wait = self.interval.max(last.held * SPACING);
                    last.position != now && (force || last.at.elapsed() >= wait)
                }
            };
            if !due {
                continue;
            }
            let reserve = last.map_or(0, |l| l.len + l.len / 8);
            if let Some((taken, pending)) = take(status.id, cache, reserve).await {
                self.taken.insert(status.id, taken);
                self.pending.insert(status.id, pending);
            }
        }
    }

    /// Saves each waiting snapshot whose sequence the session saved for its shard covers:
    /// `saved(shard)` is that session (id and sequence), if any.
    pub(crate) async fn save_covered(
        &mut self,
        store: &dyn SessionStore,
        bot: &str,
        shards: &[Arc<ShardStatus>],
        saved: impl Fn(u32) -> Option<(String, u64)>,
    ) {
        for status in shards {
            let covered = self.pending.get(&status.id).is_some_and(|p| {
                saved(status.id).is_some_and(|(session, seq)| {
                    p.position.session.as_deref() == Some(session.as_str())
                        && p.position.seq.unwrap_or(0) <= seq
                })
            });
            if !covered {
                continue;
            }
            if let Some(pending) = self.pending.remove(&status.id) {
                save(store, bot, status, pending).await;
            }
        }
    }
}

/// Takes a snapshot of one shard's cache, into a buffer of `reserve` bytes.
async fn take(
    shard: u32,
    cache: crate::cache_feed::SharedCache,
    reserve: usize,
) -> Option<(Taken, Pending)> {
    let started = Instant::now();
    let taken = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::with_capacity(reserve);
        let cached = crate::cache_feed::read(&cache);
        let locked = Instant::now();
        let position = Position {
            session: cached.session.as_deref().map(str::to_owned),
            seq: cached.seq,
        };
        let rebuild = cached.rebuild.as_ref().map(|r| &r.rebuild);
        let written = cached.cache.snapshot_into(&position, rebuild, &mut bytes);
        let held = locked.elapsed();
        (position, written.map(|()| bytes), held)
    })
    .await;
    let (position, bytes, held) = match taken {
        Ok((position, Ok(bytes), held)) => (position, bytes, held),
        Ok((_, Err(e), _)) => {
            failed(shard, &e);
            return None;
        }
        Err(e) => {
            failed(shard, &e);
            return None;
        }
    };
    let label = shard.to_string();
    metrics::gauge!("switchyard_cache_snapshot_lock_seconds", "shard" => label)
        .set(held.as_secs_f64());
    let taken = Taken {
        position: position.clone(),
        at: Instant::now(),
        held,
        len: bytes.len(),
    };
    let pending = Pending {
        position,
        bytes,
        started,
    };
    Some((taken, pending))
}

fn failed(shard: u32, e: &dyn std::fmt::Display) {
    metrics::counter!("switchyard_cache_snapshot_errors_total").increment(1);
    tracing::warn!(shard, error = %e, "cannot save the cache snapshot; a restart resumes from the last one saved, or identifies afresh");
}

/// Saves a snapshot taken before.
async fn save(store: &dyn SessionStore, bot: &str, status: &ShardStatus, pending: Pending) {
    let shard = status.id;
    let Pending {
        position,
        bytes,
        started,
    } = pending;
    let len = bytes.len();
    let key = session_key(bot, status.id, status.total);
    if let Err(e) = store.save_cache(&key, bytes).await {
        failed(shard, &e);
        return;
    }
    let label = shard.to_string();
    metrics::counter!("switchyard_cache_snapshots_total", "shard" => label.clone()).increment(1);
    metrics::gauge!("switchyard_cache_snapshot_bytes", "shard" => label.clone()).set(len as f64);
    metrics::gauge!("switchyard_cache_snapshot_seconds", "shard" => label.clone())
        .set(started.elapsed().as_secs_f64());
    metrics::gauge!("switchyard_cache_snapshot_seq", "shard" => label)
        .set(position.seq.unwrap_or(0) as f64);
    tracing::debug!(
        shard,
        bytes = len,
        seq = position.seq,
        ms = started.elapsed().as_millis() as u64,
        "cache snapshot saved"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_cache::CacheConfig;

    fn restored(session: &str, seq: u64) -> Restored {
        Restored {
            cache: ShardCache::new(CacheConfig::all()),
            position: Position {
                session: Some(session.into()),
                seq: Some(seq),
            },
            rebuild: None,
        }
    }

    #[test]
    fn a_shard_resumes_from_the_older_of_its_snapshot_and_its_session() {
        let saved = SavedSession {
            session_id: "a".into(),
            seq: 100,
            resume_url: "ws://x".into(),
            epoch: None,
        };
        assert_eq!(start(&saved, None, false), Start::Resume { from: 100 });
        let older = restored("a", 60);
        assert_eq!(
            start(&saved, Some(&older), true),
            Start::Resume { from: 60 }
        );
        let newer = restored("a", 140);
        assert_eq!(
            start(&saved, Some(&newer), true),
            Start::Resume { from: 100 }
        );
        assert!(matches!(start(&saved, None, true), Start::Identify { .. }));
        let foreign = restored("b", 10);
        assert!(matches!(
            start(&saved, Some(&foreign), true),
            Start::Identify { .. }
        ));
    }
}
