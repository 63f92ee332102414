//! The identify queue: one IDENTIFY per `max_concurrency` bucket (`shard_id %
//! max_concurrency`) per window, and never more than `session_start_limit.remaining` before
//! the limit resets. When the limit is exhausted it refuses clearly (an error log and
//! [`IdentifyQueue::exhausted_until`]) and holds shards until the reset.
//!
//! It implements twilight's [`Queue`] trait, so twilight asks it before every IDENTIFY
//! (RESUMEs do not go through it). With a shared key-value store ([`IdentifyQueue::shared`])
//! the buckets' turns and the budget are shared by every process of the bot ([`shared`]).

mod shared;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use switchyard_broker::kv::KvStore;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use twilight_gateway::queue::Queue;

/// `session_start_limit` from `GET /gateway/bot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStartLimit {
    /// Identifies allowed per period.
    pub total: u32,
    /// Identifies left in this period.
    pub remaining: u32,
    /// Until the period resets.
    pub reset_after: Duration,
    /// Identify buckets.
    pub max_concurrency: u32,
}

impl Default for SessionStartLimit {
    fn default() -> Self {
        SessionStartLimit {
            total: 1000,
            remaining: 1000,
            reset_after: Duration::from_secs(86_400),
            max_concurrency: 1,
        }
    }
}

#[derive(Debug)]
struct Budget {
    remaining: u32,
    total: u32,
    period: Duration,
    resets_at: Instant,
    exhausted_until: Option<SystemTime>,
}

/// The identify queue. Cheap to clone; clones share the buckets.
#[derive(Clone)]
pub struct IdentifyQueue {
    buckets: Arc<Vec<mpsc::UnboundedSender<oneshot::Sender<()>>>>,
    budget: Arc<Mutex<Budget>>,
    /// The store and app key of a queue shared between processes, and the window.
    shared: Option<(Arc<dyn KvStore>, String)>,
    window: Duration,
}

impl std::fmt::Debug for IdentifyQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentifyQueue")
            .field("buckets", &self.buckets.len())
            .field("budget", &self.budget)
            .field("shared", &self.shared.is_some())
            .field("window", &self.window)
            .finish()
    }
}

fn lock(m: &Mutex<Budget>) -> std::sync::MutexGuard<'_, Budget> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl IdentifyQueue {
    /// A queue for `limit`, one IDENTIFY per bucket per `window`. Must be called inside a
    /// Tokio runtime (it spawns one task per bucket).
    pub fn new(limit: SessionStartLimit, window: Duration) -> Self {
        Self::build(limit, window, None)
    }

    fn build(
        limit: SessionStartLimit,
        window: Duration,
        shared: Option<(Arc<dyn KvStore>, String)>,
    ) -> Self {
        let budget = Arc::new(Mutex::new(Budget {
            remaining: limit.remaining,
            total: limit.total.max(1),
            period: Duration::from_secs(86_400),
            resets_at: Instant::now() + limit.reset_after,
            exhausted_until: None,
        }));
        let buckets = (0..limit.max_concurrency.max(1))
            .map(|bucket| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_bucket(
                    bucket,
                    rx,
                    window,
                    budget.clone(),
                    shared.clone(),
                ));
                tx
            })
            .collect();
        IdentifyQueue {
            buckets: Arc::new(buckets),
            budget,
            shared,
            window,
        }
    }

    /// A queue shared with the other processes of the bot whose token is `token` through
    /// `kv`: before each IDENTIFY, the bucket's key is taken for one window with a
    /// compare-and-set, so that one IDENTIFY per bucket per window goes out between all of
    /// them, and one identify is taken from the bot's shared session start budget. The keys
    /// are named after a hash of the token, never the token. If the store cannot be reached,
    /// the process identifies on its own queue and budget (and says so).
    pub fn shared(
        limit: SessionStartLimit,
        window: Duration,
        kv: Arc<dyn KvStore>,
        token: &str,
    ) -> Self {
        Self::build(limit, window, Some((kv, shared::app_key(token))))
    }

    /// When the session start limit is exhausted: the wall-clock time it resets.
    pub fn exhausted_until(&self) -> Option<SystemTime> {
        lock(&self.budget).exhausted_until
    }

    /// Identifies left in the current period.
    pub fn remaining(&self) -> u32 {
        lock(&self.budget).remaining
    }

    /// `shard`'s IDENTIFY was answered with READY: a shared queue holds the bucket's turn
    /// for one window from now (see `shared::take_turn`).
    pub(crate) fn identified(&self, shard: u32) {
        let Some((kv, app)) = self.shared.clone() else {
            return;
        };
        let bucket = shard % u32::try_from(self.buckets.len()).unwrap_or(1).max(1);
        let window = self.window;
        tokio::spawn(async move { shared::identified(&*kv, &app, bucket, window).await });
    }
}

impl Queue for IdentifyQueue {
    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let bucket = shard as usize % self.buckets.len();
        // If the bucket task is gone the sender is dropped and twilight re-enqueues.
        let _ = self.buckets[bucket].send(tx);
        rx
    }
}

async fn run_bucket(
    bucket: u32,
    mut rx: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    window: Duration,
    budget: Arc<Mutex<Budget>>,
    shared: Option<(Arc<dyn KvStore>, String)>,
) {
    let mut last: Option<Instant> = None;
    let mut warned: HashMap<u32, ()> = HashMap::new();
    while let Some(tx) = rx.recv().await {
        if tx.is_closed() {
            continue;
        }
        if let Some(last) = last {
            // A twentieth more than the window: the window runs from the turn handed out
            // here, Discord's from the IDENTIFY it receives, which may come a little later
            // for one shard than for the next.
            tokio::time::sleep_until(last + window + window / 20).await;
        }
        loop {
            let seed = {
                let mut b = lock(&budget);
                let now = Instant::now();
                if now >= b.resets_at {
                    b.remaining = b.total;
                    b.resets_at = now + b.period;
                    b.exhausted_until = None;
                }
                shared::Seed {
                    remaining: b.remaining,
                    resets_in: b.resets_at - now,
                    total: b.total,
                }
            };
            let wait = {
                let taken = match &shared {
                    Some((kv, app)) => match shared::take_budget(&**kv, app, seed).await {
                        Ok(taken) => Some(taken),
                        Err(e) => {
                            tracing::warn!(error = %e, bucket, "the shared session start budget is unreachable; counting on this process's own");
                            None
                        }
                    },
                    None => None,
                };
                let mut b = lock(&budget);
                match taken {
                    Some(shared::Taken::Yes) => {
                        b.remaining = b.remaining.saturating_sub(1);
                        None
                    }
                    Some(shared::Taken::Exhausted(left)) => {
                        b.remaining = 0;
                        b.exhausted_until = Some(SystemTime::now() + left);
                        Some(left)
                    }
                    None if b.remaining > 0 => {
                        b.remaining -= 1;
                        None
                    }
                    None => {
                        let left = b.resets_at - Instant::now();
                        b.exhausted_until = Some(SystemTime::now() + left);
                        Some(left)
                    }
                }
            };
            match wait {
                None => break,
                Some(left) => {
                    if warned.insert(bucket, ()).is_none() {
                        tracing::error!(
                            bucket,
                            resets_in_s = left.as_secs(),
                            "session start limit exhausted: Discord allows no more IDENTIFYs until it resets in {}s; shards wait (RESUMEs are not affected)",
                            left.as_secs()
                        );
                    }
                    metrics::counter!("switchyard_gateway_identify_refused_total").increment(1);
                    // Rechecked at least every minute: another process may see the reset first.
                    tokio::time::sleep(left.min(Duration::from_secs(60))).await;
                }
            }
        }
        warned.clear();
        if let Some((kv, app)) = &shared {
            shared::take_turn(&**kv, app, bucket, window).await;
        }
        if tx.send(()).is_ok() {
            metrics::counter!("switchyard_gateway_identifies_total").increment(1);
            last = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_identify_per_bucket_per_window() {
        let limit = SessionStartLimit {
            max_concurrency: 2,
            ..SessionStartLimit::default()
        };
        let q = IdentifyQueue::new(limit, Duration::from_secs(5));
        let start = Instant::now();
        let rxs: Vec<_> = (0..4).map(|i| (i, q.enqueue(i))).collect();
        let mut times = Vec::new();
        for (i, rx) in rxs {
            rx.await.expect("granted");
            times.push((i, (Instant::now() - start).as_secs()));
        }
        // shards 0 and 1 at once (two buckets), 2 and 3 one window later
        assert_eq!(times, vec![(0, 0), (1, 0), (2, 5), (3, 5)]);
        assert_eq!(q.remaining(), 996);
    }

    #[tokio::test]
    async fn processes_sharing_a_store_identify_once_per_window_between_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv: Arc<dyn KvStore> =
            Arc::new(switchyard_broker::kv::FileKv::open(&dir.path().join("kv.json")).expect("kv"));
        let window = Duration::from_millis(300);
        let limit = SessionStartLimit::default();
        // Two gateways of one bot, each with its own queue, as two processes would have.
        let a = IdentifyQueue::shared(limit, window, kv.clone(), "token");
        let b = IdentifyQueue::shared(limit, window, kv.clone(), "token");
        let start = Instant::now();
        let (ra, rb) = (a.enqueue(0), b.enqueue(1));
        let (ta, tb) = tokio::join!(
            async {
                ra.await.expect("a granted");
                Instant::now() - start
            },
            async {
                rb.await.expect("b granted");
                Instant::now() - start
            }
        );
        let gap = ta.abs_diff(tb);
        assert!(
            gap >= window - Duration::from_millis(20),
            "a at {ta:?}, b at {tb:?}"
        );
        // Another bot has its own turn.
        let other = IdentifyQueue::shared(limit, window, kv, "other-token");
        let t = Instant::now();
        other.enqueue(0).await.expect("granted");
        assert!(Instant::now() - t < window, "not held back by another bot");
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_limit_waits_for_the_reset_and_says_so() {
        let limit = SessionStartLimit {
            total: 5,
            remaining: 1,
            reset_after: Duration::from_secs(60),
            max_concurrency: 1,
        };
        let q = IdentifyQueue::new(limit, Duration::from_millis(10));
        q.enqueue(0).await.expect("first");
        let start = Instant::now();
        let second = q.enqueue(0);
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(q.exhausted_until().is_some());
        second.await.expect("after reset");
        assert!(Instant::now() - start >= Duration::from_secs(59));
        assert_eq!(q.remaining(), 4);
        assert!(q.exhausted_until().is_none());
    }
}
