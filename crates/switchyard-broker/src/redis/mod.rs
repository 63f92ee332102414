//! The Redis backend: plain pub/sub ([`RedisBroker`]) and durable Redis Streams consumer
//! groups ([`StreamsBroker`]).
//!
//! Plain pub/sub is **at-most-once**: Redis keeps nothing, so a subscriber that is
//! disconnected (or a broker that restarts) misses what is published meanwhile. Publishes are
//! pipelined on one multiplexed connection; each subscription has its own pub/sub
//! connection, with `PSUBSCRIBE` globs re-checked on the client so that the delivered set is
//! exactly the pattern's. Redis pub/sub has no queue groups: [`RedisBroker::subscribe_group`]
//! answers [`BrokerError::Unsupported`]; use [`StreamsBroker`] for worker groups.

mod beacon;
mod conn;
mod dead;
mod groups;
mod inspect;
pub(crate) mod persistence;
mod publisher;
mod streams;
mod streams_group;
mod subscriber;
mod trim;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    Broker, BrokerError, BrokerOptions, BrokerUrl, Capabilities, Pattern, Published, Subscription,
    Topic,
};
pub(crate) use conn::{RedisTarget, is_connection_error};
use publisher::{Outgoing, PublishCommand, Publisher};
pub use streams::StreamsBroker;
pub(crate) use streams::prefix_may_match;

/// Real Redis pub/sub. See the [module documentation](self) for its guarantees.
pub struct RedisBroker {
    target: Arc<RedisTarget>,
    publisher: Publisher,
    max_payload: usize,
    subscriber_buffer: usize,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("url", &self.target.url)
            .finish_non_exhaustive()
    }
}

/// `PUBLISH topic payload`, answered with the number of receivers.
struct PlainPublish;

impl PublishCommand for PlainPublish {
    fn add(&self, pipe: &mut redis::Pipeline, msg: &Outgoing) {
        pipe.cmd("PUBLISH")
            .arg(msg.topic.as_str())
            .arg(msg.payload.as_ref());
    }

    fn result(&self, value: redis::Value) -> Result<Published, BrokerError> {
        match value {
            redis::Value::Int(n) => Ok(Published {
                receivers: Some(usize::try_from(n).unwrap_or(0)),
                duplicate: false,
            }),
            redis::Value::ServerError(e) => Err(BrokerError::backend("redis", format!("{e:?}"))),
            other => Err(BrokerError::backend(
                "redis",
                format!("unexpected PUBLISH reply {other:?}"),
            )),
        }
    }
}

impl RedisBroker {
    /// Connects to `url` (`redis://…` or `rediss://…`), retrying per `options.retry`.
    pub async fn connect(url: &str, options: &BrokerOptions) -> Result<Self, BrokerError> {
        Self::from_url(&BrokerUrl::parse(url)?, options).await
    }

    pub(crate) async fn from_url(
        url: &BrokerUrl,
        options: &BrokerOptions,
    ) -> Result<Self, BrokerError> {
        let target = Arc::new(RedisTarget::new(url, options)?);
        let mut conn = target.first(|| target.multiplexed(false)).await?;
        let max_payload = conn::server_max_payload(&mut conn)
            .await
            .map_or(options.max_payload, |server| {
                server.min(options.max_payload)
            });
        let publisher = Publisher::spawn(
            Arc::clone(&target),
            conn,
            Arc::new(PlainPublish),
            options.outage_buffer,
        );
        tracing::debug!("connected to Redis at {}", target.url);
        Ok(RedisBroker {
            target,
            publisher,
            max_payload,
            subscriber_buffer: options.subscriber_buffer,
        })
    }

    /// Messages that could not be delivered to Redis so far (lost in an outage, beyond the
    /// outage buffer, or refused); also counted in `switchyard_broker_undeliverable_total`.
    pub fn undeliverable(&self) -> u64 {
        self.publisher.undeliverable()
    }

    /// The largest payload accepted: the configured limit or the server's
    /// `proto-max-bulk-len`, whichever is smaller.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    fn check_size(&self, payload: &Bytes) -> Result<(), BrokerError> {
        if payload.len() > self.max_payload {
            return Err(BrokerError::TooLarge {
                backend: "redis",
                size: payload.len(),
                max: self.max_payload,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Broker for RedisBroker {
    fn backend(&self) -> &'static str {
        "redis"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            fan_out: true,
            queue_groups: false,
            durable: false,
            keyed_partitioning: true,
            deduplication: false,
        }
    }

    async fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        self.check_size(&payload)?;
        self.publisher.send(topic, payload).await
    }

    async fn publish_confirmed(
        &self,
        topic: &Topic,
        payload: Bytes,
    ) -> Result<Published, BrokerError> {
        self.check_size(&payload)?;
        self.publisher.confirmed(topic, payload, None).await
    }

    async fn flush(&self) -> Result<(), BrokerError> {
        self.publisher.flush().await
    }

    async fn subscribe(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        subscriber::subscribe(Arc::clone(&self.target), pattern, self.subscriber_buffer).await
    }

    async fn subscribe_group(
        &self,
        _pattern: &Pattern,
        _group: &str,
    ) -> Result<Subscription, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: "redis",
            what: "queue groups on plain pub/sub (use durable=streams for consumer groups)",
        })
    }

    async fn subscribe_keyed(
        &self,
        pattern: &Pattern,
        group: &str,
        key: crate::PartitionKey,
    ) -> Result<Subscription, BrokerError> {
        let source = self.subscribe(pattern).await?;
        let beacon = Arc::new(beacon::RedisBeacon::new(Arc::clone(&self.target)));
        crate::keyed::plain(beacon, source, group, key, self.subscriber_buffer).await
    }
}
