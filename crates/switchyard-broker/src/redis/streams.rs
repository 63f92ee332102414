//! Redis Streams mode (`redis://…?durable=streams`): durable delivery through consumer
//! groups.
//!
//! - One stream per configured topic prefix (`{name}:stream:{prefix}`), the full topic
//!   stored as a field beside the payload, trimmed to about `max_len` entries (`MAXLEN ~`).
//! - [`Broker::subscribe`] reads the streams from the moment it subscribed (`XREAD`) and
//!   filters by pattern on the client; after a lost connection it continues from the last
//!   entry it saw.
//! - [`Broker::subscribe_group`] and [`Broker::subscribe_durable`] use one consumer group per
//!   group name; see [`super::streams_group`] for acknowledgements, redelivery (`XAUTOCLAIM`)
//!   and the dead-letter stream.
//! - A group that falls `max_len` entries behind loses the oldest of its unread ones to the
//!   trim; [`super::trim`] reports them (a warning and a metric), never silently.
//! - [`Broker::publish_with_id`] is idempotent: a Lua script sets `{name}:dedup:{id}` (NX,
//!   expiring after the dedup window) and appends only if it was not set.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::beacon::RedisBeacon;
use super::conn::{self, RedisTarget, is_connection_error};
use super::dead::RedisDeadLetters;
use super::inspect::Inspector;
use super::publisher::{Outgoing, PublishCommand, Publisher};
use super::streams_group::{self, GroupMode};
use crate::subscription::AbortOnDrop;
use crate::{
    Broker, BrokerError, BrokerOptions, BrokerUrl, Capabilities, DurableOptions,
    DurableSubscription, IdPublish, Message, Pattern, Published, Subscription, Topic,
};
use switchyard_core::topic::Segment;

/// Appends a message unless its id was seen within the window.
const DEDUP_SCRIPT: &str = "if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then \
     return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'topic', ARGV[3], 'payload', ARGV[4]) \
     end return false";

/// Redis Streams with consumer groups; the module documentation says how they are used.
pub struct StreamsBroker {
    target: Arc<RedisTarget>,
    publisher: Publisher,
    durable: Arc<DurableOptions>,
    max_payload: usize,
    subscriber_buffer: usize,
    dead: RedisDeadLetters,
    inspect: Arc<Inspector>,
    trimmed: Arc<AtomicU64>,
}

impl std::fmt::Debug for StreamsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsBroker")
            .field("url", &self.target.url)
            .finish_non_exhaustive()
    }
}

/// The stream key of a prefix.
pub(crate) fn stream_key(durable: &DurableOptions, prefix: &str) -> String {
    format!("{}:stream:{prefix}", durable.name)
}

/// The dead-letter stream key of a prefix.
pub(crate) fn dead_key(durable: &DurableOptions, prefix: &str) -> String {
    format!("{}:dead:{prefix}", durable.name)
}

/// Whether some topic under `prefix` can match `pattern`.
pub(crate) fn prefix_may_match(prefix: &str, pattern: &Pattern) -> bool {
    let mut segs = pattern.segments().iter();
    for part in prefix.split('.') {
        match segs.next() {
            Some(Segment::Tail) => return true,
            Some(Segment::Any) => {}
            Some(Segment::Literal(lit)) if &**lit == part => {}
            _ => return false,
        }
    }
    true
}

struct StreamsPublish {
    durable: Arc<DurableOptions>,
}

impl PublishCommand for StreamsPublish {
    fn add(&self, pipe: &mut redis::Pipeline, msg: &Outgoing) {
        // The prefix was checked before the message was queued.
        let prefix = self.durable.prefix_of(msg.topic.as_str()).unwrap_or("");
        let key = stream_key(&self.durable, prefix);
        match &msg.id {
            Some(id) => {
                pipe.cmd("EVAL")
                    .arg(DEDUP_SCRIPT)
                    .arg(2)
                    .arg(key)
                    .arg(format!("{}:dedup:{id}", self.durable.name))
                    .arg(self.durable.max_len)
                    .arg(self.durable.dedup_window.as_millis().max(1) as u64)
                    .arg(msg.topic.as_str())
                    .arg(msg.payload.as_ref());
            }
            None => {
                pipe.cmd("XADD")
                    .arg(key)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.durable.max_len)
                    .arg("*")
                    .arg("topic")
                    .arg(msg.topic.as_str())
                    .arg("payload")
                    .arg(msg.payload.as_ref());
            }
        }
    }

    fn result(&self, value: redis::Value) -> Result<Published, BrokerError> {
        match value {
            redis::Value::Nil => Ok(Published {
                receivers: None,
                duplicate: true,
            }),
            redis::Value::ServerError(e) => Err(BrokerError::backend("redis", format!("{e:?}"))),
            _ => Ok(Published::default()),
        }
    }
}

impl StreamsBroker {
    /// Connects to `url` in Streams mode with `options.durable`'s settings.
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
        options.durable.validate()?;
        let target = Arc::new(RedisTarget::new(url, options)?);
        let mut conn = target.first(|| target.multiplexed(false)).await?;
        super::persistence::warn_if_unsafe(&mut conn, &target.url).await;
        let max_payload = conn::server_max_payload(&mut conn)
            .await
            .map_or(options.max_payload, |server| {
                server.min(options.max_payload)
            });
        let durable = Arc::new(options.durable.clone());
        let inspect = Arc::new(Inspector::new(Arc::clone(&target)));
        let publisher = Publisher::spawn(
            Arc::clone(&target),
            conn,
            Arc::new(StreamsPublish {
                durable: Arc::clone(&durable),
            }),
            options.outage_buffer,
        );
        Ok(StreamsBroker {
            dead: RedisDeadLetters::new(Arc::clone(&inspect), Arc::clone(&durable)),
            inspect,
            trimmed: Arc::new(AtomicU64::new(0)),
            target,
            publisher,
            durable,
            max_payload,
            subscriber_buffer: options.subscriber_buffer,
        })
    }

    /// Messages that could not be delivered to Redis so far.
    pub fn undeliverable(&self) -> u64 {
        self.publisher.undeliverable()
    }

    /// Messages the streams' length cap (`max_len`) removed before a group of this broker was
    /// done with them (unread, or read and not acknowledged), as its members found so far;
    /// each was logged and counted in `switchyard_broker_stream_trimmed_total`.
    pub fn trimmed_unprocessed(&self) -> u64 {
        self.trimmed.load(Ordering::Relaxed)
    }

    fn shared(&self) -> streams_group::Shared {
        streams_group::Shared {
            target: Arc::clone(&self.target),
            durable: Arc::clone(&self.durable),
            trimmed: Arc::clone(&self.trimmed),
        }
    }

    fn check(&self, topic: &Topic, payload: &Bytes) -> Result<(), BrokerError> {
        if payload.len() > self.max_payload {
            return Err(BrokerError::TooLarge {
                backend: "redis-streams",
                size: payload.len(),
                max: self.max_payload,
            });
        }
        if self.durable.prefix_of(topic.as_str()).is_none() {
            return Err(BrokerError::Topic {
                topic: topic.to_string(),
                reason: format!(
                    "it is outside every durable prefix ({}); add its prefix to the durable prefixes",
                    self.durable.prefixes.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// The stream keys a pattern needs, or an error if none can hold a match.
    fn keys_for(&self, pattern: &Pattern) -> Result<Vec<String>, BrokerError> {
        let keys: Vec<String> = self
            .durable
            .prefixes
            .iter()
            .filter(|p| prefix_may_match(p, pattern))
            .map(|p| stream_key(&self.durable, p))
            .collect();
        if keys.is_empty() {
            return Err(BrokerError::Topic {
                topic: pattern.to_string(),
                reason: format!(
                    "no durable prefix ({}) can hold a matching topic",
                    self.durable.prefixes.join(", ")
                ),
            });
        }
        Ok(keys)
    }

    async fn group(
        &self,
        pattern: &Pattern,
        group: &str,
        mode: GroupMode,
    ) -> Result<(mpsc::Receiver<crate::Delivery>, AbortOnDrop), BrokerError> {
        crate::check_group(group)?;
        let keys = self.keys_for(pattern)?;
        streams_group::start(
            self.shared(),
            keys,
            pattern.clone(),
            group.to_owned(),
            mode,
            self.subscriber_buffer,
        )
        .await
    }
}

#[async_trait]
impl Broker for StreamsBroker {
    fn backend(&self) -> &'static str {
        "redis-streams"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            fan_out: true,
            queue_groups: true,
            durable: true,
            keyed_partitioning: true,
            deduplication: true,
        }
    }

    async fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        self.check(topic, &payload)?;
        self.publisher.send(topic, payload).await
    }

    fn dead_letters(&self) -> Result<&dyn crate::DeadLetters, BrokerError> {
        Ok(&self.dead)
    }

    async fn durable_groups(&self) -> Result<Vec<crate::GroupInfo>, BrokerError> {
        super::groups::durable_groups(&self.inspect, &self.durable).await
    }

    async fn flush(&self) -> Result<(), BrokerError> {
        self.publisher.flush().await
    }

    async fn publish_confirmed(
        &self,
        topic: &Topic,
        payload: Bytes,
    ) -> Result<Published, BrokerError> {
        self.check(topic, &payload)?;
        self.publisher.confirmed(topic, payload, None).await
    }

    async fn publish_with_id(
        &self,
        topic: &Topic,
        payload: Bytes,
        id: &str,
    ) -> Result<Published, BrokerError> {
        self.check(topic, &payload)?;
        self.publisher.confirmed(topic, payload, Some(id)).await
    }

    async fn publish_batch_with_ids(
        &self,
        items: &[IdPublish<'_>],
    ) -> Vec<Result<Published, BrokerError>> {
        self.publisher
            .confirmed_batch(items, |topic, payload| self.check(topic, payload))
            .await
    }

    async fn subscribe(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        let keys = self.keys_for(pattern)?;
        let target = Arc::clone(&self.target);
        let (mut conn, ids) = target
            .first(|| async {
                let mut conn = target.multiplexed(true).await?;
                let mut ids = Vec::new();
                for key in &keys {
                    ids.push(last_id(&mut conn, key).await?);
                }
                Ok((conn, ids))
            })
            .await?;
        let (tx, rx) = mpsc::channel(self.subscriber_buffer.max(1));
        let pattern = pattern.clone();
        let task = tokio::spawn(async move {
            let mut ids = ids;
            loop {
                match read(&mut conn, &keys, &mut ids, &pattern, &tx).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) if is_connection_error(&e) => {
                        tracing::warn!(
                            "stream subscription {pattern}: lost Redis at {}: {e}; reconnecting",
                            target.url
                        );
                        let what = format!("stream subscription {pattern}");
                        match target
                            .again(&what, || target.multiplexed(true), || tx.is_closed())
                            .await
                        {
                            Some(c) => conn = c,
                            None => return,
                        }
                    }
                    Err(e) => {
                        tracing::warn!("stream subscription {pattern}: {e}");
                        tokio::time::sleep(target.retry.initial).await;
                    }
                }
            }
        });
        Ok(Subscription::new(rx, AbortOnDrop(task)))
    }

    async fn subscribe_group(
        &self,
        pattern: &Pattern,
        group: &str,
    ) -> Result<Subscription, BrokerError> {
        let (mut deliveries, reader) = self.group(pattern, group, GroupMode::AutoAck).await?;
        // Unwrap the deliveries (already acknowledged) into plain messages.
        let (tx, rx) = mpsc::channel(self.subscriber_buffer.max(1));
        let task = tokio::spawn(async move {
            let _reader = reader;
            while let Some(d) = deliveries.recv().await {
                if tx.send(d.message).await.is_err() {
                    return;
                }
            }
        });
        Ok(Subscription::new(rx, AbortOnDrop(task)))
    }

    async fn subscribe_durable(
        &self,
        pattern: &Pattern,
        group: &str,
    ) -> Result<DurableSubscription, BrokerError> {
        let (rx, reader) = self.group(pattern, group, GroupMode::Explicit).await?;
        Ok(DurableSubscription::new(rx, reader))
    }

    async fn subscribe_keyed(
        &self,
        pattern: &Pattern,
        group: &str,
        key: crate::PartitionKey,
    ) -> Result<Subscription, BrokerError> {
        let source = self.subscribe(pattern).await?;
        let beacon = Arc::new(RedisBeacon::new(Arc::clone(&self.target)));
        crate::keyed::plain(beacon, source, group, key, self.subscriber_buffer).await
    }

    async fn subscribe_keyed_durable(
        &self,
        pattern: &Pattern,
        group: &str,
        key: crate::PartitionKey,
    ) -> Result<DurableSubscription, BrokerError> {
        let keys = self.keys_for(pattern)?;
        let shared = self.shared();
        let (pattern, buffer) = (pattern.clone(), self.subscriber_buffer);
        let open: crate::keyed::OpenPartition = Arc::new(move |group: String| {
            let start = streams_group::start(
                shared.clone(),
                keys.clone(),
                pattern.clone(),
                group,
                GroupMode::Explicit,
                buffer,
            );
            Box::pin(async move {
                let (rx, reader) = start.await?;
                Ok(DurableSubscription::new(rx, reader))
            })
        });
        let beacon = Arc::new(RedisBeacon::new(Arc::clone(&self.target)));
        crate::keyed::durable(beacon, open, group, key, self.subscriber_buffer).await
    }
}

/// The id of a stream's last entry (`0-0` when empty).
async fn last_id(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> Result<String, redis::RedisError> {
    let value: redis::Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(streams_group::entries(value)
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |e| e.id))
}

/// One `XREAD` round; false when the subscriber went away.
async fn read(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &[String],
    ids: &mut [String],
    pattern: &Pattern,
    tx: &mpsc::Sender<Message>,
) -> Result<bool, redis::RedisError> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(512)
        .arg("BLOCK")
        .arg(1000)
        .arg("STREAMS");
    cmd.arg(keys).arg(&*ids);
    let reply: redis::Value = cmd.query_async(conn).await?;
    for (key, entries) in streams_group::streams(reply) {
        let Some(i) = keys.iter().position(|k| *k == key) else {
            continue;
        };
        for entry in entries {
            ids[i] = entry.id.clone();
            let Some(message) = entry.message else {
                continue;
            };
            if pattern.matches(message.topic.as_str()) && tx.send(message).await.is_err() {
                return Ok(false);
            }
        }
    }
    Ok(!tx.is_closed())
}
