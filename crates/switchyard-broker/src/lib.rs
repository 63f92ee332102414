//! The [`Broker`] abstraction and its backends.
//!
//! A broker moves [`Message`]s from publishers to subscribers by topic. Subscriptions take a
//! [`Pattern`] with NATS semantics (`*` one segment, `>` one or more trailing segments), and
//! every backend delivers exactly the same set of messages for a pattern.
//!
//! - [`embedded`]: in-process fan-out, the default; it also speaks the Redis pub/sub protocol
//!   on a local port ([`embedded::resp`]) so consumers in any language can use it.
//! - [`redis`]: real Redis pub/sub, or Redis Streams consumer groups in durable mode.
//! - [`nats`]: core NATS subjects and queue groups, or JetStream in durable mode.
//! - [`zmq`]: another Switchyard's ZeroMQ endpoints ([`embedded::zmq`]), plain fan-out only.
//!
//! Pick one from a URL with [`connect`] (`embedded`, `redis://…`, `rediss://…`, `nats://…`, `zmq://…`,
//! see [`BrokerUrl`]). Beside the broker, [`kv`] is a small key-value store (file, Redis,
//! NATS KV) with compare-and-set and expiry for sessions and leases.
//!
//! # Delivery guarantees
//!
//! - [`Broker::subscribe`] and [`Broker::subscribe_group`] are **at-most-once** on every
//!   backend: a message published while a subscriber is disconnected (or while the broker
//!   restarts) is not delivered to it later, and nothing is acknowledged.
//! - [`Broker::subscribe_durable`] (Redis Streams mode, NATS JetStream mode) is
//!   **at-least-once**: each message stays with the broker until a group member acknowledges
//!   it, survives consumer crashes and broker restarts, and goes to a dead-letter stream after
//!   `max_deliver` deliveries. Publishing with [`Broker::publish_with_id`] drops a replayed
//!   duplicate on these backends.
//!
//! Backends declare their [`Capabilities`]; what one cannot do is an explicit
//! [`BrokerError::Unsupported`], never a quiet approximation.
//!
//! ```
//! # tokio_test_block_on(async {
//! use switchyard_broker::{Broker, embedded::EmbeddedBroker};
//! let broker = EmbeddedBroker::new(Default::default());
//! let mut sub = broker.subscribe(&"inbound.discord.>".parse()?).await?;
//! broker.publish(&"inbound.discord.1.2.3".parse()?, "hi".into()).await?;
//! let msg = sub.recv().await.expect("delivered");
//! assert_eq!(&msg.payload[..], b"hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

pub mod dead_letters;
pub mod embedded;
mod error;
mod groups;
pub mod keyed;
pub mod kv;
pub mod nats;
mod options_keys;
pub mod redis;
mod retry;
mod select;
mod subscription;
mod url;
pub mod zmq;
mod zmtp;

use async_trait::async_trait;
use bytes::Bytes;
pub use switchyard_core::{Pattern, Topic};

pub use dead_letters::{DeadLetter, DeadLetterFilter, DeadLetterQueue, DeadLetters};
pub use error::BrokerError;
pub use groups::{GroupInfo, GroupMember};
pub use retry::RetryPolicy;
pub use select::{BrokerOptions, DurableOptions, connect};
pub use subscription::{Acker, Delivery, DurableSubscription, Subscription};
pub use url::{BrokerUrl, redact_url};

/// A message as delivered to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published on.
    pub topic: Topic,
    /// The payload, opaque bytes.
    pub payload: Bytes,
}

/// What a backend can do. A call outside these returns [`BrokerError::Unsupported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Every matching subscriber gets every message.
    pub fan_out: bool,
    /// Queue groups: each message goes to one member of a group.
    pub queue_groups: bool,
    /// Messages survive a consumer crash and a broker restart, with acknowledgements
    /// ([`Broker::subscribe_durable`]).
    pub durable: bool,
    /// Group members receive messages partitioned by a key such as the guild id
    /// ([`Broker::subscribe_keyed`]).
    pub keyed_partitioning: bool,
    /// A replayed message with the same id is dropped ([`Broker::publish_with_id`]).
    pub deduplication: bool,
}

/// What the broker said about one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Published {
    /// How many subscribers it reached, where the broker reports that (Redis, embedded).
    pub receivers: Option<usize>,
    /// The broker recognised the id as already published and dropped this copy.
    pub duplicate: bool,
}

/// Where the partition key of a keyed group comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKey {
    /// The topic segment at this index (0-based): for
    /// `inbound.discord.{guild}.{channel}.{user}` the guild is segment 2.
    Segment(usize),
}

impl PartitionKey {
    /// The guild id of the default inbound and outbound topic schemes.
    pub const DISCORD_GUILD: PartitionKey = PartitionKey::Segment(2);

    /// The key of `topic`; topics without the segment share the empty key.
    pub fn key_of<'t>(&self, topic: &'t Topic) -> &'t str {
        match *self {
            PartitionKey::Segment(i) => topic.segments().nth(i).unwrap_or(""),
        }
    }
}

/// One message of [`Broker::publish_batch_with_ids`].
#[derive(Debug, Clone)]
pub struct IdPublish<'a> {
    /// Where it is published.
    pub topic: &'a Topic,
    /// What is published.
    pub payload: Bytes,
    /// Its deduplication id.
    pub id: &'a str,
}

/// A message broker backend.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// The backend's name for logs and errors, such as `embedded` or `redis`.
    fn backend(&self) -> &'static str;

    /// What this backend supports.
    fn capabilities(&self) -> Capabilities;

    /// Publishes `payload` on `topic`. On the pipelined backends this returns once the message
    /// is queued for sending; a failure later is counted and logged (at-most-once).
    async fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError>;

    /// Waits until everything published so far through this broker has reached the broker
    /// (left this process's buffers). A process that saves how far it got, as the gateway
    /// saves its sequences, calls it first, so that what it saved was delivered. The embedded
    /// broker delivers as it publishes: nothing to wait for.
    async fn flush(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    /// Publishes and waits for the broker's answer, in order with [`Broker::publish`].
    async fn publish_confirmed(
        &self,
        topic: &Topic,
        payload: Bytes,
    ) -> Result<Published, BrokerError> {
        self.publish(topic, payload).await?;
        Ok(Published::default())
    }

    /// Publishes with a deduplication id (the envelope's deterministic `id`): a second publish
    /// with the same id within the backend's window is dropped and reported as a duplicate.
    async fn publish_with_id(
        &self,
        _topic: &Topic,
        _payload: Bytes,
        _id: &str,
    ) -> Result<Published, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: self.backend(),
            what: "deduplication by message id",
        })
    }

    /// Publishes each of `items` with its deduplication id, in order, and answers for each in
    /// the same order. The pipelining backends send them all before waiting for the first
    /// answer, so that a batch costs about one round trip rather than one per message; the
    /// default publishes them one after another.
    async fn publish_batch_with_ids(
        &self,
        items: &[IdPublish<'_>],
    ) -> Vec<Result<Published, BrokerError>> {
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            answers.push(
                self.publish_with_id(item.topic, item.payload.clone(), item.id)
                    .await,
            );
        }
        answers
    }

    /// Subscribes to every topic `pattern` matches. Dropping the subscription unsubscribes.
    /// At-most-once.
    async fn subscribe(&self, pattern: &Pattern) -> Result<Subscription, BrokerError>;

    /// Joins the queue group `group` for `pattern`: each matching message goes to exactly one
    /// member of the group. Dropping the subscription leaves the group. At-most-once.
    async fn subscribe_group(
        &self,
        pattern: &Pattern,
        group: &str,
    ) -> Result<Subscription, BrokerError>;

    /// Joins the durable worker group `group` for `pattern`: each message goes to one member
    /// and is redelivered until acknowledged. The group starts with the messages published
    /// after it was first created, and keeps its place across restarts.
    async fn subscribe_durable(
        &self,
        _pattern: &Pattern,
        _group: &str,
    ) -> Result<DurableSubscription, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: self.backend(),
            what: "durable subscriptions (use redis with durable=streams or nats with durable=jetstream)",
        })
    }

    /// Joins the keyed group `group`: like [`Broker::subscribe_group`], but every message with
    /// the same key goes to the same member while membership is stable; when a member leaves,
    /// its keys move to the others. At-most-once; see [`keyed`] for how members agree.
    async fn subscribe_keyed(
        &self,
        _pattern: &Pattern,
        _group: &str,
        _key: PartitionKey,
    ) -> Result<Subscription, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: self.backend(),
            what: "keyed partitioning",
        })
    }

    /// The dead-letter streams of durable mode, where a durable group's messages go after
    /// `max_deliver` deliveries; see [`dead_letters`].
    fn dead_letters(&self) -> Result<&dyn DeadLetters, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: self.backend(),
            what: "dead letters: only durable mode keeps them (redis with durable=streams, nats with durable=jetstream)",
        })
    }

    /// The durable groups the broker keeps, read from the broker itself: see [`GroupInfo`].
    async fn durable_groups(&self) -> Result<Vec<GroupInfo>, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: self.backend(),
            what: "durable groups: only durable mode keeps them (redis with durable=streams, nats with durable=jetstream)",
        })
    }

    /// Joins the durable keyed group `group`: every message with the same key goes to the
    /// same member while membership is stable, each is redelivered until acknowledged, and
    /// when a member leaves its keys move to the others without losing a message. See
    /// [`keyed`] for the cost.
    async fn subscribe_keyed_durable(
        &self,
        _pattern: &Pattern,
        _group: &str,
        _key: PartitionKey,
    ) -> Result<DurableSubscription, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: self.backend(),
            what: "durable keyed groups (use redis with durable=streams or nats with durable=jetstream)",
        })
    }
}

/// Checks a group name: letters, digits, `-` and `_`.
pub(crate) fn check_group(group: &str) -> Result<(), BrokerError> {
    if group.is_empty()
        || group.len() > 64
        || !group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(BrokerError::InvalidGroup(group.to_owned()));
    }
    Ok(())
}
