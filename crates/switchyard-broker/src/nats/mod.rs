//! The NATS backend: core subjects for fan-out and queue groups for worker groups, and
//! JetStream ([`jetstream`]) for durable, acknowledged delivery with `?durable=jetstream`.
//!
//! Written for nats-server 2.9 (async-nats without the `server_2_10`+ features). Core NATS is
//! **at-most-once**: a subscriber that is disconnected misses what is published meanwhile.
//! The client reconnects on its own with the configured backoff and subscribes again;
//! publishes made while it is disconnected wait in its buffer (`outage_buffer` messages).
//! Topics map one to one onto subjects, and patterns onto NATS wildcards, which have the same
//! meaning.

pub(crate) mod connect;
mod dead;
pub mod jetstream;
pub(crate) mod version;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::subscription::AbortOnDrop;
use crate::{
    Broker, BrokerError, BrokerOptions, BrokerUrl, Capabilities, DurableSubscription, IdPublish,
    Message, Pattern, Published, Subscription, Topic,
};
use jetstream::JetStream;

/// Subjects of subscription barriers, never delivered to subscribers.
const SYNC_PREFIX: &str = "_SY_SYNC.";

/// NATS, core or JetStream. See the [module documentation](self).
pub struct NatsBroker {
    client: async_nats::Client,
    url: String,
    subscriber_buffer: usize,
    max_payload: usize,
    jetstream: Option<Arc<JetStream>>,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("url", &self.url)
            .field("jetstream", &self.jetstream.is_some())
            .finish_non_exhaustive()
    }
}

impl NatsBroker {
    /// Connects to `url` (`nats://…`); JetStream mode with `?durable=jetstream` or
    /// `options.durable.enabled`.
    pub async fn connect(url: &str, options: &BrokerOptions) -> Result<Self, BrokerError> {
        let url = BrokerUrl::parse(url)?;
        let mut options = options.clone();
        options.durable.apply_url(&url)?;
        Self::from_url(&url, &options).await
    }

    pub(crate) async fn from_url(
        url: &BrokerUrl,
        options: &BrokerOptions,
    ) -> Result<Self, BrokerError> {
        let client = connect::connect(url, options).await?;
        let server_max = client.server_info().max_payload;
        let max_payload = server_max.min(options.max_payload);
        let jetstream = if options.durable.enabled {
            Some(Arc::new(
                JetStream::open(
                    client.clone(),
                    url.redacted(),
                    &options.durable,
                    options.retry,
                )
                .await?,
            ))
        } else {
            None
        };
        Ok(NatsBroker {
            client,
            url: url.redacted(),
            subscriber_buffer: options.subscriber_buffer,
            max_payload,
            jetstream,
        })
    }

    /// The largest payload accepted: the server's `max_payload` or the configured limit.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    fn check_size(&self, payload: &Bytes) -> Result<(), BrokerError> {
        if payload.len() > self.max_payload {
            return Err(BrokerError::TooLarge {
                backend: self.backend(),
                size: payload.len(),
                max: self.max_payload,
            });
        }
        Ok(())
    }

    /// Waits until the server has processed everything this connection sent so far (a
    /// request on a subject nobody listens to comes back as "no responders").
    async fn barrier(&self) -> Result<(), BrokerError> {
        let subject = format!("{SYNC_PREFIX}{}", self.client.new_inbox());
        match self.client.request(subject, Bytes::new()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => Ok(()),
            Err(e) => Err(BrokerError::Disconnected {
                backend: self.backend(),
                detail: format!("{}: {e}", self.url),
            }),
        }
    }

    async fn forward(
        &self,
        subscriber: async_nats::Subscriber,
    ) -> Result<Subscription, BrokerError> {
        self.barrier().await?;
        Ok(pump(subscriber, self.subscriber_buffer))
    }

    fn publish_error(&self, e: impl std::fmt::Display) -> BrokerError {
        BrokerError::Disconnected {
            backend: self.backend(),
            detail: format!("{}: {e}", self.url),
        }
    }
}

#[async_trait]
impl Broker for NatsBroker {
    fn backend(&self) -> &'static str {
        if self.jetstream.is_some() {
            "nats-jetstream"
        } else {
            "nats"
        }
    }

    async fn durable_groups(&self) -> Result<Vec<crate::GroupInfo>, BrokerError> {
        match &self.jetstream {
            Some(js) => js.durable_groups().await,
            None => Err(BrokerError::Unsupported {
                backend: "nats",
                what: "durable groups: core NATS keeps none; JetStream mode (durable=jetstream) does",
            }),
        }
    }

    fn dead_letters(&self) -> Result<&dyn crate::DeadLetters, BrokerError> {
        match &self.jetstream {
            Some(js) => Ok(js.dead_letters()),
            None => Err(BrokerError::Unsupported {
                backend: "nats",
                what: "dead letters: core NATS delivers at most once and keeps nothing; JetStream mode (durable=jetstream) keeps them",
            }),
        }
    }

    fn capabilities(&self) -> Capabilities {
        let durable = self.jetstream.is_some();
        Capabilities {
            fan_out: true,
            queue_groups: true,
            durable,
            keyed_partitioning: true,
            deduplication: durable,
        }
    }

    async fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        self.check_size(&payload)?;
        if let Some(js) = &self.jetstream {
            return js.publish(topic, payload, None).await.map(|_| ());
        }
        self.client
            .publish(topic.as_str().to_owned(), payload)
            .await
            .map_err(|e| self.publish_error(e))
    }

    async fn flush(&self) -> Result<(), BrokerError> {
        // A round trip behind everything sent so far (JetStream publishes are acknowledged
        // one by one already).
        self.barrier().await
    }

    async fn publish_confirmed(
        &self,
        topic: &Topic,
        payload: Bytes,
    ) -> Result<Published, BrokerError> {
        self.check_size(&payload)?;
        if let Some(js) = &self.jetstream {
            return js.publish(topic, payload, None).await;
        }
        self.client
            .publish(topic.as_str().to_owned(), payload)
            .await
            .map_err(|e| self.publish_error(e))?;
        // A round trip: the server has taken the message.
        self.barrier().await?;
        Ok(Published::default())
    }

    async fn publish_with_id(
        &self,
        topic: &Topic,
        payload: Bytes,
        id: &str,
    ) -> Result<Published, BrokerError> {
        self.check_size(&payload)?;
        match &self.jetstream {
            Some(js) => js.publish(topic, payload, Some(id)).await,
            None => Err(BrokerError::Unsupported {
                backend: "nats",
                what: "deduplication by message id on core NATS (use durable=jetstream)",
            }),
        }
    }

    async fn publish_batch_with_ids(
        &self,
        items: &[IdPublish<'_>],
    ) -> Vec<Result<Published, BrokerError>> {
        let Some(js) = &self.jetstream else {
            let mut answers = Vec::with_capacity(items.len());
            for item in items {
                answers.push(
                    self.publish_with_id(item.topic, item.payload.clone(), item.id)
                        .await,
                );
            }
            return answers;
        };
        js.publish_batch(items, |payload| self.check_size(payload))
            .await
    }

    async fn subscribe(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        let subscriber = self
            .client
            .subscribe(pattern.to_nats_subject().to_owned())
            .await
            .map_err(|e| self.publish_error(e))?;
        self.forward(subscriber).await
    }

    async fn subscribe_group(
        &self,
        pattern: &Pattern,
        group: &str,
    ) -> Result<Subscription, BrokerError> {
        crate::check_group(group)?;
        let subscriber = self
            .client
            .queue_subscribe(pattern.to_nats_subject().to_owned(), group.to_owned())
            .await
            .map_err(|e| self.publish_error(e))?;
        self.forward(subscriber).await
    }

    async fn subscribe_durable(
        &self,
        pattern: &Pattern,
        group: &str,
    ) -> Result<DurableSubscription, BrokerError> {
        crate::check_group(group)?;
        match &self.jetstream {
            Some(js) => js.subscribe(pattern, group, self.subscriber_buffer).await,
            None => Err(BrokerError::Unsupported {
                backend: "nats",
                what: "durable subscriptions on core NATS (use durable=jetstream)",
            }),
        }
    }

    async fn subscribe_keyed(
        &self,
        pattern: &Pattern,
        group: &str,
        key: crate::PartitionKey,
    ) -> Result<Subscription, BrokerError> {
        let source = self.subscribe(pattern).await?;
        let beacon = Arc::new(NatsBeacon(self.client.clone()));
        crate::keyed::plain(beacon, source, group, key, self.subscriber_buffer).await
    }

    async fn subscribe_keyed_durable(
        &self,
        pattern: &Pattern,
        group: &str,
        key: crate::PartitionKey,
    ) -> Result<DurableSubscription, BrokerError> {
        let Some(js) = &self.jetstream else {
            return Err(BrokerError::Unsupported {
                backend: "nats",
                what: "durable keyed groups on core NATS (use durable=jetstream)",
            });
        };
        let (js, pattern_owned, buffer) = (Arc::clone(js), pattern.clone(), self.subscriber_buffer);
        let open: crate::keyed::OpenPartition = Arc::new(move |group: String| {
            let (js, pattern) = (Arc::clone(&js), pattern_owned.clone());
            Box::pin(async move { js.subscribe(&pattern, &group, buffer).await })
        });
        let beacon = Arc::new(NatsBeacon(self.client.clone()));
        crate::keyed::durable(beacon, open, group, key, self.subscriber_buffer).await
    }
}

/// Keyed-group heartbeats on core NATS subjects (never stored by JetStream: the beacon
/// subjects lie outside the stream's prefixes).
struct NatsBeacon(async_nats::Client);

#[async_trait]
impl crate::keyed::Beacon for NatsBeacon {
    async fn announce(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        let error = |e: String| BrokerError::Disconnected {
            backend: "nats",
            detail: e,
        };
        self.0
            .publish(topic.as_str().to_owned(), payload)
            .await
            .map_err(|e| error(e.to_string()))?;
        // A goodbye must leave before the connection closes.
        self.0.flush().await.map_err(|e| error(e.to_string()))
    }

    async fn listen(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        let subscriber = self
            .0
            .subscribe(pattern.to_nats_subject().to_owned())
            .await
            .map_err(|e| BrokerError::Disconnected {
                backend: "nats",
                detail: e.to_string(),
            })?;
        Ok(pump(subscriber, 256))
    }
}

/// Hands a NATS subscriber's messages to a [`Subscription`] (skipping barrier replies and
/// subjects that are not valid topics) until either side goes away.
fn pump(mut subscriber: async_nats::Subscriber, buffer: usize) -> Subscription {
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let task = tokio::spawn(async move {
        while let Some(msg) = subscriber.next().await {
            if msg.subject.starts_with(SYNC_PREFIX) {
                continue;
            }
            let Ok(topic) = Topic::new(msg.subject.as_str()) else {
                continue;
            };
            let message = Message {
                topic,
                payload: msg.payload,
            };
            if tx.send(message).await.is_err() {
                return;
            }
        }
    });
    Subscription::new(rx, AbortOnDrop(task))
}

impl NatsBroker {
    /// The underlying client (shared by clones).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}
