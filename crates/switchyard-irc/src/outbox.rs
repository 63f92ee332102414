//! One network's outbound side: reads `outbound.irc.{network}.>`, refuses what cannot be sent
//! (reported on `errors.{topic}` and to `reply_to`, counted and logged), drops a repeated
//! nonce, and keeps the PRIVMSG lines waiting for the connection, in order, at most
//! `send_queue` of them. It outlives connections: messages published while the connection is
//! down are sent once it is back.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use switchyard_broker::{Broker, Message, Topic};
use switchyard_core::outbound::{Answer, ERRORS_PREFIX, ErrorKind, ErrorReport, Rejected};

use crate::outbound;

/// How many nonces are remembered to drop repeats.
const NONCES: usize = 1024;

/// One PRIVMSG waiting to go.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) target: String,
    pub(crate) text: String,
    /// Set on the last line of a message that asked to be answered.
    pub(crate) reply_to: Option<Topic>,
}

/// The queue of one network.
pub(crate) struct Outbox {
    network: String,
    prefix: String,
    broker: Arc<dyn Broker>,
    queue: VecDeque<Pending>,
    cap: usize,
    /// Milliseconds each queued line waits for flood control, for `retry_after_ms`.
    line_ms: u64,
    nonces: VecDeque<String>,
    seen: HashSet<String>,
    /// Refusals so far, so that a flood of them is logged sparingly.
    refused: u64,
}

impl Outbox {
    pub(crate) fn new(network: &str, broker: Arc<dyn Broker>, cap: usize, line_ms: u64) -> Self {
        Outbox {
            network: network.to_owned(),
            prefix: format!("outbound.irc.{network}"),
            broker,
            queue: VecDeque::new(),
            cap,
            line_ms,
            nonces: VecDeque::new(),
            seen: HashSet::new(),
            refused: 0,
        }
    }

    /// The pattern this outbox reads.
    pub(crate) fn pattern(&self) -> String {
        format!("{}.>", self.prefix)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// The next line to send.
    pub(crate) fn pop(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    /// Takes one outbound message.
    pub(crate) async fn accept(&mut self, msg: Message) {
        let send = match outbound::read(&self.prefix, &msg.topic, &msg.payload) {
            Ok(s) => s,
            Err(rejected) => return self.refuse(&msg, rejected).await,
        };
        if let Some(n) = &send.nonce {
            if self.seen.contains(n) {
                tracing::info!(network = %self.network, topic = %msg.topic, "dropping a repeated nonce");
                metrics::counter!("switchyard_irc_outbound_duplicates_total", "network" => self.network.clone()).increment(1);
                self.answer(
                    send.reply_to.as_ref(),
                    &Answer {
                        ok: true,
                        ..Answer::default()
                    },
                )
                .await;
                return;
            }
            self.remember(n.clone());
        }
        if self.queue.len() + send.lines.len() > self.cap {
            let rejected = Rejected {
                kind: ErrorKind::QueueFull,
                reason: format!(
                    "{} lines are waiting for IRC flood control (irc send_queue = {})",
                    self.queue.len(),
                    self.cap
                ),
                reply_to: send.reply_to,
            };
            return self.refuse(&msg, rejected).await;
        }
        let last = send.lines.len() - 1;
        for (i, text) in send.lines.into_iter().enumerate() {
            self.queue.push_back(Pending {
                target: send.target.as_str().to_owned(),
                text,
                reply_to: if i == last {
                    send.reply_to.clone()
                } else {
                    None
                },
            });
        }
    }

    fn remember(&mut self, nonce: String) {
        if self.nonces.len() == NONCES
            && let Some(old) = self.nonces.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(nonce.clone());
        self.nonces.push_back(nonce);
    }

    /// Tells `reply_to` that a message's lines were all sent.
    pub(crate) async fn sent(&self, reply_to: Option<&Topic>) {
        self.answer(
            reply_to,
            &Answer {
                ok: true,
                ..Answer::default()
            },
        )
        .await;
    }

    async fn answer(&self, reply_to: Option<&Topic>, answer: &Answer) {
        let Some(topic) = reply_to else { return };
        if let Err(e) = self
            .broker
            .publish(topic, Bytes::from(answer.to_json()))
            .await
        {
            tracing::warn!(network = %self.network, %topic, error = %e, "cannot publish an answer");
        }
    }

    async fn refuse(&mut self, msg: &Message, rejected: Rejected) {
        let kind = rejected.kind;
        self.refused += 1;
        // The first few, then one in a thousand: a flood of refusals must not flood the log
        // (the metric counts them all).
        if self.refused <= 10 || self.refused.is_multiple_of(1000) {
            tracing::warn!(network = %self.network, topic = %msg.topic, %kind, reason = %rejected.reason, refused = self.refused, "outbound IRC message refused");
        }
        metrics::counter!("switchyard_irc_outbound_errors_total", "network" => self.network.clone(), "kind" => kind.as_str()).increment(1);
        let retry_after_ms =
            (kind == ErrorKind::QueueFull).then(|| self.line_ms * self.queue.len() as u64);
        let text = String::from_utf8_lossy(&msg.payload);
        let mut cut = text.len().min(2048);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let report = ErrorReport {
            topic: msg.topic.to_string(),
            kind,
            reason: rejected.reason.clone(),
            payload: text[..cut].to_owned(),
            status: None,
            discord: None,
            retry_after_ms,
        };
        match Topic::new(&format!("{ERRORS_PREFIX}.{}", msg.topic)) {
            Ok(t) => {
                if let Err(e) = self.broker.publish(&t, Bytes::from(report.to_json())).await {
                    tracing::warn!(network = %self.network, error = %e, "cannot publish an error report");
                }
            }
            Err(e) => tracing::warn!(network = %self.network, error = %e, "no error topic"),
        }
        let mut answer = Answer::failed(kind, rejected.reason);
        answer.retry_after_ms = retry_after_ms;
        self.answer(rejected.reply_to.as_ref(), &answer).await;
    }
}
