//! The limiter: one per process (or gateway), holding a limiter per token. A request takes
//! its place in the FIFO queue of its route and major parameter, waits for a slot from the
//! store (bucket and global limit together), is sent by the caller, and its response teaches
//! the store. The queue is held until the response headers arrive, so requests of one bucket
//! leave strictly in order, and a bucket not learned yet sees one request at a time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};
use serde::Serialize;
use switchyard_core::token::{strip_token_prefix, token_user_id};
use tokio::sync::OwnedMutexGuard;

use crate::budget::Budget;
use crate::config::{Rate, RestConfig, WaitMode};
use crate::error::RestError;
use crate::load::{BucketLoad, Load, Waiting};
use crate::ratelimit_route::RouteInfo;
use crate::store::shared::SharedStore;
use crate::store::{Ask, Decision, Observed, Store, local::LocalStore, redis::RedisStore};

/// Longest sleep between two looks at a bucket held by another node's first request.
const PROBE_POLL: Duration = Duration::from_millis(5);
/// How long a fail-fast request may wait for the request ahead of it in its bucket.
const FAIL_FAST_QUEUE: Duration = Duration::from_secs(30);

/// One bucket's FIFO queue and what it has seen.
#[derive(Debug, Clone, Default)]
struct Queue {
    order: Arc<tokio::sync::Mutex<()>>,
    load: Arc<Load>,
}

/// A token's queues by (route key, major).
type Queues = HashMap<(String, String), Queue>;

/// A queue's key borrowed from a request's route, so that finding a queue copies nothing.
/// It hashes as the owned `(String, String)` key does.
#[derive(Hash)]
struct QueueKey<'a>(&'a str, &'a str);

impl hashbrown::Equivalent<(String, String)> for QueueKey<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// The queue of `route` among `queues`, made when it is the first request of its route.
fn queue_of(queues: &Mutex<Queues>, route: &RouteInfo) -> Queue {
    let mut queues = lock(queues);
    if let Some(q) = queues.get(&QueueKey(&route.key, &route.major)) {
        return q.clone();
    }
    queues
        .entry((route.key.clone(), route.major.clone()))
        .or_default()
        .clone()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One token's state: its queues and when it was last used.
#[derive(Debug)]
struct TokenState {
    scope: Arc<str>,
    /// The key of its global limit (`bot:{scope}`).
    global_key: Arc<str>,
    global: Rate,
    queues: Mutex<Queues>,
    last_used: AtomicU64,
}

/// Counters shown on `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LimiterStats {
    /// Per-token limiters alive.
    pub limiters: usize,
    /// Tokens locked after a 401.
    pub locked_tokens: usize,
    /// Requests sent upstream.
    pub sent: u64,
    /// 429s received from upstream (they should not happen).
    pub upstream_429: u64,
    /// Synthetic 429s answered (fail fast, or waits beyond the maximum).
    pub synthetic_429: u64,
    /// Invalid responses (401/403/429) over the last 10 minutes.
    pub invalid_10m: u32,
    /// Whether the invalid-request warning level is reached.
    pub invalid_warning: bool,
    /// Where limits are kept: `local`, `redis`, or `redis-unreachable` (this node serves on
    /// a share of each limit until Redis answers again).
    pub store: &'static str,
    /// The nodes sharing the Redis store, last counted (1 with the local store).
    pub nodes: u32,
    /// Bucket windows (per major parameter) held in this process; 0 with Redis, whose keys
    /// expire on their own.
    pub buckets: usize,
    /// Requests waiting now, in their bucket's queue or for a slot.
    pub queued: u64,
}

#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    upstream_429: AtomicU64,
    synthetic_429: AtomicU64,
}

/// A place in a bucket's queue with a slot taken; hand it back to [`Limiter::complete`].
#[derive(Debug)]
pub(crate) struct Ticket {
    _queue: OwnedMutexGuard<()>,
    load: Arc<Load>,
    /// Set while the request waits (for its turn or a slot).
    waiting: Option<Waiting>,
    scope: Arc<str>,
    global: Option<(Arc<str>, Rate)>,
    token: Option<u64>,
    slot: u64,
    /// The route.
    pub route: RouteInfo,
    /// Time spent waiting (queue and limits), over every attempt.
    pub queued: Duration,
}

/// The rate limiter shared by the proxy and the gateway's outbound path.
#[derive(Debug)]
pub struct Limiter {
    cfg: RestConfig,
    store: Store,
    start: Instant,
    tokens: Mutex<HashMap<u64, Arc<TokenState>>>,
    locked: Mutex<HashSet<u64>>,
    budget: Budget,
    counts: Counts,
    slots: AtomicU64,
    /// The scope and global key of requests without a token.
    ip: (Arc<str>, Arc<str>),
}

impl Limiter {
    /// A limiter with its store (connects to Redis when `cfg.redis` is set) and a background
    /// task that evicts idle per-token limiters.
    pub(crate) async fn new(cfg: RestConfig) -> Result<Arc<Self>, RestError> {
        if cfg.global.limit == 0 || cfg.global_per_ip.limit == 0 {
            return Err(RestError::Config("global limits must be at least 1".into()));
        }
        let store = match &cfg.redis {
            Some(url) => Store::Redis(SharedStore::new(
                RedisStore::connect(url, &cfg.redis_prefix).await?,
            )),
            None => Store::Local(Arc::new(LocalStore::default())),
        };
        let limiter = Arc::new(Limiter {
            budget: Budget::new(cfg.invalid_warn),
            cfg,
            store,
            start: Instant::now(),
            tokens: Mutex::default(),
            locked: Mutex::default(),
            counts: Counts::default(),
            slots: AtomicU64::new(0),
            ip: (Arc::from("ip"), Arc::from("ip")),
        });
        let weak = Arc::downgrade(&limiter);
        let every = (limiter.cfg.idle_evict / 4).max(Duration::from_millis(10));
        tokio::spawn(evict_loop(weak, every));
        Ok(limiter)
    }

    /// The configuration.
    pub fn config(&self) -> &RestConfig {
        &self.cfg
    }

    fn fingerprint(token: &str) -> u64 {
        xxhash_rust::xxh3::xxh3_64(token.as_bytes())
    }

    fn token_state(&self, token: &str, fp: u64) -> Arc<TokenState> {
        let now = self.start.elapsed().as_millis() as u64;
        let mut tokens = lock(&self.tokens);
        let known = tokens.len();
        let state = tokens.entry(fp).or_insert_with(|| {
            let id = token_user_id(token).map(|id| id.to_string());
            let global = id
                .as_ref()
                .and_then(|id| self.cfg.global_per_bot.get(id))
                .copied()
                .unwrap_or(self.cfg.global);
            let scope = id.unwrap_or_else(|| format!("t{fp:016x}"));
            Arc::new(TokenState {
                global_key: Arc::from(format!("bot:{scope}")),
                scope: Arc::from(scope),
                global,
                queues: Mutex::default(),
                last_used: AtomicU64::new(now),
            })
        });
        state.last_used.store(now, Ordering::Relaxed);
        let state = state.clone();
        if tokens.len() != known {
            metrics::gauge!("switchyard_rest_limiters").set(tokens.len() as f64);
        }
        state
    }

    /// Takes `route`'s place in the FIFO queue of the token in `auth` (an Authorization
    /// value; `None` for requests without a token, limited per IP), waiting for the requests
    /// ahead of it to get their response headers, without taking a slot yet: call
    /// [`Limiter::reserve`] next.
    pub(crate) async fn enqueue(
        &self,
        auth: Option<&str>,
        route: RouteInfo,
    ) -> Result<Ticket, RestError> {
        let token = auth.map(strip_token_prefix).filter(|t| !t.is_empty());
        let fp = token.map(Self::fingerprint);
        let (queue, scope, global) = match (token, fp) {
            (Some(token), Some(fp)) => {
                if lock(&self.locked).contains(&fp) {
                    return Err(RestError::TokenLocked);
                }
                let ts = self.token_state(token, fp);
                let queue = queue_of(&ts.queues, &route);
                (queue, ts.scope.clone(), (ts.global_key.clone(), ts.global))
            }
            _ => {
                let ts = self.token_state("", 0);
                let queue = queue_of(&ts.queues, &route);
                let global = (self.ip.1.clone(), self.cfg.global_per_ip);
                (queue, self.ip.0.clone(), global)
            }
        };
        let limit = match self.cfg.wait {
            WaitMode::Queue { max_wait } => max_wait,
            WaitMode::FailFast => FAIL_FAST_QUEUE,
        };
        let waiting = queue.load.wait();
        // the timer is armed only when the queue is busy
        let guard = match queue.order.clone().try_lock_owned() {
            Ok(g) => g,
            Err(_) => match tokio::time::timeout(limit, queue.order.lock_owned()).await {
                Ok(g) => g,
                Err(_) => return Err(self.refuse(limit, false)),
            },
        };
        Ok(Ticket {
            _queue: guard,
            load: queue.load,
            waiting: Some(waiting),
            scope,
            global: (!route.global_exempt).then_some(global),
            token: fp,
            slot: 0,
            route,
            queued: Duration::ZERO,
        })
    }

    fn refuse(&self, retry_after: Duration, global: bool) -> RestError {
        self.counts.synthetic_429.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchyard_rest_synthetic_429_total").increment(1);
        RestError::RateLimited {
            retry_after,
            global,
        }
    }

    fn ask<'a>(&self, t: &'a Ticket) -> Ask<'a> {
        Ask {
            scope: &t.scope,
            route: &t.route.key,
            major: &t.route.major,
            global: t
                .global
                .as_ref()
                .map(|(k, r)| (&**k, r.limit, r.window.as_millis() as u64)),
            margin_ms: self.cfg.margin.as_millis() as u64,
            probe_ttl_ms: self.cfg.probe_ttl.as_millis() as u64,
            slot: t.slot,
        }
    }

    /// Waits for a slot for a ticket already in its queue (again, for a retry). `started` is
    /// when the request arrived; the wait counts toward the maximum from there.
    pub(crate) async fn reserve(
        &self,
        ticket: &mut Ticket,
        started: Instant,
    ) -> Result<(), RestError> {
        if ticket.waiting.is_none() {
            ticket.waiting = Some(ticket.load.wait());
        }
        loop {
            ticket.slot = self.slots.fetch_add(1, Ordering::Relaxed);
            let decision = self.store.acquire(&self.ask(ticket)).await?;
            match decision {
                Decision::Go { .. } => {
                    ticket.waiting = None;
                    ticket.load.sent();
                    ticket.queued = started.elapsed();
                    self.counts.sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Decision::Wait { ms, global, probe } => {
                    let wait = Duration::from_millis(ms);
                    if probe {
                        let limit = match self.cfg.wait {
                            WaitMode::Queue { max_wait } => max_wait,
                            WaitMode::FailFast => self.cfg.probe_ttl,
                        };
                        if started.elapsed() > limit {
                            return Err(self.refuse(wait, false));
                        }
                        tokio::time::sleep(wait.min(PROBE_POLL)).await;
                        continue;
                    }
                    match self.cfg.wait {
                        WaitMode::FailFast => return Err(self.refuse(wait, global)),
                        WaitMode::Queue { max_wait } if started.elapsed() + wait > max_wait => {
                            return Err(self.refuse(wait, global));
                        }
                        WaitMode::Queue { .. } => tokio::time::sleep(wait).await,
                    }
                }
            }
        }
    }

    /// Records the response to a ticket's request: teaches the store, counts 429s and the
    /// invalid-request budget, and locks the token on a 401. Returns what it read, so that the
    /// caller can decide to retry a 429.
    pub(crate) async fn complete(
        &self,
        ticket: &Ticket,
        seen: &Observed,
        status: u16,
        shared: bool,
    ) {
        if status == 429 {
            self.counts.upstream_429.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(
                "switchyard_rest_upstream_429_total",
                "route" => ticket.route.key.clone(),
                "global" => if seen.global { "true" } else { "false" },
            )
            .increment(1);
            tracing::warn!(route = %ticket.route.key, global = seen.global, retry_after_ms = ?seen.retry_after_ms, "upstream answered 429");
        }
        self.budget.record(status, shared);
        if status == 401
            && !ticket.route.token_route
            && let Some(fp) = ticket.token
        {
            let mut locked = lock(&self.locked);
            if locked.insert(fp) {
                tracing::error!(
                    scope = %ticket.scope,
                    "Discord answered 401: this token is invalid; it is locked and further requests with it are refused by the proxy"
                );
            }
            metrics::gauge!("switchyard_rest_tokens_locked").set(locked.len() as f64);
        }
        if let Err(e) = self.store.observe(&self.ask(ticket), seen).await {
            tracing::warn!(error = %e, "cannot record rate-limit headers");
        }
    }

    /// Unlocks a token locked after a 401 (an Authorization value or a bare token).
    pub fn unlock(&self, auth: &str) -> bool {
        lock(&self.locked).remove(&Self::fingerprint(strip_token_prefix(auth)))
    }

    /// Counters for `/status`.
    pub fn stats(&self) -> LimiterStats {
        // before the fields below, whose lock guards live until the end of the expression
        let queued = self.buckets().iter().map(|b| b.waiting).sum();
        LimiterStats {
            limiters: lock(&self.tokens).len(),
            locked_tokens: lock(&self.locked).len(),
            sent: self.counts.sent.load(Ordering::Relaxed),
            upstream_429: self.counts.upstream_429.load(Ordering::Relaxed),
            synthetic_429: self.counts.synthetic_429.load(Ordering::Relaxed),
            invalid_10m: self.budget.used(),
            invalid_warning: self.budget.warning(),
            store: match &self.store {
                Store::Local(_) => "local",
                Store::Redis(s) if s.falling_back() => "redis-unreachable",
                Store::Redis(_) => "redis",
            },
            nodes: match &self.store {
                Store::Local(_) => 1,
                Store::Redis(s) => s.nodes(),
            },
            buckets: match &self.store {
                Store::Local(s) => s.sizes().buckets,
                Store::Redis(_) => 0,
            },
            queued,
        }
    }

    /// Every bucket queue alive, summed over tokens: requests sent and waiting, by route
    /// and major parameter (unordered).
    pub fn buckets(&self) -> Vec<BucketLoad> {
        let mut by: HashMap<(String, String), (u64, u64)> = HashMap::new();
        for ts in lock(&self.tokens).values() {
            for ((route, major), q) in lock(&ts.queues).iter() {
                let (sent, waiting) = q.load.figures();
                let sum = by.entry((route.clone(), major.clone())).or_default();
                *sum = (sum.0 + sent, sum.1 + waiting);
            }
        }
        by.into_iter()
            .map(|((route, major), (sent, waiting))| BucketLoad {
                route,
                major,
                sent,
                waiting,
            })
            .collect()
    }

    /// Drops per-token limiters idle for longer than `idle_evict` (and their empty queues),
    /// and stale local store entries.
    pub(crate) fn evict_idle(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        let idle = self.cfg.idle_evict.as_millis() as u64;
        let mut tokens = lock(&self.tokens);
        tokens.retain(|_, ts| {
            let mut queues = lock(&ts.queues);
            queues.retain(|_, q| Arc::strong_count(&q.order) > 1);
            !queues.is_empty() || now.saturating_sub(ts.last_used.load(Ordering::Relaxed)) < idle
        });
        metrics::gauge!("switchyard_rest_limiters").set(tokens.len() as f64);
        drop(tokens);
        self.store.sweep();
    }
}

async fn evict_loop(weak: Weak<Limiter>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match weak.upgrade() {
            Some(l) => l.evict_idle(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_finds_its_queue_again() {
        let queues = Mutex::new(Queues::default());
        let a = RouteInfo::classify("GET", "/channels/1");
        let b = RouteInfo::classify("GET", "/channels/2");
        let qa = queue_of(&queues, &a);
        assert!(Arc::ptr_eq(&qa.order, &queue_of(&queues, &a).order));
        assert!(!Arc::ptr_eq(&qa.order, &queue_of(&queues, &b).order));
        assert_eq!(lock(&queues).len(), 2);
    }
}
