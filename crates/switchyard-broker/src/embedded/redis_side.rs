//! The Redis-semantics side of the embedded broker: the channels and glob patterns that
//! clients of the RESP listener subscribe to. Channel names are opaque bytes and globs match
//! the whole name, exactly as in Redis.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::glob::glob_match;

/// Identifies one RESP connection.
pub type RespClientId = u64;

/// A message for a RESP client, in the shape Redis pushes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespDelivery {
    /// `message channel payload`, for a SUBSCRIBE.
    Message {
        /// The channel.
        channel: Bytes,
        /// The payload.
        payload: Bytes,
    },
    /// `pmessage pattern channel payload`, for a PSUBSCRIBE.
    PMessage {
        /// The glob that matched.
        pattern: Bytes,
        /// The channel.
        channel: Bytes,
        /// The payload.
        payload: Bytes,
    },
}

type Clients = HashMap<RespClientId, mpsc::Sender<RespDelivery>>;

/// Subscriptions of RESP clients.
#[derive(Default)]
pub(crate) struct RedisSide {
    channels: HashMap<Bytes, Clients>,
    patterns: HashMap<Bytes, Clients>,
}

/// What one delivery did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Delivered {
    /// Receivers counted as Redis counts them (one per matching subscription).
    pub(crate) reached: usize,
    /// Deliveries dropped because a client's buffer was full.
    pub(crate) dropped: usize,
}

impl RedisSide {
    pub(crate) fn has_subscribers(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }

    /// Returns true if the client was not yet subscribed to `channel`.
    pub(crate) fn subscribe(
        &mut self,
        client: RespClientId,
        channel: Bytes,
        tx: mpsc::Sender<RespDelivery>,
    ) -> bool {
        self.channels
            .entry(channel)
            .or_default()
            .insert(client, tx)
            .is_none()
    }

    /// Returns true if the client was subscribed to `channel`.
    pub(crate) fn unsubscribe(&mut self, client: RespClientId, channel: &[u8]) -> bool {
        remove(&mut self.channels, client, channel)
    }

    /// Returns true if the client was not yet subscribed to `pattern`.
    pub(crate) fn psubscribe(
        &mut self,
        client: RespClientId,
        pattern: Bytes,
        tx: mpsc::Sender<RespDelivery>,
    ) -> bool {
        self.patterns
            .entry(pattern)
            .or_default()
            .insert(client, tx)
            .is_none()
    }

    /// Returns true if the client was subscribed to `pattern`.
    pub(crate) fn punsubscribe(&mut self, client: RespClientId, pattern: &[u8]) -> bool {
        remove(&mut self.patterns, client, pattern)
    }

    /// Delivers to every client subscribed to `channel` or to a glob matching it.
    pub(crate) fn deliver(&self, channel: &Bytes, payload: &Bytes) -> Delivered {
        let mut out = Delivered::default();
        let mut offer = |tx: &mpsc::Sender<RespDelivery>, delivery: RespDelivery| {
            out.reached += 1;
            if let Err(TrySendError::Full(_)) = tx.try_send(delivery) {
                out.dropped += 1;
            }
        };
        if let Some(clients) = self.channels.get(channel) {
            for tx in clients.values() {
                offer(
                    tx,
                    RespDelivery::Message {
                        channel: channel.clone(),
                        payload: payload.clone(),
                    },
                );
            }
        }
        for (pattern, clients) in &self.patterns {
            if glob_match(pattern, channel) {
                for tx in clients.values() {
                    offer(
                        tx,
                        RespDelivery::PMessage {
                            pattern: pattern.clone(),
                            channel: channel.clone(),
                            payload: payload.clone(),
                        },
                    );
                }
            }
        }
        out
    }

    /// `PUBSUB CHANNELS [pattern]`: channels with at least one subscriber.
    pub(crate) fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c)))
            .cloned()
            .collect()
    }

    /// `PUBSUB NUMSUB channel`: subscribers of exactly this channel.
    pub(crate) fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.get(channel).map_or(0, HashMap::len)
    }

    /// `PUBSUB NUMPAT`: distinct patterns with at least one subscriber.
    pub(crate) fn numpat(&self) -> usize {
        self.patterns.len()
    }
}

fn remove(map: &mut HashMap<Bytes, Clients>, client: RespClientId, name: &[u8]) -> bool {
    let Some(clients) = map.get_mut(name) else {
        return false;
    };
    let removed = clients.remove(&client).is_some();
    if clients.is_empty() {
        map.remove(name);
    }
    removed
}
