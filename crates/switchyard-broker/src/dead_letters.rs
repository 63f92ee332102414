//! Reading and settling dead letters: the messages a durable group gave up on after
//! `max_deliver` deliveries. Redis Streams keeps them in `{name}:dead:{prefix}` streams,
//! JetStream in the `{NAME}_DEAD` stream; [`crate::Broker::dead_letters`] reaches them, and
//! [`replay`] republishes them on their original topic, removing each only once the broker
//! has confirmed its copy.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Broker, BrokerError, Topic};

/// One dead-letter stream: its name and how many letters it holds, per group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQueue {
    /// The Redis key or the JetStream stream name.
    pub name: String,
    /// Letters in it.
    pub count: u64,
    /// Letters per group that gave up on them (sorted by group; `?` when not recorded).
    pub groups: Vec<(String, u64)>,
}

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its id, unique across the broker's dead-letter streams (Redis: `{prefix}/{entry id}`,
    /// JetStream: the stream sequence). [`DeadLetterFilter::ids`] takes it back.
    pub id: String,
    /// The dead-letter stream holding it.
    pub queue: String,
    /// The topic it was published on, where a replay sends it.
    pub topic: Topic,
    /// The group that gave up on it.
    pub group: Option<String>,
    /// How many times it was delivered to that group.
    pub deliveries: Option<u32>,
    /// Why it was dead-lettered.
    pub reason: String,
    /// The payload as published.
    pub payload: Bytes,
}

/// Which dead letters an operation takes: all by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only these ids (none: any).
    pub ids: Vec<String>,
    /// Only letters of this group.
    pub group: Option<String>,
    /// At most this many, oldest first.
    pub limit: Option<usize>,
}

impl DeadLetterFilter {
    /// Whether `letter` passes the id and group conditions (the limit is the caller's).
    pub fn accepts(&self, letter: &DeadLetter) -> bool {
        (self.ids.is_empty() || self.ids.contains(&letter.id))
            && self
                .group
                .as_ref()
                .is_none_or(|g| letter.group.as_deref() == Some(g.as_str()))
    }

    /// Whether `n` letters reach the limit.
    pub fn full(&self, n: usize) -> bool {
        self.limit.is_some_and(|max| n >= max)
    }
}

/// A backend's dead-letter streams.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// The dead-letter streams, with their counts (streams that exist but are empty too).
    async fn queues(&self) -> Result<Vec<DeadLetterQueue>, BrokerError>;

    /// The letters `filter` selects, oldest first within each stream.
    async fn read(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, BrokerError>;

    /// Removes one letter; false when it was already gone.
    async fn delete(&self, letter: &DeadLetter) -> Result<bool, BrokerError>;

    /// Removes the letters `filter` selects; how many were removed.
    async fn purge(&self, filter: &DeadLetterFilter) -> Result<u64, BrokerError> {
        let mut removed = 0;
        for letter in self.read(filter).await? {
            if self.delete(&letter).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A replay that stopped part-way: the letters before it were republished and removed, the
/// failing one and those after it are still dead letters.
#[derive(Debug, thiserror::Error)]
#[error("replayed {replayed} dead letter(s), then failed on {id}: {source}")]
pub struct ReplayError {
    /// Letters republished and removed before the failure.
    pub replayed: u64,
    /// The letter that failed.
    pub id: String,
    /// Why.
    #[source]
    pub source: BrokerError,
}

/// Republishes the letters `filter` selects on their original topics (the groups that read
/// those topics get them again, as new messages with a first delivery), removing each from
/// its dead-letter stream once the broker confirmed the copy: a failure half-way loses
/// nothing, and at worst the letter it failed on is both republished and still dead.
///
/// The copy carries no deduplication id, so that the broker's duplicate window does not
/// drop it as the message it once was.
pub async fn replay(broker: &dyn Broker, filter: &DeadLetterFilter) -> Result<u64, ReplayError> {
    let fail = |replayed, id: &str, source| ReplayError {
        replayed,
        id: id.to_owned(),
        source,
    };
    let dead = broker.dead_letters().map_err(|e| fail(0, "-", e))?;
    let letters = dead.read(filter).await.map_err(|e| fail(0, "-", e))?;
    let mut replayed = 0;
    for letter in letters {
        broker
            .publish_confirmed(&letter.topic, letter.payload.clone())
            .await
            .map_err(|e| fail(replayed, &letter.id, e))?;
        dead.delete(&letter)
            .await
            .map_err(|e| fail(replayed, &letter.id, e))?;
        replayed += 1;
    }
    Ok(replayed)
}

/// Why a message became a dead letter, as stored beside it.
pub(crate) fn reason(deliveries: u32, max_deliver: u32) -> String {
    format!("not acknowledged after {deliveries} deliveries (max_deliver {max_deliver})")
}

/// Adds one letter to per-group counts kept sorted by group.
pub(crate) fn count_group(groups: &mut Vec<(String, u64)>, group: Option<&str>) {
    let group = group.unwrap_or("?");
    match groups.binary_search_by(|(g, _)| g.as_str().cmp(group)) {
        Ok(i) => groups[i].1 += 1,
        Err(i) => groups.insert(i, (group.to_owned(), 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(id: &str, group: Option<&str>) -> DeadLetter {
        DeadLetter {
            id: id.into(),
            queue: "q".into(),
            topic: Topic::new("a.b").expect("valid"),
            group: group.map(str::to_owned),
            deliveries: Some(3),
            reason: reason(3, 3),
            payload: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn filters_by_id_and_group() {
        let all = DeadLetterFilter::default();
        assert!(all.accepts(&letter("1", None)));
        let by_group = DeadLetterFilter {
            group: Some("g".into()),
            ..Default::default()
        };
        assert!(by_group.accepts(&letter("1", Some("g"))));
        assert!(!by_group.accepts(&letter("1", Some("h"))));
        assert!(!by_group.accepts(&letter("1", None)));
        let by_id = DeadLetterFilter {
            ids: vec!["2".into()],
            ..Default::default()
        };
        assert!(!by_id.accepts(&letter("1", None)));
        assert!(by_id.accepts(&letter("2", None)));
    }

    #[test]
    fn counts_groups_sorted() {
        let mut groups = Vec::new();
        for g in [Some("b"), Some("a"), None, Some("b")] {
            count_group(&mut groups, g);
        }
        let expected: Vec<(String, u64)> = vec![("?".into(), 1), ("a".into(), 1), ("b".into(), 2)];
        assert_eq!(groups, expected);
    }
}
