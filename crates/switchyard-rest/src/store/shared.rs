//! The shared store with a way down: limits in Redis while it answers, and local limits that
//! stay under Discord's while it does not. Every response's headers are also kept locally
//! (the mirror), so that a node falling back starts from them: a share, by the number of
//! live nodes, of what each bucket had left, then a share of each limit; the global limit
//! waits one window first, since what the others sent in it is unknown.
//!
//! Nodes count each other in Redis (a sorted set of beats, every [`BEAT`]). When Redis
//! answers again, a node keeps its local share for one more [`RETURN`] on top of the shared
//! limits (requests sent on local limits are in no Redis log), then uses Redis alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::local::LocalStore;
use super::redis::RedisStore;
use super::{Ask, Decision, Observed};

/// How often a node beats (and, on local limits, tries Redis again).
pub const BEAT: Duration = Duration::from_secs(1);

/// How long a Redis call may take before Redis counts as unreachable.
const CALL: Duration = Duration::from_millis(500);

/// How long after Redis returns the local share still applies.
const RETURN: Duration = Duration::from_secs(2);

const SHARED: u8 = 0;
const LOCAL: u8 = 1;
const RETURNING: u8 = 2;

/// Limits in Redis, with local limits while Redis is unreachable.
#[derive(Debug, Clone)]
pub struct SharedStore {
    redis: RedisStore,
    mirror: Arc<LocalStore>,
    mode: Arc<AtomicU8>,
    nodes: Arc<AtomicU32>,
}

impl SharedStore {
    /// `redis`, with a local mirror; starts the beat that counts nodes and watches Redis.
    pub fn new(redis: RedisStore) -> Self {
        let store = SharedStore {
            redis,
            mirror: Arc::new(LocalStore::default()),
            mode: Arc::new(AtomicU8::new(SHARED)),
            nodes: Arc::new(AtomicU32::new(1)),
        };
        tokio::spawn(beat(store.clone()));
        store
    }

    /// Whether this node is on local limits (Redis unreachable, or just back).
    pub fn falling_back(&self) -> bool {
        self.mode.load(Ordering::Relaxed) != SHARED
    }

    /// The live nodes last counted.
    pub fn nodes(&self) -> u32 {
        self.nodes.load(Ordering::Relaxed)
    }

    /// The local mirror (its sizes, its sweep).
    pub fn mirror(&self) -> &LocalStore {
        &self.mirror
    }

    fn fall_back(&self, why: &str) {
        if self.mode.swap(LOCAL, Ordering::Relaxed) == LOCAL {
            return;
        }
        let nodes = self.nodes();
        self.mirror.fall_back(nodes);
        tracing::warn!(
            nodes,
            error = why,
            "the shared rate-limit store (Redis) is unreachable: serving on local limits, a 1/{nodes} share of each, until it answers again"
        );
        metrics::counter!("switchyard_rest_store_fallbacks_total").increment(1);
        metrics::gauge!("switchyard_rest_store_fallback").set(1.0);
    }

    /// See [`super::Store::acquire`].
    pub async fn acquire(&self, ask: &Ask<'_>) -> Decision {
        let mode = self.mode.load(Ordering::Relaxed);
        if mode == LOCAL {
            return self.mirror.acquire(ask);
        }
        if mode == RETURNING {
            let local = self.mirror.acquire(ask);
            if matches!(local, Decision::Wait { .. }) {
                return local;
            }
        }
        match tokio::time::timeout(CALL, self.redis.acquire(ask)).await {
            Ok(Ok(decision)) => decision,
            Ok(Err(e)) => {
                self.fall_back(&e.to_string());
                self.mirror.acquire(ask)
            }
            Err(_) => {
                self.fall_back("a call timed out");
                self.mirror.acquire(ask)
            }
        }
    }

    /// See [`super::Store::observe`].
    pub async fn observe(&self, ask: &Ask<'_>, seen: &Observed) {
        self.mirror.observe(ask, seen);
        if self.mode.load(Ordering::Relaxed) == LOCAL {
            return;
        }
        match tokio::time::timeout(CALL, self.redis.observe(ask, seen)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fall_back(&e.to_string()),
            Err(_) => self.fall_back("a call timed out"),
        }
    }
}

/// Counts the nodes while Redis answers; on local limits, tries it again every beat.
async fn beat(store: SharedStore) {
    let mut returned = Instant::now();
    let mut first = true;
    loop {
        // the first beat at once: the count is right a beat sooner
        if !std::mem::take(&mut first) {
            tokio::time::sleep(BEAT).await;
        }
        // the limiter is gone: only this task holds the mode
        if Arc::strong_count(&store.mode) == 1 {
            return;
        }
        let counted = tokio::time::timeout(CALL, store.redis.beat(BEAT * 3)).await;
        match (store.mode.load(Ordering::Relaxed), counted) {
            (LOCAL, Ok(Ok(_))) => {
                store.mode.store(RETURNING, Ordering::Relaxed);
                returned = Instant::now();
                tracing::info!(
                    "the shared rate-limit store (Redis) answers again: back to shared limits"
                );
                metrics::gauge!("switchyard_rest_store_fallback").set(0.0);
            }
            (RETURNING, Ok(Ok(n))) if returned.elapsed() >= RETURN => {
                store.nodes.store(n.max(1), Ordering::Relaxed);
                store.mirror.stop_falling_back();
                store.mode.store(SHARED, Ordering::Relaxed);
            }
            (SHARED, Ok(Ok(n))) => store.nodes.store(n.max(1), Ordering::Relaxed),
            (_, Ok(Ok(_))) | (LOCAL, _) => {}
            (_, Ok(Err(e))) => store.fall_back(&e.to_string()),
            (_, Err(_)) => store.fall_back("a call timed out"),
        }
    }
}
