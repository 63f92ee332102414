//! The embedded broker: in-process fan-out with a bounded buffer per subscriber, and the
//! Redis-semantics side that the [`resp`] listener serves, and the ZeroMQ endpoints
//! ([`zmq`]).
//!
//! A slow subscriber never blocks the publisher or anyone else: when its buffer is full the
//! message is dropped for that subscriber only, and the drop is counted
//! (`switchyard_broker_dropped_total`), logged, and visible on the subscription's stats.

pub mod glob;
mod hub;
mod redis_side;
pub mod resp;
mod trie;
pub mod zmq;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::{Broker, BrokerError, Capabilities, Pattern, Subscription, Topic};
pub(crate) use hub::Hub;
pub use hub::HubStats;
pub use redis_side::{RespClientId, RespDelivery};

/// Buffer sizes and limits of the embedded broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// Messages buffered per subscriber before drops begin.
    pub subscriber_buffer: usize,
    /// The largest payload accepted, in bytes.
    pub max_payload: usize,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            subscriber_buffer: 4096,
            max_payload: 8 * 1024 * 1024,
        }
    }
}

/// The embedded, in-process broker. Cheap to clone; clones share one hub.
#[derive(Clone, Debug)]
pub struct EmbeddedBroker {
    hub: Arc<Hub>,
}

impl EmbeddedBroker {
    /// A new, empty broker.
    pub fn new(config: EmbeddedConfig) -> Self {
        EmbeddedBroker {
            hub: Arc::new(Hub::new(config)),
        }
    }

    /// Publishes without awaiting (the embedded broker never waits) and returns how many
    /// receivers the message reached. [`Broker::publish`] does the same behind the trait.
    pub fn try_publish(&self, topic: &Topic, payload: Bytes) -> Result<usize, BrokerError> {
        self.hub.publish(topic, payload)
    }

    /// Counters for status pages and tests.
    pub fn stats(&self) -> HubStats {
        self.hub.stats()
    }

    /// The shared hub, for the RESP listener.
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    fn subscribe_inner(
        &self,
        pattern: &Pattern,
        group: Option<&str>,
    ) -> Result<Subscription, BrokerError> {
        if let Some(group) = group {
            crate::check_group(group)?;
        }
        let (tx, rx) = mpsc::channel(self.hub.config().subscriber_buffer.max(1));
        let id = self.hub.add(pattern.clone(), group.map(Arc::from), tx);
        Ok(Subscription::new(
            rx,
            Unsubscribe {
                hub: Arc::clone(&self.hub),
                id,
            },
        ))
    }
}

/// Removes a subscription from the hub when dropped.
struct Unsubscribe {
    hub: Arc<Hub>,
    id: trie::SubId,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.hub.remove(self.id);
    }
}

#[async_trait]
impl Broker for EmbeddedBroker {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    fn dead_letters(&self) -> Result<&dyn crate::DeadLetters, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: "embedded",
            what: "dead letters: it hands each message to the subscribers connected at the time (at-most-once, no acknowledgements) and keeps nothing; dead letters exist in durable mode (redis with durable=streams, nats with durable=jetstream)",
        })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            fan_out: true,
            queue_groups: true,
            durable: false,
            keyed_partitioning: true,
            deduplication: false,
        }
    }

    async fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        self.hub.publish(topic, payload).map(|_| ())
    }

    async fn publish_confirmed(
        &self,
        topic: &Topic,
        payload: Bytes,
    ) -> Result<crate::Published, BrokerError> {
        let reached = self.hub.publish(topic, payload)?;
        Ok(crate::Published {
            receivers: Some(reached),
            duplicate: false,
        })
    }

    async fn subscribe(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        self.subscribe_inner(pattern, None)
    }

    async fn subscribe_group(
        &self,
        pattern: &Pattern,
        group: &str,
    ) -> Result<Subscription, BrokerError> {
        self.subscribe_inner(pattern, Some(group))
    }

    async fn subscribe_keyed(
        &self,
        pattern: &Pattern,
        group: &str,
        key: crate::PartitionKey,
    ) -> Result<Subscription, BrokerError> {
        let source = self.subscribe_inner(pattern, None)?;
        let buffer = self.hub.config().subscriber_buffer;
        crate::keyed::plain(Arc::new(self.clone()), source, group, key, buffer).await
    }
}

#[async_trait]
impl crate::keyed::Beacon for EmbeddedBroker {
    async fn announce(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        self.hub.publish(topic, payload).map(|_| ())
    }

    async fn listen(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        self.subscribe_inner(pattern, None)
    }
}

#[cfg(test)]
mod tests;
