//! What subscribers receive: [`Subscription`] (plain, at-most-once) and
//! [`DurableSubscription`] (acknowledged [`Delivery`]s on the durable backends, each member
//! holding at most a [`Window`] of them unsettled).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::{BrokerError, Message};

/// A live subscription. Receive with [`Subscription::recv`]; drop it to unsubscribe.
///
/// Plain subscriptions are at-most-once on every backend: a message published while the
/// subscriber is disconnected, or dropped for a slow subscriber, is not delivered later.
pub struct Subscription {
    rx: mpsc::Receiver<Message>,
    /// Unsubscribes from the backend when dropped.
    _guard: Box<dyn Send + Sync>,
    /// A keyed group member's: resolves once its goodbye is out (or could not be sent in
    /// time).
    farewell: Option<BoxFuture<'static, ()>>,
}

impl Subscription {
    /// Wraps a backend's channel and the guard that unsubscribes on drop.
    pub fn new(rx: mpsc::Receiver<Message>, guard: impl Send + Sync + 'static) -> Self {
        Subscription {
            rx,
            _guard: Box::new(guard),
            farewell: None,
        }
    }

    /// A keyed group member, whose goodbye [`Subscription::close`] waits for.
    pub(crate) fn with_farewell(mut self, farewell: Option<BoxFuture<'static, ()>>) -> Self {
        self.farewell = farewell;
        self
    }

    /// Unsubscribes, as dropping it does; a member of a keyed group
    /// ([`Broker::subscribe_keyed`](crate::Broker::subscribe_keyed)) also waits until its
    /// goodbye is out (at most [`MEMBER_TIMEOUT`](crate::keyed::MEMBER_TIMEOUT)), so that the
    /// other members take its partitions at once. Dropped instead, it says goodbye in the
    /// background, which a process exiting right after may never send: the messages of its
    /// partitions then reach nobody until the others notice its silence.
    pub async fn close(self) {
        let Subscription {
            rx,
            _guard,
            farewell,
        } = self;
        drop(rx);
        drop(_guard);
        if let Some(farewell) = farewell {
            farewell.await;
        }
    }

    /// The next message; `None` once the broker has closed the subscription.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// A message if one is already waiting.
    pub fn try_recv(&mut self) -> Option<Message> {
        self.rx.try_recv().ok()
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// How a backend settles one delivery. Implemented by the durable backends.
#[async_trait]
pub trait Acker: Send + Sync + 'static {
    /// The message was handled: never deliver it again.
    async fn ack(&self) -> Result<(), BrokerError>;
    /// The message was not handled: deliver it again (to any member) soon.
    async fn nack(&self) -> Result<(), BrokerError>;
}

/// One message of a [`DurableSubscription`], to be acknowledged.
///
/// A delivery that is neither acked nor nacked (for example because the consumer crashed)
/// is delivered again after the group's ack timeout. After `max_deliver` deliveries it goes
/// to the dead-letter stream or subject instead.
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// How many times this message has been delivered, this time included (1 the first time).
    pub attempt: u32,
    /// When the broker stored the message, in Unix milliseconds (a Redis stream entry's id,
    /// a JetStream message's timestamp), for consumers that refuse what waited too long.
    pub published_ms: Option<u64>,
    acker: Box<dyn Acker>,
    /// Its place in its member's [`Window`], given back once it is settled or dropped.
    _slot: Option<OwnedSemaphorePermit>,
}

impl Delivery {
    /// Wraps a message and the backend's way of settling it.
    pub fn new(message: Message, attempt: u32, acker: impl Acker) -> Self {
        Delivery {
            message,
            attempt,
            published_ms: None,
            acker: Box::new(acker),
            _slot: None,
        }
    }

    /// The same delivery, holding `slot` of its member's [`Window`] until it is settled.
    pub(crate) fn in_window(mut self, slot: Option<OwnedSemaphorePermit>) -> Self {
        self._slot = slot;
        self
    }

    /// The same delivery, stored by the broker at `ms` (Unix milliseconds).
    pub fn published_at(mut self, ms: Option<u64>) -> Self {
        self.published_ms = ms;
        self
    }

    /// Acknowledges the message: it will not be delivered again. On JetStream the ack is
    /// sent without waiting for the server's answer (a consumer then settles as fast as it
    /// handles, however slow the server is): [`crate::Broker::flush`] waits until every ack
    /// sent so far has reached the server, and a process that dies before then gets those
    /// messages again (at-least-once). Redis Streams waits for `XACK`'s answer.
    pub async fn ack(self) -> Result<(), BrokerError> {
        self.acker.ack().await
    }

    /// Gives the message back for redelivery.
    pub async fn nack(self) -> Result<(), BrokerError> {
        self.acker.nack().await
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("attempt", &self.attempt)
            .field("published_ms", &self.published_ms)
            .finish_non_exhaustive()
    }
}

/// A member of a durable worker group: each message goes to one member and stays with the
/// broker until a member acknowledges it. Drop it to leave the group; what it had not
/// acknowledged is redelivered to the others.
pub struct DurableSubscription {
    rx: mpsc::Receiver<Delivery>,
    _guard: Box<dyn Send + Sync>,
    /// A keyed group member's: resolves once its goodbye is out (or could not be sent in
    /// time).
    farewell: Option<BoxFuture<'static, ()>>,
}

impl DurableSubscription {
    /// Wraps a backend's channel and the guard that leaves the group on drop.
    pub fn new(rx: mpsc::Receiver<Delivery>, guard: impl Send + Sync + 'static) -> Self {
        DurableSubscription {
            rx,
            _guard: Box::new(guard),
            farewell: None,
        }
    }

    /// A durable keyed group member, whose goodbye [`DurableSubscription::close`] waits for.
    pub(crate) fn with_farewell(mut self, farewell: Option<BoxFuture<'static, ()>>) -> Self {
        self.farewell = farewell;
        self
    }

    /// Leaves, as dropping it does; a member of a durable keyed group
    /// ([`Broker::subscribe_keyed_durable`](crate::Broker::subscribe_keyed_durable)) also
    /// waits until its goodbye is out (at most
    /// [`MEMBER_TIMEOUT`](crate::keyed::MEMBER_TIMEOUT)), so that the other members join its
    /// partitions at once rather than once they notice its silence.
    pub async fn close(self) {
        let DurableSubscription {
            rx,
            _guard,
            farewell,
        } = self;
        drop(rx);
        drop(_guard);
        if let Some(farewell) = farewell {
            farewell.await;
        }
    }

    /// The next delivery; `None` once the broker has closed the subscription.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// A delivery if one is already waiting.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok()
    }
}

impl fmt::Debug for DurableSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableSubscription")
            .finish_non_exhaustive()
    }
}

/// How many deliveries one durable group member may hold unsettled
/// ([`DurableOptions::max_in_flight`](crate::DurableOptions::max_in_flight)). A member asks
/// its broker for no more than there is room for, so that a consumer slower than its share
/// (or stuck) leaves the rest of the stream to the other members: were it to take what it
/// cannot settle within the ack timeout, the broker would deliver it all again, to everyone,
/// and a group under load could spend itself on redeliveries.
#[derive(Clone)]
pub(crate) struct Window(Arc<Semaphore>);

impl Window {
    pub(crate) fn new(size: u32) -> Self {
        Window(Arc::new(Semaphore::new(size.max(1) as usize)))
    }

    /// Waits until one more delivery fits, then takes the room there is, up to `most`.
    pub(crate) async fn room(&self, most: usize) -> Room {
        let Ok(mut room) = Arc::clone(&self.0).acquire_owned().await else {
            return Room(None); // never closed
        };
        let more = self.0.available_permits().min(most.saturating_sub(1));
        if let Ok(more) = Arc::clone(&self.0).try_acquire_many_owned(more as u32)
            && more.num_permits() > 0
        {
            room.merge(more);
        }
        Room(Some(room))
    }
}

/// Room in a [`Window`] for a few deliveries; what is not handed out is given back on drop.
pub(crate) struct Room(Option<OwnedSemaphorePermit>);

impl Room {
    /// How many deliveries still fit.
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// One delivery's slot, to travel with it ([`Delivery::in_window`]).
    pub(crate) fn take(&mut self) -> Option<OwnedSemaphorePermit> {
        match &mut self.0 {
            Some(p) if p.num_permits() > 1 => p.split(1),
            _ => self.0.take(),
        }
    }
}

/// Aborts a backend task when dropped: the guard of most remote subscriptions.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
