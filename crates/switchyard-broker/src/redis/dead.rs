//! The dead-letter streams of Redis Streams mode, `{name}:dead:{prefix}`, read and settled
//! for [`crate::dead_letters`]: each entry holds the topic, the payload, the group that gave
//! up, its delivery count and the reason (entries written before the reason was recorded get
//! one from their count). A letter's id is `{prefix}/{entry id}`.

use std::sync::Arc;

use async_trait::async_trait;
use redis::Value;

use super::conn::{bytes, entry_fields, text};
use super::inspect::Inspector;
use crate::dead_letters::{self, DeadLetter, DeadLetterFilter, DeadLetterQueue, DeadLetters};
use crate::{BrokerError, DurableOptions, Topic};

/// Entries read per `XRANGE`.
const BATCH: usize = 256;

/// The dead-letter side of a [`super::StreamsBroker`].
pub(crate) struct RedisDeadLetters {
    inspect: Arc<Inspector>,
    durable: Arc<DurableOptions>,
}

impl RedisDeadLetters {
    pub(crate) fn new(inspect: Arc<Inspector>, durable: Arc<DurableOptions>) -> Self {
        RedisDeadLetters { inspect, durable }
    }

    async fn query(&self, cmd: &redis::Cmd) -> Result<Value, BrokerError> {
        self.inspect.query(cmd).await
    }

    fn key_prefix(&self) -> String {
        format!("{}:dead:", self.durable.name)
    }

    /// Every dead-letter stream key, sorted.
    async fn keys(&self) -> Result<Vec<String>, BrokerError> {
        let mut keys = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(&cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.key_prefix()))
                .arg("COUNT")
                .arg(1000)
                .arg("TYPE")
                .arg("stream");
            let Value::Array(mut reply) = self.query(&cmd).await? else {
                break;
            };
            if reply.len() != 2 {
                break;
            }
            if let Value::Array(found) = reply.pop().unwrap_or(Value::Nil) {
                keys.extend(found.into_iter().filter_map(text));
            }
            cursor = reply.pop().and_then(text).unwrap_or_else(|| "0".to_owned());
            if cursor == "0" {
                break;
            }
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// Calls `each` on every letter of `key`, oldest first, until it returns false.
    async fn scan(
        &self,
        key: &str,
        mut each: impl FnMut(DeadLetter) -> bool,
    ) -> Result<(), BrokerError> {
        let prefix = key.strip_prefix(&self.key_prefix()).unwrap_or(key);
        let mut start = "-".to_owned();
        loop {
            let mut cmd = redis::cmd("XRANGE");
            cmd.arg(key).arg(&start).arg("+").arg("COUNT").arg(BATCH);
            let Value::Array(items) = self.query(&cmd).await? else {
                return Ok(());
            };
            let n = items.len();
            for item in items {
                let Some((id, letter)) = parse(key, prefix, item, self.durable.max_deliver) else {
                    continue;
                };
                start = format!("({id}");
                if let Some(letter) = letter
                    && !each(letter)
                {
                    return Ok(());
                }
            }
            if n < BATCH {
                return Ok(());
            }
        }
    }
}

#[async_trait]
impl DeadLetters for RedisDeadLetters {
    async fn queues(&self) -> Result<Vec<DeadLetterQueue>, BrokerError> {
        let mut queues = Vec::new();
        for key in self.keys().await? {
            let mut queue = DeadLetterQueue {
                name: key.clone(),
                count: 0,
                groups: Vec::new(),
            };
            self.scan(&key, |letter| {
                queue.count += 1;
                dead_letters::count_group(&mut queue.groups, letter.group.as_deref());
                true
            })
            .await?;
            queues.push(queue);
        }
        Ok(queues)
    }

    async fn read(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, BrokerError> {
        let mut out = Vec::new();
        for key in self.keys().await? {
            if filter.full(out.len()) {
                break;
            }
            self.scan(&key, |letter| {
                if filter.accepts(&letter) {
                    out.push(letter);
                }
                !filter.full(out.len())
            })
            .await?;
        }
        Ok(out)
    }

    async fn delete(&self, letter: &DeadLetter) -> Result<bool, BrokerError> {
        let entry = letter.id.rsplit('/').next().unwrap_or(&letter.id);
        let mut cmd = redis::cmd("XDEL");
        cmd.arg(&letter.queue).arg(entry);
        Ok(matches!(self.query(&cmd).await?, Value::Int(n) if n > 0))
    }
}

/// One `XRANGE` item: its entry id, and the letter when the entry is readable.
fn parse(
    key: &str,
    prefix: &str,
    item: Value,
    max_deliver: u32,
) -> Option<(String, Option<DeadLetter>)> {
    let (id, fields) = entry_fields(item)?;
    let (mut topic, mut payload, mut group, mut deliveries, mut reason) =
        (None, None, None, None, None);
    for (k, v) in fields {
        match k.as_str() {
            "topic" => topic = text(v).and_then(|t| Topic::new(&t).ok()),
            "payload" => payload = bytes(v),
            "group" => group = text(v),
            "deliveries" => deliveries = text(v).and_then(|d| d.parse().ok()),
            "reason" => reason = text(v),
            _ => {}
        }
    }
    let letter = match (topic, payload) {
        (Some(topic), Some(payload)) => Some(DeadLetter {
            id: format!("{prefix}/{id}"),
            queue: key.to_owned(),
            topic,
            group,
            reason: reason.unwrap_or_else(|| {
                dead_letters::reason(deliveries.unwrap_or(max_deliver), max_deliver)
            }),
            deliveries,
            payload,
        }),
        _ => None,
    };
    Some((id, letter))
}
