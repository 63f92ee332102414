//! One client connection: its state (protocol, authentication, name, subscriptions), its
//! read–execute–write loop, and the ordering of pushed messages against replies.
//!
//! Messages reach the connection through a bounded channel registered in the hub's
//! [`RedisSide`](crate::embedded::redis_side); the publisher only ever `try_send`s, so a slow
//! client loses messages (counted by the hub) but never blocks anyone. Replies and messages
//! go into one output buffer that is flushed after each batch.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::codec::RequestParser;
use super::reply::{Out, Proto};
use super::server::Shared;
use crate::embedded::{RespClientId, RespDelivery};

/// Messages written per wake-up before the output is flushed, bounding the buffer.
const DRAIN_BATCH: usize = 512;

/// What a command asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Keep serving.
    Continue,
    /// Flush the replies, then close (QUIT, protocol errors).
    Close,
}

/// One client's state.
pub(super) struct Conn {
    pub(super) id: RespClientId,
    pub(super) shared: Arc<Shared>,
    pub(super) peer: SocketAddr,
    pub(super) proto: Proto,
    pub(super) authenticated: bool,
    pub(super) name: Option<Bytes>,
    pub(super) lib_name: Option<Bytes>,
    pub(super) lib_ver: Option<Bytes>,
    pub(super) channels: BTreeSet<Bytes>,
    pub(super) patterns: BTreeSet<Bytes>,
    pub(super) tx: mpsc::Sender<RespDelivery>,
    rx: mpsc::Receiver<RespDelivery>,
    pub(super) out: BytesMut,
}

impl Conn {
    fn new(shared: Arc<Shared>, peer: SocketAddr) -> Self {
        let (tx, rx) = mpsc::channel(shared.config.client_buffer);
        Conn {
            id: shared.hub.next_id(),
            authenticated: shared.config.password.is_none(),
            shared,
            peer,
            proto: Proto::Resp2,
            name: None,
            lib_name: None,
            lib_ver: None,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            tx,
            rx,
            out: BytesMut::with_capacity(4096),
        }
    }

    /// A writer for replies in this connection's protocol.
    pub(super) fn reply(&mut self) -> Out<'_> {
        Out {
            buf: &mut self.out,
            proto: self.proto,
        }
    }

    /// Channel plus pattern subscriptions, as Redis counts them in confirmations.
    pub(super) fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Writes every message already queued for this client into the output. Called with the
    /// hub's write lock held before a subscription change, so that each message lands on the
    /// right side of the confirmation, as in Redis.
    pub(super) fn drain_pending(&mut self) {
        while let Ok(delivery) = self.rx.try_recv() {
            self.reply().delivery(&delivery);
        }
    }

    /// Counts a protocol or command error for the metrics.
    pub(super) fn count_error(&self, kind: &'static str) {
        metrics::counter!("switchyard_resp_errors_total", "kind" => kind).increment(1);
    }

    /// Removes every subscription of this client from the hub.
    fn unsubscribe_all(&mut self) {
        if self.channels.is_empty() && self.patterns.is_empty() {
            return;
        }
        let hub = Arc::clone(&self.shared.hub);
        let mut state = hub.write();
        for channel in std::mem::take(&mut self.channels) {
            state.redis.unsubscribe(self.id, &channel);
        }
        for pattern in std::mem::take(&mut self.patterns) {
            state.redis.punsubscribe(self.id, &pattern);
        }
    }

    /// RESET: back to a fresh connection's state (same id).
    pub(super) fn reset(&mut self) {
        self.unsubscribe_all();
        self.proto = Proto::Resp2;
        self.name = None;
        self.authenticated = self.shared.config.password.is_none();
        while self.rx.try_recv().is_ok() {}
    }

    /// Handles the bytes in `input`: parses and executes each complete request in order.
    fn process(&mut self, parser: &mut RequestParser, input: &mut BytesMut) -> Flow {
        loop {
            match parser.next(input, self.authenticated) {
                Ok(Some(args)) => {
                    if self.execute(args) == Flow::Close {
                        return Flow::Close;
                    }
                }
                Ok(None) => return Flow::Continue,
                Err(error) => {
                    tracing::warn!(
                        peer = %self.peer,
                        client = self.id,
                        kind = error.kind,
                        error = %String::from_utf8_lossy(&error.message),
                        "RESP protocol error; closing the connection"
                    );
                    self.count_error(error.kind);
                    self.reply().error(&error.message);
                    return Flow::Close;
                }
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.unsubscribe_all();
    }
}

/// Serves one client until it quits, breaks the protocol, disconnects, or the server stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut parser = RequestParser::new(shared.config.max_request_size);
    let mut conn = Conn::new(shared, peer);
    let mut input = BytesMut::with_capacity(16 * 1024);
    let gauge = metrics::gauge!("switchyard_resp_clients");
    gauge.increment(1.0);
    tracing::debug!(%peer, client = conn.id, "RESP client connected");
    let mut closing = false;
    loop {
        if !conn.out.is_empty() {
            if let Err(error) = stream.write_all(&conn.out).await {
                tracing::debug!(%peer, %error, "RESP client write failed");
                break;
            }
            conn.out.clear();
            if conn.out.capacity() > 1 << 20 {
                conn.out = BytesMut::with_capacity(4096);
            }
        }
        if closing {
            break;
        }
        if input.capacity() - input.len() < 4096 {
            input.reserve(16 * 1024);
        }
        tokio::select! {
            read = stream.read_buf(&mut input) => match read {
                Ok(0) => break,
                Ok(_) => closing = conn.process(&mut parser, &mut input) == Flow::Close,
                Err(error) => {
                    tracing::debug!(%peer, %error, "RESP client read failed");
                    break;
                }
            },
            Some(delivery) = conn.rx.recv() => {
                conn.reply().delivery(&delivery);
                for _ in 1..DRAIN_BATCH {
                    match conn.rx.try_recv() {
                        Ok(delivery) => conn.reply().delivery(&delivery),
                        Err(_) => break,
                    }
                }
            },
            _ = async { let _ = stop.wait_for(|stopped| *stopped).await; } => break,
        }
    }
    let _ = stream.shutdown().await;
    gauge.decrement(1.0);
    tracing::debug!(%peer, client = conn.id, "RESP client disconnected");
}
