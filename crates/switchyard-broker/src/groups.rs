//! [`GroupInfo`]: a durable group as the broker itself keeps it (a Redis Streams consumer
//! group, a JetStream durable consumer), read by [`crate::Broker::durable_groups`] for the
//! dashboard: every group there is, whether or not a service announced it, how much it holds
//! unacknowledged or unread, and the members the broker tracks. A keyed durable group shows
//! as one group per partition (see [`crate::keyed`]).

use serde::Serialize;

/// One durable group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupInfo {
    /// Where the group reads: the Redis stream key, or the JetStream stream.
    pub stream: String,
    /// The group's name.
    pub name: String,
    /// Delivered to a member and not acknowledged yet.
    pub pending: u64,
    /// In the stream and not delivered to the group yet, where the broker can tell.
    pub unread: Option<u64>,
    /// The members the broker tracks: Redis's consumers of the group. JetStream tracks no
    /// members of a pull consumer (see `waiting_pulls`).
    pub members: Vec<GroupMember>,
    /// JetStream: the pull requests waiting on the consumer, about one per live member.
    pub waiting_pulls: Option<u64>,
}

/// A member the broker tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    /// Its consumer name.
    pub name: String,
    /// Delivered to it and not acknowledged yet.
    pub pending: u64,
    /// Milliseconds since it last read.
    pub idle_ms: u64,
}
