//! The Redis publish path: one writer task per broker that pipelines whatever is queued on one
//! multiplexed connection (several pipelines in flight, in order), and buffers during an
//! outage.
//!
//! When the connection is lost, the batch in flight is counted as undeliverable (it may or may
//! not have reached Redis), new messages are buffered up to `outage_buffer` while the task
//! reconnects with backoff, and the oldest are dropped (counted and logged) beyond that.
//! Confirmed publishes fail at once with [`BrokerError::Disconnected`] during an outage.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, oneshot};

use super::conn::{RedisTarget, is_connection_error};
use crate::{BrokerError, Published, Topic};

/// Most commands in one pipeline.
const MAX_BATCH: usize = 1024;
/// Most payload bytes in one pipeline.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Pipelines sent before the oldest is answered.
const MAX_IN_FLIGHT: usize = 4;

/// One message on its way to Redis.
pub(crate) struct Outgoing {
    pub(crate) topic: Topic,
    pub(crate) payload: Bytes,
    /// The deduplication id, if any.
    pub(crate) id: Option<String>,
    /// Where the caller waits for the answer; `None` for fire-and-forget publishes.
    pub(crate) reply: Option<oneshot::Sender<Result<Published, BrokerError>>>,
    /// A flush marker ([`Publisher::flush`]): a `PING` in the pipeline, not a publish.
    pub(crate) marker: bool,
}

/// How a mode turns a message into a command and reads the answer.
pub(crate) trait PublishCommand: Send + Sync + 'static {
    /// Appends the command for `msg` to `pipe`.
    fn add(&self, pipe: &mut redis::Pipeline, msg: &Outgoing);
    /// Reads the answer to that command.
    fn result(&self, value: redis::Value) -> Result<Published, BrokerError>;
}

/// The caller's side of the writer task.
pub(crate) struct Publisher {
    tx: mpsc::Sender<Outgoing>,
    undeliverable: Arc<AtomicU64>,
}

impl Publisher {
    /// Starts the writer task on `conn`.
    pub(crate) fn spawn(
        target: Arc<RedisTarget>,
        conn: MultiplexedConnection,
        command: Arc<dyn PublishCommand>,
        outage_buffer: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        let undeliverable = Arc::new(AtomicU64::new(0));
        // at zero from the start, so that dashboards show a line rather than no data
        metrics::counter!("switchyard_broker_undeliverable_total", "backend" => "redis")
            .increment(0);
        let writer = Writer {
            target,
            command,
            outage_limit: outage_buffer,
            buffer: VecDeque::new(),
            undeliverable: Arc::clone(&undeliverable),
        };
        tokio::spawn(writer.run(conn, rx));
        Publisher { tx, undeliverable }
    }

    /// Queues a message (fire-and-forget).
    pub(crate) async fn send(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        let msg = Outgoing {
            topic: topic.clone(),
            payload,
            id: None,
            reply: None,
            marker: false,
        };
        self.tx
            .send(msg)
            .await
            .map_err(|_| BrokerError::Closed("redis"))
    }

    /// Queues a message and waits for Redis's answer.
    pub(crate) async fn confirmed(
        &self,
        topic: &Topic,
        payload: Bytes,
        id: Option<&str>,
    ) -> Result<Published, BrokerError> {
        let (reply, answer) = oneshot::channel();
        let msg = Outgoing {
            topic: topic.clone(),
            payload,
            id: id.map(str::to_owned),
            reply: Some(reply),
            marker: false,
        };
        self.tx
            .send(msg)
            .await
            .map_err(|_| BrokerError::Closed("redis"))?;
        answer.await.map_err(|_| BrokerError::Closed("redis"))?
    }

    /// Queues every message of `items` (in order) before waiting for the first answer, and
    /// answers for each in the same order.
    pub(crate) async fn confirmed_batch(
        &self,
        items: &[crate::IdPublish<'_>],
        check: impl Fn(&Topic, &Bytes) -> Result<(), BrokerError>,
    ) -> Vec<Result<Published, BrokerError>> {
        let mut waiting = Vec::with_capacity(items.len());
        for item in items {
            if let Err(e) = check(item.topic, &item.payload) {
                waiting.push(Err(e));
                continue;
            }
            let (reply, answer) = oneshot::channel();
            let msg = Outgoing {
                topic: item.topic.clone(),
                payload: item.payload.clone(),
                id: Some(item.id.to_owned()),
                reply: Some(reply),
                marker: false,
            };
            waiting.push(match self.tx.send(msg).await {
                Ok(()) => Ok(answer),
                Err(_) => Err(BrokerError::Closed("redis")),
            });
        }
        let mut answers = Vec::with_capacity(waiting.len());
        for w in waiting {
            answers.push(match w {
                Ok(answer) => answer.await.unwrap_or(Err(BrokerError::Closed("redis"))),
                Err(e) => Err(e),
            });
        }
        answers
    }

    /// Waits until Redis has answered everything queued before the call: a `PING` sent in
    /// order behind it. Fails with [`BrokerError::Disconnected`] during an outage (what is
    /// buffered then has not reached Redis).
    pub(crate) async fn flush(&self) -> Result<(), BrokerError> {
        let (reply, answer) = oneshot::channel();
        let msg = Outgoing {
            topic: Topic::new("switchyard.flush").map_err(|e| BrokerError::backend("redis", e))?,
            payload: Bytes::new(),
            id: None,
            reply: Some(reply),
            marker: true,
        };
        self.tx
            .send(msg)
            .await
            .map_err(|_| BrokerError::Closed("redis"))?;
        answer
            .await
            .map_err(|_| BrokerError::Closed("redis"))?
            .map(|_| ())
    }

    /// Messages that could not be delivered so far.
    pub(crate) fn undeliverable(&self) -> u64 {
        self.undeliverable.load(Ordering::Relaxed)
    }
}

struct Writer {
    target: Arc<RedisTarget>,
    command: Arc<dyn PublishCommand>,
    outage_limit: usize,
    /// Messages waiting for the connection to come back.
    buffer: VecDeque<Outgoing>,
    undeliverable: Arc<AtomicU64>,
}

impl Writer {
    async fn run(mut self, conn: MultiplexedConnection, mut rx: mpsc::Receiver<Outgoing>) {
        let mut conn = Some(conn);
        let mut failures = 0u32;
        loop {
            if let Some(c) = conn.as_ref() {
                if !self.pump(c, &mut rx).await {
                    return;
                }
                conn = None;
                continue;
            }
            failures += 1;
            let sleep = tokio::time::sleep(self.target.retry.delay(failures));
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    msg = rx.recv() => match msg {
                        Some(msg) => self.hold(msg),
                        None => {
                            self.lose(self.buffer.len() as u64, "the broker was dropped during an outage");
                            return;
                        }
                    },
                }
            }
            match self.target.ready().await {
                Ok(c) => {
                    tracing::info!(
                        "publisher reconnected to Redis at {}; sending {} buffered message(s)",
                        self.target.url,
                        self.buffer.len()
                    );
                    conn = Some(c);
                    failures = 0;
                }
                Err(e) => tracing::warn!(
                    "publisher still cannot reach Redis at {} (attempt {failures}): {e}; {} message(s) buffered",
                    self.target.url,
                    self.buffer.len()
                ),
            }
        }
    }

    /// Sends pipelines, up to [`MAX_IN_FLIGHT`] at once, in order on one connection. Returns
    /// false when the broker was dropped, true when the connection was lost.
    ///
    /// While pipelines are in flight, a message that arrives goes out in the next pipeline at
    /// once rather than after the oldest answer: at a steady rate each message would otherwise
    /// wait for a Redis round trip before it is even sent.
    async fn pump(
        &mut self,
        conn: &MultiplexedConnection,
        rx: &mut mpsc::Receiver<Outgoing>,
    ) -> bool {
        let mut in_flight = FuturesOrdered::new();
        let mut open = true;
        loop {
            if in_flight.len() < MAX_IN_FLIGHT {
                let batch = if in_flight.is_empty() {
                    match self.next_batch(rx).await {
                        Some(batch) => Some(batch),
                        None => return false,
                    }
                } else {
                    self.ready_batch(rx)
                };
                if let Some(batch) = batch {
                    in_flight.push_back(self.query(conn, batch));
                    continue;
                }
            }
            let answered = if open && in_flight.len() < MAX_IN_FLIGHT {
                tokio::select! {
                    answered = in_flight.next() => answered,
                    msg = rx.recv() => {
                        match msg {
                            Some(msg) => self.buffer.push_back(msg),
                            None => open = false,
                        }
                        continue;
                    }
                }
            } else {
                in_flight.next().await
            };
            let Some((batch, result)) = answered else {
                continue;
            };
            if !self.settle(batch, result) {
                // Whatever else is in flight shares the lost connection.
                while let Some((batch, _)) = in_flight.next().await {
                    self.settle(
                        batch,
                        Err(redis::RedisError::from(std::io::Error::from(
                            std::io::ErrorKind::BrokenPipe,
                        ))),
                    );
                }
                return true;
            }
        }
    }

    /// The pipeline for `batch`, answered with the batch.
    fn query(
        &self,
        conn: &MultiplexedConnection,
        batch: Vec<Outgoing>,
    ) -> impl Future<Output = (Vec<Outgoing>, redis::RedisResult<Vec<redis::Value>>)> + use<> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for msg in &batch {
            if msg.marker {
                pipe.cmd("PING");
            } else {
                self.command.add(&mut pipe, msg);
            }
        }
        let mut conn = conn.clone();
        async move {
            let result = pipe.query_async::<Vec<redis::Value>>(&mut conn).await;
            (batch, result)
        }
    }

    /// A batch of what is already waiting, without waiting.
    fn ready_batch(&mut self, rx: &mut mpsc::Receiver<Outgoing>) -> Option<Vec<Outgoing>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let next = match self.buffer.pop_front() {
                Some(msg) => msg,
                None => match rx.try_recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                },
            };
            bytes += next.payload.len();
            batch.push(next);
        }
        (!batch.is_empty()).then_some(batch)
    }

    /// The buffered messages first, then what is queued, up to the batch limits.
    async fn next_batch(&mut self, rx: &mut mpsc::Receiver<Outgoing>) -> Option<Vec<Outgoing>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        if self.buffer.is_empty() {
            let first = rx.recv().await?;
            bytes += first.payload.len();
            batch.push(first);
        }
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let next = match self.buffer.pop_front() {
                Some(msg) => msg,
                None => match rx.try_recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                },
            };
            bytes += next.payload.len();
            batch.push(next);
        }
        Some(batch)
    }

    /// Answers the callers of one pipeline; false when the connection is gone.
    fn settle(
        &mut self,
        batch: Vec<Outgoing>,
        result: Result<Vec<redis::Value>, redis::RedisError>,
    ) -> bool {
        match result {
            Ok(values) => {
                let mut failed = 0u64;
                let mut values = values.into_iter();
                for msg in batch {
                    let result = match values.next() {
                        Some(_) if msg.marker => Ok(Published::default()),
                        Some(v) => self.command.result(v),
                        None => Err(BrokerError::backend("redis", "missing reply in a pipeline")),
                    };
                    match msg.reply {
                        Some(reply) => {
                            let _ = reply.send(result);
                        }
                        None => {
                            if let Err(e) = result {
                                failed += 1;
                                tracing::warn!("publish on {} failed: {e}", msg.topic);
                            }
                        }
                    }
                }
                self.lose(failed, "Redis refused them");
                true
            }
            Err(e) => {
                let lost = is_connection_error(&e);
                let reason = if lost {
                    format!("lost the connection to Redis at {}: {e}", self.target.url)
                } else {
                    format!("Redis refused a pipeline: {e}")
                };
                let mut failed = 0;
                for msg in batch {
                    match msg.reply {
                        Some(reply) => {
                            let _ = reply.send(Err(BrokerError::Disconnected {
                                backend: "redis",
                                detail: reason.clone(),
                            }));
                        }
                        None => failed += 1,
                    }
                }
                self.lose(failed, &reason);
                !lost
            }
        }
    }

    /// Buffers a message during an outage, dropping the oldest beyond the limit.
    fn hold(&mut self, msg: Outgoing) {
        if let Some(reply) = msg.reply {
            let _ = reply.send(Err(BrokerError::Disconnected {
                backend: "redis",
                detail: format!("reconnecting to {}", self.target.url),
            }));
            return;
        }
        if self.buffer.len() >= self.outage_limit {
            if self.buffer.pop_front().is_some() || self.outage_limit == 0 {
                self.lose(1, "the outage buffer is full");
            }
            if self.outage_limit == 0 {
                return;
            }
        }
        self.buffer.push_back(msg);
    }

    /// Counts and logs messages that will never be delivered.
    fn lose(&self, n: u64, why: &str) {
        if n == 0 {
            return;
        }
        let before = self.undeliverable.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("switchyard_broker_undeliverable_total", "backend" => "redis")
            .increment(n);
        // Log the first loss and then at every power of two, so an outage does not flood.
        let after = before + n;
        if before == 0 || (before + 1..=after).any(u64::is_power_of_two) {
            tracing::warn!("{n} message(s) not delivered ({after} in total): {why}");
        }
    }
}
