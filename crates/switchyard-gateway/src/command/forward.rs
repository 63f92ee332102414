//! The forwarding side: a command read from a bot's outbound topics (by whichever process of
//! the bot the outbound group gave it to) is checked, sent to the command topic of each shard
//! it concerns, and followed until the shard's holder acknowledges it. No acknowledgement in
//! time means no process holds the shard now, and the requester hears that, with when to retry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use switchyard_broker::{Broker, BrokerError, Subscription};
use switchyard_core::Topic;
use switchyard_core::outbound::{Answer, CommandMessage, CommandTopics, ErrorKind, GatewayCommand};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{now_ms, refuse};

/// Waiters for acknowledgements, by number.
#[derive(Default)]
struct Acks {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

impl Acks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn run(&self, mut sub: Subscription) {
        while let Some(msg) = sub.recv().await {
            let n = msg
                .topic
                .as_str()
                .rsplit('.')
                .next()
                .and_then(|s| s.parse().ok());
            if let Some(waiter) = n.and_then(|n| self.lock().remove(&n)) {
                let _ = waiter.send(());
            }
        }
    }
}

/// Forwards one bot's commands to the holders of its shards.
pub(crate) struct Forwarder {
    broker: Arc<dyn Broker>,
    topics: CommandTopics,
    instance: String,
    total: u32,
    intents: u64,
    ack_timeout: Duration,
    acks: Arc<Acks>,
}

impl Forwarder {
    /// Subscribes to this process's acknowledgements; the task reads them until dropped.
    pub(crate) async fn start(
        broker: Arc<dyn Broker>,
        bot: &str,
        total: u32,
        intents: u64,
        ack_timeout: Duration,
    ) -> Result<(Forwarder, JoinHandle<()>), BrokerError> {
        let topics = CommandTopics::new(bot);
        let instance = format!(
            "{:x}",
            xxhash_rust::xxh3::xxh3_64(format!("{}-{}", std::process::id(), now_ms()).as_bytes())
                as u32
        );
        let sub = broker.subscribe(&topics.acks(&instance)).await?;
        let acks = Arc::new(Acks::default());
        let reader = {
            let acks = acks.clone();
            tokio::spawn(async move { acks.run(sub).await })
        };
        let forwarder = Forwarder {
            broker,
            topics,
            instance,
            total,
            intents,
            ack_timeout,
            acks,
        };
        Ok((forwarder, reader))
    }

    /// Forwards `command`, read from `topic` as `payload`, to the holders of its shards.
    /// Returns the task that says whether every holder took it (none when it was refused
    /// at once). `retry` is the delivery's attempt on a durable broker, which delivers the
    /// command again until it is too old: a shard without a holder is reported on the first
    /// attempt only.
    pub(crate) async fn forward(
        &self,
        topic: &str,
        payload: &Bytes,
        command: GatewayCommand,
        reply_to: Option<Topic>,
        retry: Option<u32>,
        published_ms: Option<u64>,
    ) -> Option<JoinHandle<bool>> {
        let report = retry.is_none_or(|attempt| attempt <= 1);
        let checked = command
            .check(self.intents)
            .and_then(|()| command.shards(self.total));
        let shards = match checked {
            Ok(shards) => shards,
            Err((kind, why)) => {
                let answer = Answer::failed(kind, why);
                refuse(&*self.broker, topic, payload, reply_to.as_ref(), answer).await;
                return None;
            }
        };
        let mut waits = Vec::with_capacity(shards.len());
        let mut all_sent = true;
        for shard in shards {
            let n = self.acks.next.fetch_add(1, Ordering::Relaxed);
            let ack = self.topics.ack(&self.instance, n);
            let (tx, rx) = oneshot::channel();
            self.acks.lock().insert(n, tx);
            let message = CommandMessage {
                command: command.clone(),
                reply_to: reply_to.as_ref().map(|t| t.as_str().to_owned()),
                ack_to: Some(ack.as_str().to_owned()),
                // A command's age counts from when the requester published it.
                at_ms: Some(published_ms.unwrap_or_else(now_ms)),
            };
            let body = serde_json::to_string(&message).unwrap_or_default();
            if let Err(e) = self
                .broker
                .publish(&self.topics.shard(shard), Bytes::from(body))
                .await
            {
                self.acks.lock().remove(&n);
                all_sent = false;
                tracing::warn!(shard, error = %e, "cannot forward a gateway command");
                if !report {
                    continue;
                }
                let mut answer = Answer::failed(
                    ErrorKind::NoHolder,
                    format!("the command could not be forwarded to shard {shard}: {e}"),
                );
                answer.retry_after_ms = Some(self.ack_timeout.as_millis() as u64);
                refuse(&*self.broker, topic, payload, reply_to.as_ref(), answer).await;
                continue;
            }
            waits.push((shard, n, rx));
        }
        if waits.is_empty() {
            // On a durable broker an unsent command comes back; otherwise it was reported.
            return (!all_sent && retry.is_some()).then(|| tokio::spawn(async { false }));
        }
        // Waiting must not hold up the outbound worker (and its channel's other messages).
        let broker = self.broker.clone();
        let acks = self.acks.clone();
        let timeout = self.ack_timeout;
        let total = self.total;
        let (topic, payload) = (topic.to_owned(), payload.clone());
        let name = command.name();
        let again = if retry.is_some() {
            " The broker delivers it again until it is too old."
        } else {
            ""
        };
        Some(tokio::spawn(async move {
            let mut taken = all_sent;
            // One deadline for every shard: a presence to many unheld shards waits once.
            let deadline = tokio::time::Instant::now() + timeout;
            for (shard, n, rx) in waits {
                if tokio::time::timeout_at(deadline, rx).await.is_ok() {
                    continue;
                }
                acks.lock().remove(&n);
                taken = false;
                if !report {
                    tracing::info!(
                        shard,
                        "no process holds the shard now; the broker delivers the command again"
                    );
                    continue;
                }
                let mut answer = Answer::failed(
                    ErrorKind::NoHolder,
                    format!(
                        "no process holds shard {shard} of {total} now (none took the {name} command within {} ms); it was not sent. Retry once the shard runs again (a moving shard is taken over within the pool's lease).{again}",
                        timeout.as_millis()
                    ),
                );
                answer.retry_after_ms = Some(timeout.as_millis() as u64);
                answer.shard = Some(shard);
                refuse(&*broker, &topic, &payload, reply_to.as_ref(), answer).await;
            }
            taken
        }))
    }
}
