//! NATS JetStream mode (`nats://…?durable=jetstream`): durable, acknowledged delivery.
//!
//! - One file-backed stream, `{name}` (upper-cased), holding the subjects of every configured
//!   prefix, limited to `max_len` messages, with a duplicate window of `dedup_window` so that a
//!   publish carrying `Nats-Msg-Id` (the envelope id) twice is stored once.
//! - Each durable group is a durable pull consumer named after the group, filtered by the
//!   pattern (NATS wildcards mean the same), delivering only messages published after it was
//!   created, with explicit acks and redelivery after `ack_wait`. A member pulls no more
//!   than its window has room for (`max_in_flight` unsettled deliveries).
//! - A message delivered `max_deliver` times without an ack is published once more to the
//!   dead-letter subject `_sy_dead.{name}.{topic}` (stored in the stream `{NAME}_DEAD`, with
//!   `Switchyard-Group`, `Switchyard-Deliveries` and `Switchyard-Reason` headers) and
//!   terminated; [`crate::dead_letters`] reads it.
//! - Plain subscriptions and queue groups stay on core NATS (at-most-once): stored messages
//!   reach them as any publish does.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::dead::NatsDeadLetters;
use crate::redis::prefix_may_match;
use crate::subscription::{AbortOnDrop, Window};
use crate::{
    Acker, BrokerError, Delivery, DurableOptions, DurableSubscription, Message, Pattern, Published,
    RetryPolicy, Topic,
};

/// The JetStream side of a [`super::NatsBroker`].
pub(crate) struct JetStream {
    context: jetstream::Context,
    stream: String,
    dead_prefix: String,
    durable: DurableOptions,
    url: String,
    dead: NatsDeadLetters,
}

/// Creates or updates a stream, trying again while the server (a cluster still electing
/// its leaders, a stream's peers still catching up) answers that it cannot yet: a timeout,
/// JetStream unavailable, or a cluster error that passes. Other refusals are final.
pub(crate) async fn create_stream(
    context: &jetstream::Context,
    config: stream::Config,
    retry: RetryPolicy,
) -> Result<stream::Info, jetstream::context::CreateStreamError> {
    use async_nats::jetstream::ErrorCode;
    use jetstream::context::CreateStreamErrorKind as K;
    let passing = [
        ErrorCode::CLUSTER_NOT_AVAILABLE,
        ErrorCode::CLUSTER_NO_PEERS,
        ErrorCode::INSUFFICIENT_RESOURCES,
        ErrorCode::CLUSTER_INCOMPLETE,
        ErrorCode::CLUSTER_NOT_LEADER,
        ErrorCode::CLUSTER_NOT_ACTIVE,
    ];
    let mut done = 0u32;
    loop {
        done += 1;
        match context.create_or_update_stream(config.clone()).await {
            Ok(info) => return Ok(info),
            Err(e) => {
                let transient = match e.kind() {
                    K::TimedOut | K::JetStreamUnavailable => true,
                    K::JetStream(js) => passing.contains(&js.error_code()),
                    _ => false,
                };
                if !transient || !retry.may_retry(done) {
                    return Err(e);
                }
                let delay = retry.delay(done);
                tracing::warn!(
                    "cannot set up the JetStream stream {} yet (attempt {done}): {e}; trying again in {delay:?}",
                    config.name
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

impl JetStream {
    /// Creates (or updates) the stream and the dead-letter stream.
    pub(crate) async fn open(
        client: async_nats::Client,
        url: String,
        durable: &DurableOptions,
        retry: RetryPolicy,
    ) -> Result<Self, BrokerError> {
        durable.validate()?;
        super::version::warn_if_old(&client, &url);
        let context = jetstream::new(client);
        let stream = durable.name.to_ascii_uppercase();
        let subjects = durable
            .prefixes
            .iter()
            .flat_map(|p| [p.clone(), format!("{p}.>")])
            .collect();
        let config = stream::Config {
            name: stream.clone(),
            subjects,
            max_messages: i64::try_from(durable.max_len).unwrap_or(i64::MAX),
            duplicate_window: durable.dedup_window,
            storage: stream::StorageType::File,
            num_replicas: durable.replicas as usize,
            ..Default::default()
        };
        let fail = |e: &dyn std::fmt::Display| {
            BrokerError::backend(
                "nats-jetstream",
                format!(
                    "cannot set up the JetStream stream {stream} at {url}: {e} (is JetStream enabled, nats-server -js?)"
                ),
            )
        };
        create_stream(&context, config, retry)
            .await
            .map_err(|e| fail(&e))?;
        let dead_prefix = format!("_sy_dead.{}", durable.name);
        create_stream(
            &context,
            stream::Config {
                name: format!("{stream}_DEAD"),
                subjects: vec![format!("{dead_prefix}.>")],
                storage: stream::StorageType::File,
                max_messages: i64::try_from(durable.max_len).unwrap_or(i64::MAX),
                num_replicas: durable.replicas as usize,
                ..Default::default()
            },
            retry,
        )
        .await
        .map_err(|e| fail(&e))?;
        Ok(JetStream {
            dead: NatsDeadLetters {
                context: context.clone(),
                stream: format!("{stream}_DEAD"),
                prefix: dead_prefix.clone(),
                max_deliver: durable.max_deliver,
                url: url.clone(),
            },
            context,
            stream,
            dead_prefix,
            durable: durable.clone(),
            url,
        })
    }

    /// Sends every message of `items` (in order, each with its id), then waits for their
    /// acks together, and answers for each in the same order. Together: each ack has its own
    /// timeout from when it is awaited, so a server that stopped answering cost a batch of
    /// 256 awaited one by one 256 timeouts (21 minutes) instead of one.
    pub(crate) async fn publish_batch(
        &self,
        items: &[crate::IdPublish<'_>],
        check: impl Fn(&Bytes) -> Result<(), BrokerError>,
    ) -> Vec<Result<Published, BrokerError>> {
        let mut waiting = Vec::with_capacity(items.len());
        for item in items {
            if let Err(e) = check(&item.payload).and_then(|()| self.durable_prefix(item.topic)) {
                waiting.push(Err(e));
                continue;
            }
            let publish = jetstream::message::PublishMessage::build()
                .payload(item.payload.clone())
                .message_id(item.id);
            waiting.push(
                self.context
                    .send_publish(item.topic.as_str().to_owned(), publish)
                    .await
                    .map_err(|e| self.disconnected(e)),
            );
        }
        let answers = waiting.into_iter().map(|w| async move {
            match w {
                Ok(ack) => ack
                    .await
                    .map(|ack| Published {
                        receivers: None,
                        duplicate: ack.duplicate,
                    })
                    .map_err(|e| self.disconnected(e)),
                Err(e) => Err(e),
            }
        });
        futures_util::future::join_all(answers).await
    }

    /// Refuses a topic outside every durable prefix (the stream would not take it).
    fn durable_prefix(&self, topic: &Topic) -> Result<(), BrokerError> {
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

    /// Publishes and waits for the stream's ack.
    pub(crate) async fn publish(
        &self,
        topic: &Topic,
        payload: Bytes,
        id: Option<&str>,
    ) -> Result<Published, BrokerError> {
        self.durable_prefix(topic)?;
        let mut publish = jetstream::message::PublishMessage::build().payload(payload);
        if let Some(id) = id {
            publish = publish.message_id(id);
        }
        let ack = self
            .context
            .send_publish(topic.as_str().to_owned(), publish)
            .await
            .map_err(|e| self.disconnected(e))?
            .await
            .map_err(|e| self.disconnected(e))?;
        Ok(Published {
            receivers: None,
            duplicate: ack.duplicate,
        })
    }

    fn disconnected(&self, e: impl std::fmt::Display) -> BrokerError {
        BrokerError::Disconnected {
            backend: "nats-jetstream",
            detail: format!("{}: {e}", self.url),
        }
    }

    /// Its dead-letter stream.
    pub(crate) fn dead_letters(&self) -> &NatsDeadLetters {
        &self.dead
    }

    /// The durable consumers of the events stream, by name. JetStream keeps no members of a
    /// pull consumer: the pull requests waiting on it stand for them.
    pub(crate) async fn durable_groups(&self) -> Result<Vec<crate::GroupInfo>, BrokerError> {
        let stream = self
            .context
            .get_stream(&self.stream)
            .await
            .map_err(|e| self.disconnected(e))?;
        let mut consumers = stream.consumers();
        let mut out = Vec::new();
        while let Some(info) = consumers.next().await {
            let info = info.map_err(|e| self.disconnected(e))?;
            out.push(crate::GroupInfo {
                stream: self.stream.clone(),
                name: info.name,
                pending: info.num_ack_pending as u64,
                unread: Some(info.num_pending),
                members: Vec::new(),
                waiting_pulls: Some(info.num_waiting as u64),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Joins (creating if needed) the durable consumer `group`.
    pub(crate) async fn subscribe(
        &self,
        pattern: &Pattern,
        group: &str,
        buffer: usize,
    ) -> Result<DurableSubscription, BrokerError> {
        if !self
            .durable
            .prefixes
            .iter()
            .any(|p| prefix_may_match(p, pattern))
        {
            return Err(BrokerError::Topic {
                topic: pattern.to_string(),
                reason: format!(
                    "no durable prefix ({}) can hold a matching topic",
                    self.durable.prefixes.join(", ")
                ),
            });
        }
        let stream = self
            .context
            .get_stream(&self.stream)
            .await
            .map_err(|e| self.disconnected(e))?;
        let config = consumer::pull::Config {
            durable_name: Some(group.to_owned()),
            filter_subject: pattern.to_nats_subject().to_owned(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.durable.ack_wait,
            // One delivery more than allowed, to move it to the dead-letter subject.
            max_deliver: i64::from(self.durable.max_deliver) + 1,
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        };
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(group, config)
            .await
            .map_err(|e| self.disconnected(e))?;
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let member = Member {
            consumer,
            context: self.context.clone(),
            dead_prefix: self.dead_prefix.clone(),
            group: group.to_owned(),
            max_deliver: self.durable.max_deliver,
            window: Window::new(self.durable.max_in_flight),
            tx,
        };
        Ok(DurableSubscription::new(
            rx,
            AbortOnDrop(tokio::spawn(member.run())),
        ))
    }
}

struct Member {
    consumer: consumer::PullConsumer,
    context: jetstream::Context,
    dead_prefix: String,
    group: String,
    max_deliver: u32,
    window: Window,
    tx: mpsc::Sender<Delivery>,
}

impl Member {
    async fn run(self) {
        let mut failures = 0u32;
        while !self.tx.is_closed() {
            // Pull no more than the member has room for (see `Window`).
            let mut room = self.window.room(64).await;
            let batch = self
                .consumer
                .batch()
                .max_messages(room.len())
                .expires(Duration::from_millis(500))
                .messages()
                .await;
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    failures += 1;
                    tracing::warn!("durable group {}: pull failed: {e}", self.group);
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(20))))
                        .await;
                    continue;
                }
            };
            failures = 0;
            while let Some(msg) = batch.next().await {
                let Ok(msg) = msg else {
                    break;
                };
                if !self.handle(msg, room.take()).await {
                    return;
                }
            }
        }
    }

    /// Hands one message on, holding `slot` of the window (or to the dead-letter subject);
    /// false when the member left.
    async fn handle(&self, msg: jetstream::Message, slot: Option<OwnedSemaphorePermit>) -> bool {
        let info = msg.info().ok();
        let attempt = info
            .as_ref()
            .map_or(1, |i| u32::try_from(i.delivered).unwrap_or(u32::MAX));
        let published = info
            .as_ref()
            .and_then(|i| u64::try_from(i.published.unix_timestamp_nanos() / 1_000_000).ok());
        let Ok(topic) = Topic::new(msg.subject.as_str()) else {
            let _ = msg.ack_with(AckKind::Term).await;
            return true;
        };
        if attempt > self.max_deliver {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Switchyard-Group", self.group.as_str());
            headers.insert("Switchyard-Deliveries", (attempt - 1).to_string().as_str());
            headers.insert(
                "Switchyard-Reason",
                crate::dead_letters::reason(attempt - 1, self.max_deliver).as_str(),
            );
            let subject = format!("{}.{topic}", self.dead_prefix);
            let stored = match self
                .context
                .publish_with_headers(subject.clone(), headers, msg.payload.clone())
                .await
            {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            if stored {
                let _ = msg.ack_with(AckKind::Term).await;
                tracing::warn!(
                    "durable group {}: a message on {topic} went to {subject} after {} deliveries",
                    self.group,
                    attempt - 1
                );
            }
            return true;
        }
        let message = Message {
            topic,
            payload: msg.payload.clone(),
        };
        self.tx
            .send(
                Delivery::new(message, attempt, JsAck(msg))
                    .published_at(published)
                    .in_window(slot),
            )
            .await
            .is_ok()
    }
}

/// Settles one JetStream message.
///
/// An ack is sent without waiting for the server's answer, as NATS clients do by default:
/// a consumer that settled one delivery per round trip fell behind `ack_wait` whenever the
/// server answered slowly, and every delivery it still held came again (RELIABILITY.md,
/// finding 8). An ack lost with its connection means one redelivery, which at-least-once
/// delivery allows; [`crate::Broker::flush`] waits until those sent so far reached the server.
struct JsAck(jetstream::Message);

#[async_trait]
impl Acker for JsAck {
    async fn ack(&self) -> Result<(), BrokerError> {
        self.0
            .ack()
            .await
            .map_err(|e| BrokerError::backend("nats-jetstream", e))
    }

    async fn nack(&self) -> Result<(), BrokerError> {
        self.0
            .ack_with(AckKind::Nak(None))
            .await
            .map_err(|e| BrokerError::backend("nats-jetstream", e))
    }
}
