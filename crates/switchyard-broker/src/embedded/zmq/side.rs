//! The ZeroMQ side of the hub: each connected SUB socket, its topic-prefix subscriptions and
//! its bounded queue. Prefixes are ZeroMQ's: plain bytes matched against the start of the
//! topic (`inbound.discord.` covers every inbound Discord event), kept as a multiset as libzmq
//! keeps them (two subscribes need two cancels).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::embedded::redis_side::Delivered;

/// Identifies one SUB connection.
pub(crate) type ZmqClientId = u64;

/// A `[topic, payload]` message on its way to one SUB connection.
pub(crate) type ZmqOut = (Bytes, Bytes);

struct Client {
    prefixes: Vec<Bytes>,
    tx: mpsc::Sender<ZmqOut>,
    dropped: AtomicU64,
}

/// Every SUB connection of the embedded broker's PUB endpoint.
#[derive(Default)]
pub(crate) struct ZmqSide {
    clients: HashMap<ZmqClientId, Client>,
}

impl ZmqSide {
    /// Whether any connection subscribes to anything.
    pub(crate) fn has_subscribers(&self) -> bool {
        self.clients.values().any(|c| !c.prefixes.is_empty())
    }

    /// Registers a connection with no subscriptions yet.
    pub(crate) fn connect(&mut self, client: ZmqClientId, tx: mpsc::Sender<ZmqOut>) {
        self.clients.insert(
            client,
            Client {
                prefixes: Vec::new(),
                tx,
                dropped: AtomicU64::new(0),
            },
        );
    }

    /// Forgets a connection and its subscriptions.
    pub(crate) fn disconnect(&mut self, client: ZmqClientId) {
        self.clients.remove(&client);
    }

    /// Adds one subscription to `prefix`, unless the connection already holds `max`; false
    /// then.
    pub(crate) fn subscribe(&mut self, client: ZmqClientId, prefix: Bytes, max: usize) -> bool {
        match self.clients.get_mut(&client) {
            Some(c) if c.prefixes.len() >= max => false,
            Some(c) => {
                c.prefixes.push(prefix);
                true
            }
            None => true,
        }
    }

    /// Removes one subscription to `prefix`, if there is one.
    pub(crate) fn cancel(&mut self, client: ZmqClientId, prefix: &[u8]) {
        if let Some(c) = self.clients.get_mut(&client)
            && let Some(i) = c.prefixes.iter().position(|p| p[..] == *prefix)
        {
            c.prefixes.swap_remove(i);
        }
    }

    /// Offers the message to every connection with a matching prefix, once each (as a PUB
    /// socket does); a full queue drops it for that connection only. Returns what happened
    /// and, for a connection that dropped, its own count so far (for rate-limited logs).
    pub(crate) fn deliver(&self, topic: &Bytes, payload: &Bytes) -> (Delivered, Option<u64>) {
        let mut out = Delivered::default();
        let mut worst = None;
        for c in self.clients.values() {
            if !c.prefixes.iter().any(|p| topic.starts_with(p)) {
                continue;
            }
            out.reached += 1;
            if let Err(TrySendError::Full(_)) = c.tx.try_send((topic.clone(), payload.clone())) {
                out.dropped += 1;
                let n = c.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                worst = worst.max(Some(n));
            }
        }
        (out, worst)
    }
}
