//! The dead-letter stream of JetStream mode, `{NAME}_DEAD` (subjects
//! `_sy_dead.{name}.{topic}`), read and settled for [`crate::dead_letters`]: the group, the
//! delivery count and the reason travel as `Switchyard-Group`, `Switchyard-Deliveries` and
//! `Switchyard-Reason` headers. A letter's id is its stream sequence.

use async_nats::jetstream::{self, stream};
use async_trait::async_trait;

use crate::dead_letters::{self, DeadLetter, DeadLetterFilter, DeadLetterQueue, DeadLetters};
use crate::{BrokerError, Topic};

/// The dead-letter side of a [`super::jetstream::JetStream`].
pub(crate) struct NatsDeadLetters {
    pub(crate) context: jetstream::Context,
    /// The stream, `{NAME}_DEAD`.
    pub(crate) stream: String,
    /// `_sy_dead.{name}`, before the original topic.
    pub(crate) prefix: String,
    pub(crate) max_deliver: u32,
    pub(crate) url: String,
}

impl NatsDeadLetters {
    fn error(&self, e: impl std::fmt::Display) -> BrokerError {
        BrokerError::backend(
            "nats-jetstream",
            format!("dead-letter stream {} at {}: {e}", self.stream, self.url),
        )
    }

    async fn stream(&self) -> Result<stream::Stream, BrokerError> {
        self.context
            .get_stream(&self.stream)
            .await
            .map_err(|e| self.error(e))
    }

    /// Calls `each` on every letter, oldest first, until it returns false.
    async fn scan(&self, mut each: impl FnMut(DeadLetter) -> bool) -> Result<(), BrokerError> {
        let mut stream = self.stream().await?;
        let (messages, first, last) = {
            let state = &stream.info().await.map_err(|e| self.error(e))?.state;
            (state.messages, state.first_sequence, state.last_sequence)
        };
        if messages == 0 {
            return Ok(());
        }
        for seq in first..=last {
            let msg = match stream.get_raw_message(seq).await {
                Ok(m) => m,
                // Deleted (replayed or purged one by one): a gap in the sequence.
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => continue,
                Err(e) => return Err(self.error(e)),
            };
            let Some(topic) = msg
                .subject
                .as_str()
                .strip_prefix(&self.prefix)
                .and_then(|t| t.strip_prefix('.'))
                .and_then(|t| Topic::new(t).ok())
            else {
                continue;
            };
            let header = |name: &str| msg.headers.get(name).map(|v| v.as_str().to_owned());
            let deliveries = header("Switchyard-Deliveries").and_then(|d| d.parse().ok());
            let letter = DeadLetter {
                id: seq.to_string(),
                queue: self.stream.clone(),
                topic,
                group: header("Switchyard-Group"),
                reason: header("Switchyard-Reason").unwrap_or_else(|| {
                    dead_letters::reason(deliveries.unwrap_or(self.max_deliver), self.max_deliver)
                }),
                deliveries,
                payload: msg.payload,
            };
            if !each(letter) {
                break;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DeadLetters for NatsDeadLetters {
    async fn queues(&self) -> Result<Vec<DeadLetterQueue>, BrokerError> {
        let mut queue = DeadLetterQueue {
            name: self.stream.clone(),
            count: 0,
            groups: Vec::new(),
        };
        self.scan(|letter| {
            queue.count += 1;
            dead_letters::count_group(&mut queue.groups, letter.group.as_deref());
            true
        })
        .await?;
        Ok(vec![queue])
    }

    async fn read(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, BrokerError> {
        let mut out = Vec::new();
        if filter.full(0) {
            return Ok(out);
        }
        self.scan(|letter| {
            if filter.accepts(&letter) {
                out.push(letter);
            }
            !filter.full(out.len())
        })
        .await?;
        Ok(out)
    }

    async fn delete(&self, letter: &DeadLetter) -> Result<bool, BrokerError> {
        let Ok(seq) = letter.id.parse::<u64>() else {
            return Ok(false);
        };
        let stream = self.stream().await?;
        match stream.delete_message(seq).await {
            Ok(done) => Ok(done),
            // Already gone.
            Err(e) if e.to_string().contains("no message found") => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn purge(&self, filter: &DeadLetterFilter) -> Result<u64, BrokerError> {
        if *filter != DeadLetterFilter::default() {
            let mut removed = 0;
            for letter in self.read(filter).await? {
                if self.delete(&letter).await? {
                    removed += 1;
                }
            }
            return Ok(removed);
        }
        let stream = self.stream().await?;
        let done = stream.purge().await.map_err(|e| self.error(e))?;
        Ok(done.purged)
    }
}
