//! Where the outbound path reads from: every process of a bot reads its outbound topics in one
//! keyed group (`outbound-{bot}`, keyed by channel), so that each message is sent once and a
//! channel's messages keep their order. On a durable broker (Redis Streams, JetStream) the
//! group is durable: a message stays with the broker until the gateway has handled it (Discord
//! answered, or it failed for good and went to `errors.…`), so replies published while no
//! gateway runs are sent when one comes back. On the others it is at-most-once.

use switchyard_broker::{
    Broker, BrokerError, Delivery, DurableSubscription, Message, PartitionKey, Pattern,
    Subscription,
};

/// What became of one outbound message, which decides whether the broker keeps it.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Handled (sent, refused or reported): never deliver it again.
    Done,
    /// Not handled (Discord unreachable, no process holds the shard): left unacknowledged,
    /// so the broker delivers it again after its ack wait (the retry's backoff).
    Retry,
    /// A command waiting for its shard's holder: done when the task says so.
    Forwarded(tokio::task::JoinHandle<bool>),
}

/// One message to handle, with its delivery to settle on a durable broker.
pub(crate) struct Job {
    pub msg: Message,
    /// When the broker stored it (Unix ms), on a durable broker.
    pub published_ms: Option<u64>,
    /// How many times it was delivered, this time included (always 1 at-most-once).
    pub attempt: u32,
    delivery: Option<Delivery>,
}

impl Job {
    /// Tells the broker what became of the message (nothing to tell at-most-once).
    pub(crate) async fn settle(self, outcome: Outcome) {
        let Some(delivery) = self.delivery else {
            return;
        };
        let done = match outcome {
            Outcome::Done => true,
            Outcome::Retry => false,
            Outcome::Forwarded(task) => {
                // The holder's answer may take the ack timeout: settle in the background.
                tokio::spawn(async move {
                    let done = task.await.unwrap_or(false);
                    settle(delivery, done).await;
                });
                return;
            }
        };
        settle(delivery, done).await;
    }
}

async fn settle(delivery: Delivery, done: bool) {
    let topic = delivery.message.topic.clone();
    if !done {
        // Not nacked: a nack comes back at once, and a few seconds of outage would spend
        // every delivery the broker allows. Unacknowledged, it comes back after the ack wait.
        tracing::debug!(%topic, attempt = delivery.attempt, "outbound message left for redelivery");
        return;
    }
    if let Err(e) = delivery.ack().await {
        // Unsettled, it comes back after the broker's ack wait: handled twice at worst.
        tracing::warn!(%topic, error = %e, "cannot acknowledge an outbound message");
    }
}

/// The outbound group, plain or durable.
pub(crate) enum Inbox {
    Plain(Subscription),
    Durable(DurableSubscription),
}

impl Inbox {
    /// Joins `group` on `pattern`, keyed by `key`: durable where the broker is, at-most-once
    /// otherwise (with a warning on a broker without keyed groups, where every process
    /// handles every message).
    pub(crate) async fn join(
        broker: &dyn Broker,
        pattern: &Pattern,
        group: &str,
        key: PartitionKey,
    ) -> Result<Inbox, BrokerError> {
        if broker.capabilities().durable {
            return broker
                .subscribe_keyed_durable(pattern, group, key)
                .await
                .map(Inbox::Durable);
        }
        crate::shared_sub::subscribe_shared(broker, pattern, group, key, "a REST call")
            .await
            .map(Inbox::Plain)
    }

    /// Whether messages wait for the gateway (and are settled).
    pub(crate) fn durable(&self) -> bool {
        matches!(self, Inbox::Durable(_))
    }

    /// Leaves the group and waits until the others have been told (bounded): they take its
    /// partitions at once, rather than once they notice its silence. Dropped instead, the
    /// goodbye goes out in the background and is lost if the process exits first; on plain
    /// pub/sub the messages of its partitions then reach no process until the others notice.
    pub(crate) async fn close(self) {
        match self {
            Inbox::Plain(sub) => sub.close().await,
            Inbox::Durable(sub) => sub.close().await,
        }
    }

    /// The next message; `None` once the subscription ended.
    pub(crate) async fn recv(&mut self) -> Option<Job> {
        match self {
            Inbox::Plain(sub) => sub.recv().await.map(|msg| Job {
                msg,
                published_ms: None,
                attempt: 1,
                delivery: None,
            }),
            Inbox::Durable(sub) => sub.recv().await.map(|d| Job {
                msg: d.message.clone(),
                published_ms: d.published_ms,
                attempt: d.attempt,
                delivery: Some(d),
            }),
        }
    }
}
