//! The hub behind [`EmbeddedBroker`](super::EmbeddedBroker): the subscription index, the
//! subscribers' bounded queues, queue groups, and drop accounting.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use foldhash::HashMap;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::EmbeddedConfig;
use super::redis_side::RedisSide;
use super::trie::{Node, SubId};
use super::zmq::side::ZmqSide;
use crate::{BrokerError, Message, Pattern, Topic};

/// Counters of the embedded broker, for status pages and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Live Broker-API subscriptions.
    pub subscriptions: usize,
    /// Messages published.
    pub published: u64,
    /// Deliveries made (one message to two subscribers is two).
    pub delivered: u64,
    /// Deliveries dropped because a subscriber's buffer was full.
    pub dropped: u64,
}

struct Sub {
    pattern: Pattern,
    group: Option<Arc<str>>,
    tx: mpsc::Sender<Message>,
    dropped: AtomicU64,
}

struct Group {
    members: usize,
    next: AtomicUsize,
}

#[derive(Default)]
pub(crate) struct State {
    trie: Node,
    subs: HashMap<SubId, Sub>,
    groups: HashMap<Arc<str>, Group>,
    pub(crate) redis: RedisSide,
    pub(crate) zmq: ZmqSide,
}

pub(crate) struct Hub {
    config: EmbeddedConfig,
    state: RwLock<State>,
    next_id: AtomicU64,
    published: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    metric_published: metrics::Counter,
    metric_delivered: metrics::Counter,
    metric_dropped: metrics::Counter,
    metric_zmq_dropped: metrics::Counter,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("stats", &self.stats()).finish()
    }
}

impl Hub {
    pub(crate) fn new(config: EmbeddedConfig) -> Self {
        let labels = [("backend", "embedded")];
        Hub {
            config,
            state: RwLock::default(),
            next_id: AtomicU64::new(1),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            metric_published: metrics::counter!("switchyard_broker_published_total", &labels),
            metric_delivered: metrics::counter!("switchyard_broker_delivered_total", &labels),
            metric_dropped: metrics::counter!("switchyard_broker_dropped_total", &labels),
            metric_zmq_dropped: metrics::counter!("switchyard_zmq_dropped_total"),
        }
    }

    pub(crate) fn config(&self) -> &EmbeddedConfig {
        &self.config
    }

    /// Read access; a poisoned lock (a panic elsewhere while writing) still yields the state,
    /// which every writer leaves consistent between statements.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn add(
        &self,
        pattern: Pattern,
        group: Option<Arc<str>>,
        tx: mpsc::Sender<Message>,
    ) -> SubId {
        let id = self.next_id();
        let mut state = self.write();
        state.trie.insert(pattern.segments(), id);
        if let Some(name) = &group {
            state
                .groups
                .entry(Arc::clone(name))
                .or_insert_with(|| Group {
                    members: 0,
                    next: AtomicUsize::new(0),
                })
                .members += 1;
        }
        state.subs.insert(
            id,
            Sub {
                pattern,
                group,
                tx,
                dropped: AtomicU64::new(0),
            },
        );
        id
    }

    pub(crate) fn remove(&self, id: SubId) {
        let mut state = self.write();
        let Some(sub) = state.subs.remove(&id) else {
            return;
        };
        state.trie.remove(sub.pattern.segments(), id);
        if let Some(name) = &sub.group
            && let Some(group) = state.groups.get_mut(name)
        {
            group.members -= 1;
            if group.members == 0 {
                state.groups.remove(name);
            }
        }
    }

    fn check_size(&self, len: usize) -> Result<(), BrokerError> {
        if len > self.config.max_payload {
            return Err(BrokerError::TooLarge {
                backend: "embedded",
                size: len,
                max: self.config.max_payload,
            });
        }
        Ok(())
    }

    /// Publishes a Broker-API message; returns how many receivers it reached, counting
    /// Redis-protocol subscribers as Redis would.
    pub(crate) fn publish(&self, topic: &Topic, payload: Bytes) -> Result<usize, BrokerError> {
        self.check_size(payload.len())?;
        let state = self.read();
        let mut reached = self.deliver_api(&state, topic, &payload);
        if state.redis.has_subscribers() || state.zmq.has_subscribers() {
            let channel = Bytes::copy_from_slice(topic.as_str().as_bytes());
            reached += self.deliver_redis(&state, &channel, &payload);
            reached += self.deliver_zmq(&state, &channel, &payload);
        }
        self.count(reached);
        Ok(reached)
    }

    /// Publishes from the RESP listener: any bytes as channel name. Broker-API subscribers
    /// see it only when the channel is a valid topic.
    pub(crate) fn publish_raw(&self, channel: Bytes, payload: Bytes) -> Result<usize, BrokerError> {
        self.check_size(payload.len())?;
        let state = self.read();
        let mut reached = self.deliver_redis(&state, &channel, &payload);
        reached += self.deliver_zmq(&state, &channel, &payload);
        if !state.subs.is_empty()
            && let Ok(text) = std::str::from_utf8(&channel)
            && let Ok(topic) = Topic::new(text)
        {
            reached += self.deliver_api(&state, &topic, &payload);
        }
        self.count(reached);
        Ok(reached)
    }

    fn deliver_redis(&self, state: &State, channel: &Bytes, payload: &Bytes) -> usize {
        let out = state.redis.deliver(channel, payload);
        if out.dropped > 0 {
            let before = self
                .dropped
                .fetch_add(out.dropped as u64, Ordering::Relaxed);
            self.metric_dropped.increment(out.dropped as u64);
            let after = before + out.dropped as u64;
            // Log the first drop and then once per thousand, so a slow client cannot flood logs.
            if before == 0 || before / 1000 != after / 1000 {
                tracing::warn!(
                channel = %String::from_utf8_lossy(channel),
                dropped_total = after,
                "RESP client too slow; its buffer is full and messages for it are dropped"
                );
            }
        }
        out.reached
    }

    /// Delivers to the SUB connections of the ZeroMQ endpoint whose prefixes match.
    fn deliver_zmq(&self, state: &State, topic: &Bytes, payload: &Bytes) -> usize {
        if !state.zmq.has_subscribers() {
            return 0;
        }
        let (out, worst) = state.zmq.deliver(topic, payload);
        if out.dropped > 0 {
            self.dropped
                .fetch_add(out.dropped as u64, Ordering::Relaxed);
            self.metric_dropped.increment(out.dropped as u64);
            self.metric_zmq_dropped.increment(out.dropped as u64);
            // The first drop of a connection, then once per thousand.
            if let Some(n) = worst
                && (n == 1 || n.is_multiple_of(1000))
            {
                tracing::warn!(
                    topic = %String::from_utf8_lossy(topic),
                    dropped = n,
                    "ZeroMQ subscriber too slow; its queue is full (its high-water mark) and messages for it are dropped"
                );
            }
        }
        out.reached
    }

    fn count(&self, reached: usize) {
        self.published.fetch_add(1, Ordering::Relaxed);
        self.delivered.fetch_add(reached as u64, Ordering::Relaxed);
        self.metric_published.increment(1);
        self.metric_delivered.increment(reached as u64);
    }

    fn deliver_api(&self, state: &State, topic: &Topic, payload: &Bytes) -> usize {
        if state.subs.is_empty() {
            return 0;
        }
        let mut ids = Vec::new();
        state.trie.collect(topic.segments(), &mut ids);
        let message = || Message {
            topic: topic.clone(),
            payload: payload.clone(),
        };
        let mut reached = 0;
        let mut grouped: Vec<(&Arc<str>, SubId)> = Vec::new();
        for id in ids {
            let Some(sub) = state.subs.get(&id) else {
                continue;
            };
            match &sub.group {
                Some(name) => grouped.push((name, id)),
                None => {
                    if self.offer(sub, message()) {
                        reached += 1;
                    }
                }
            }
        }
        if grouped.is_empty() {
            return reached;
        }
        grouped.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        for members in grouped.chunk_by(|a, b| a.0 == b.0) {
            let Some(group) = state.groups.get(members[0].0) else {
                continue;
            };
            let start = group.next.fetch_add(1, Ordering::Relaxed);
            // Round robin; a member whose buffer is full passes its turn to the next one.
            let delivered = (0..members.len()).any(|i| {
                let (_, id) = members[(start + i) % members.len()];
                state
                    .subs
                    .get(&id)
                    .is_some_and(|sub| sub.tx.try_send(message()).is_ok())
            });
            if delivered {
                reached += 1;
            } else if let Some(sub) = state.subs.get(&members[0].1) {
                self.record_drop(sub);
            }
        }
        reached
    }

    /// Offers a message to one subscriber without waiting.
    fn offer(&self, sub: &Sub, message: Message) -> bool {
        match sub.tx.try_send(message) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.record_drop(sub);
                false
            }
            // The receiver is gone; its guard is removing it.
            Err(TrySendError::Closed(_)) => false,
        }
    }

    fn record_drop(&self, sub: &Sub) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.metric_dropped.increment(1);
        let n = sub.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(1000) {
            tracing::warn!(
                pattern = %sub.pattern,
                group = sub.group.as_deref().unwrap_or(""),
                dropped = n,
                "subscriber is too slow; its buffer is full and messages for it are dropped"
            );
        }
    }

    pub(crate) fn stats(&self) -> HubStats {
        HubStats {
            subscriptions: self.read().subs.len(),
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}
