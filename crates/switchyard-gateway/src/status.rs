//! Live state of each shard, shared between its runner, its publisher, the session saver and
//! the admin listener's `/status`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use serde::Serialize;
use switchyard_cache::{CacheConfig, Restored};

use crate::cache_feed::{self, CachedShard, SharedCache};

/// The statuses of the running shards, shared with the saver and the status page.
pub(crate) type ShardList = Arc<RwLock<Vec<Arc<ShardStatus>>>>;

/// A shard's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ShardPhase {
    /// Waiting for its turn in the identify queue, or connecting.
    Starting = 0,
    /// Connected, identifying.
    Identifying = 1,
    /// Resuming a session (replaying missed events).
    Resuming = 2,
    /// Receiving events.
    Active = 3,
    /// Disconnected; it reconnects by itself.
    Disconnected = 4,
    /// Closed on purpose because its queue stayed full; resumes once it drains.
    Paused = 5,
    /// Stopped by a fatal close code (see `error`).
    Fatal = 6,
    /// Stopped by shutdown.
    Stopped = 7,
}

impl ShardPhase {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => ShardPhase::Identifying,
            2 => ShardPhase::Resuming,
            3 => ShardPhase::Active,
            4 => ShardPhase::Disconnected,
            5 => ShardPhase::Paused,
            6 => ShardPhase::Fatal,
            7 => ShardPhase::Stopped,
            _ => ShardPhase::Starting,
        }
    }
}

/// How many state changes a shard keeps for `/status` (the latest ones).
const CHANGES_KEPT: usize = 6;

/// A shard entering a state: kept so that a change shorter than a poll (a resume on
/// loopback takes milliseconds) still shows on `/status` and the dashboard.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct PhaseChange {
    /// When, in Unix milliseconds.
    pub at_ms: u64,
    /// The state entered.
    pub state: ShardPhase,
    /// The last close code received before it, if any.
    pub close: Option<u16>,
}

/// The one record of a shard's session: the current session and its resume URL, as the
/// runner learnt them, and how far events were handed to the broker, as the publisher saw the
/// broker take them. The saver saves what [`SessionRecord::saveable`] derives; `/status`
/// shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SessionRecord {
    /// The session the shard is in now.
    pub current: Option<Arc<str>>,
    /// Where to resume it.
    pub resume_url: Option<String>,
    /// The session and sequence of the last event handed to the broker.
    pub handed: Option<(Arc<str>, u64)>,
    /// The session the store holds for the shard, as far as this node knows: the one it
    /// started from, or the one it saved last. A node that takes the shard over resumes it.
    pub stored: Option<Arc<str>>,
}

impl SessionRecord {
    /// What a RESUME elsewhere needs: the current session, the last sequence of it that the
    /// broker took, and the resume URL. None until an event of the current session was
    /// handed over (while the queue still holds an older session's events, say).
    pub(crate) fn saveable(&self) -> Option<(Arc<str>, u64, String)> {
        let (session, seq) = self.handed.as_ref()?;
        (self.current.as_ref() == Some(session))
            .then(|| self.resume_url.clone())
            .flatten()
            .map(|url| (session.clone(), *seq, url))
    }
}

/// One shard's live state.
#[derive(Debug)]
pub struct ShardStatus {
    /// Shard id.
    pub id: u32,
    /// Shard count.
    pub total: u32,
    phase: AtomicU8,
    seq: AtomicU64,
    latency_us: AtomicU64,
    events: AtomicU64,
    published: AtomicU64,
    skipped: AtomicU64,
    queue_depth: AtomicU64,
    gaps: AtomicU64,
    record: Mutex<SessionRecord>,
    error: Mutex<Option<String>>,
    last_close: Mutex<Option<u16>>,
    /// The latest state changes, oldest first.
    changes: Mutex<VecDeque<PhaseChange>>,
    been_ready: std::sync::atomic::AtomicBool,
    /// The shard's cache, when the bot keeps one: written by the runner, read by queries.
    cache: Option<SharedCache>,
    /// Whether this node may publish for the shard, in a pool.
    fence: crate::fence::Fence,
    /// What the publisher settled of what the runner queued.
    backlog: crate::backlog::Backlog,
}

/// A copy of one shard's state, for `/status`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShardSnapshot {
    /// Shard id.
    pub id: u32,
    /// Shard count.
    pub total: u32,
    /// Lifecycle state.
    pub state: ShardPhase,
    /// Average heartbeat latency in milliseconds, once measured.
    pub latency_ms: Option<f64>,
    /// Last sequence number received.
    pub seq: u64,
    /// Current session id.
    pub session: Option<String>,
    /// Dispatches received.
    pub events: u64,
    /// Events handed to the broker.
    pub published: u64,
    /// Events filtered out (event filter, own messages).
    pub skipped: u64,
    /// Events waiting between shard and broker.
    pub queue_depth: u64,
    /// Sessions lost without a resume (gaps reported).
    pub gaps: u64,
    /// The last close code received.
    pub last_close: Option<u16>,
    /// Why the shard stopped, when it did.
    pub error: Option<String>,
    /// Its latest state changes, oldest first.
    pub changes: Vec<PhaseChange>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ShardStatus {
    /// A new status in [`ShardPhase::Starting`].
    pub fn new(id: u32, total: u32) -> Self {
        ShardStatus {
            id,
            total,
            phase: AtomicU8::new(ShardPhase::Starting as u8),
            seq: AtomicU64::new(0),
            latency_us: AtomicU64::new(u64::MAX),
            events: AtomicU64::new(0),
            published: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            queue_depth: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            record: Mutex::new(SessionRecord::default()),
            error: Mutex::new(None),
            last_close: Mutex::new(None),
            changes: Mutex::new(VecDeque::with_capacity(CHANGES_KEPT)),
            been_ready: std::sync::atomic::AtomicBool::new(false),
            cache: None,
            fence: crate::fence::Fence::default(),
            backlog: crate::backlog::Backlog::default(),
        }
    }

    /// What the publisher settled of what the runner queued.
    pub(crate) fn backlog(&self) -> &crate::backlog::Backlog {
        &self.backlog
    }

    /// The shard's grant in a pool.
    pub(crate) fn fence(&self) -> &crate::fence::Fence {
        &self.fence
    }

    /// The guilds the shard's cache holds, when it keeps one.
    pub(crate) fn guild_count(&self) -> Option<u32> {
        let cache = self.cache.as_ref()?;
        u32::try_from(cache_feed::read(cache).cache.guild_count()).ok()
    }

    /// The same status with a cache for the shard, kept as `config` says: `restored` from a
    /// snapshot, or empty.
    pub(crate) fn with_cache(mut self, config: &CacheConfig, restored: Option<Restored>) -> Self {
        self.cache = config.enabled.then(|| {
            let cached = restored.map_or_else(|| CachedShard::new(config), CachedShard::restored);
            Arc::new(parking_lot::RwLock::new(cached))
        });
        self
    }

    /// The shard's cache, when the bot keeps one.
    pub(crate) fn cache(&self) -> Option<&SharedCache> {
        self.cache.as_ref()
    }

    /// Records that the shard became ready; true the first time.
    pub(crate) fn first_ready(&self) -> bool {
        !self.been_ready.swap(true, Ordering::Relaxed)
    }

    /// Whether the shard has been ready at least once.
    pub(crate) fn has_been_ready(&self) -> bool {
        self.been_ready.load(Ordering::Relaxed)
    }

    /// The current phase.
    pub fn phase(&self) -> ShardPhase {
        ShardPhase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    /// Sets the phase; also the `switchyard_gateway_shard_state` gauge (the phase's number,
    /// see [`ShardPhase`]).
    /// Sets the phase; cheap when it is unchanged (the runner calls it after every frame).
    pub(crate) fn set_phase(&self, phase: ShardPhase) {
        let before = self.phase.swap(phase as u8, Ordering::Relaxed);
        if before != phase as u8 {
            self.changed(phase);
            metrics::gauge!("switchyard_gateway_shard_state", "shard" => self.id.to_string())
                .set(f64::from(phase as u8));
        }
    }
    /// Keeps the change to `phase` in the shard's short log.
    fn changed(&self, phase: ShardPhase) {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let close = *lock(&self.last_close);
        let mut changes = lock(&self.changes);
        if changes.len() == CHANGES_KEPT {
            changes.pop_front();
        }
        changes.push_back(PhaseChange {
            at_ms,
            state: phase,
            close,
        });
    }
    pub(crate) fn set_seq(&self, seq: u64) {
        self.seq.store(seq, Ordering::Relaxed);
    }
    pub(crate) fn set_latency(&self, latency: Option<std::time::Duration>) {
        let v = latency.map_or(u64::MAX, |d| {
            d.as_micros().min(u128::from(u64::MAX - 1)) as u64
        });
        self.latency_us.store(v, Ordering::Relaxed);
        if let Some(latency) = latency {
            metrics::gauge!("switchyard_gateway_shard_latency_seconds", "shard" => self.id.to_string())
                .set(latency.as_secs_f64());
        }
    }
    pub(crate) fn add_event(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_published(&self, n: u64) {
        self.published.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_gap(&self) {
        self.gaps.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set_queue_depth(&self, depth: usize) {
        self.queue_depth.store(depth as u64, Ordering::Relaxed);
    }
    pub(crate) fn set_error(&self, error: Option<String>) {
        *lock(&self.error) = error;
    }
    pub(crate) fn set_last_close(&self, code: u16) {
        *lock(&self.last_close) = Some(code);
    }
    /// The runner entered `session`, resumable at `resume_url`.
    pub(crate) fn set_session(&self, session: Option<Arc<str>>, resume_url: Option<String>) {
        let mut record = lock(&self.record);
        record.current = session;
        record.resume_url = resume_url;
    }
    /// The publisher handed the event `seq` of `session` to the broker.
    pub(crate) fn set_handed(&self, session: &Arc<str>, seq: u64) {
        let mut record = lock(&self.record);
        match &mut record.handed {
            Some((handed, last)) if handed == session => *last = seq,
            other => *other = Some((session.clone(), seq)),
        }
    }
    /// The store holds `session` for the shard now (loaded at start, or saved).
    pub(crate) fn set_stored(&self, session: &str) {
        let mut record = lock(&self.record);
        if record.stored.as_deref() != Some(session) {
            record.stored = Some(Arc::from(session));
        }
    }
    /// A copy of the session record.
    pub(crate) fn record(&self) -> SessionRecord {
        lock(&self.record).clone()
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> ShardSnapshot {
        let latency = self.latency_us.load(Ordering::Relaxed);
        ShardSnapshot {
            id: self.id,
            total: self.total,
            state: self.phase(),
            latency_ms: (latency != u64::MAX).then(|| latency as f64 / 1000.0),
            seq: self.seq.load(Ordering::Relaxed),
            session: lock(&self.record).current.as_deref().map(str::to_owned),
            events: self.events.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            last_close: *lock(&self.last_close),
            error: lock(&self.error).clone(),
            changes: lock(&self.changes).iter().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_saveable_once_the_broker_took_one_of_its_events() {
        let status = ShardStatus::new(0, 1);
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        assert_eq!(status.record().saveable(), None, "nothing yet");
        status.set_session(Some(a.clone()), Some("wss://resume".into()));
        assert_eq!(status.record().saveable(), None, "nothing handed yet");
        status.set_handed(&a, 5);
        assert_eq!(
            status.record().saveable(),
            Some((a.clone(), 5, "wss://resume".to_owned()))
        );
        // a new session, while the queue still holds the old one's events: not yet
        status.set_session(Some(b.clone()), Some("wss://other".into()));
        status.set_handed(&a, 6);
        assert_eq!(status.record().saveable(), None);
        status.set_handed(&b, 1);
        assert_eq!(
            status.record().saveable(),
            Some((b, 1, "wss://other".to_owned()))
        );
        assert_eq!(status.snapshot().session.as_deref(), Some("b"));
    }

    #[test]
    fn a_short_resume_stays_in_the_log_of_changes() {
        let status = ShardStatus::new(0, 1);
        for phase in [
            ShardPhase::Identifying,
            ShardPhase::Active,
            ShardPhase::Active,
        ] {
            status.set_phase(phase);
        }
        status.set_last_close(1006);
        status.set_phase(ShardPhase::Disconnected);
        status.set_phase(ShardPhase::Resuming);
        status.set_phase(ShardPhase::Active);
        let states: Vec<_> = status
            .snapshot()
            .changes
            .iter()
            .map(|c| (c.state, c.close))
            .collect();
        assert_eq!(
            states,
            [
                (ShardPhase::Identifying, None),
                (ShardPhase::Active, None),
                (ShardPhase::Disconnected, Some(1006)),
                (ShardPhase::Resuming, Some(1006)),
                (ShardPhase::Active, Some(1006)),
            ],
            "one entry per change, repeats left out"
        );
        for phase in [
            ShardPhase::Disconnected,
            ShardPhase::Resuming,
            ShardPhase::Active,
        ] {
            status.set_phase(phase);
        }
        assert_eq!(
            status.snapshot().changes.len(),
            CHANGES_KEPT,
            "the oldest dropped"
        );
    }
}
