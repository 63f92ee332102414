//! One gateway WebSocket connection: HELLO, heartbeats, the client send limit, op handling,
//! writing the session's queued dispatches (compressed as negotiated), faults, and closing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::sleep_until;

use crate::gateway::identify::{IdentifyOutcome, ResumeOutcome, identify, resume};
use crate::gateway::ops;
use crate::state::Shared;
use crate::state::session::{ConnCommand, ConnLink, Session, close_ends_session};
use switchyard_core::gateway_proto::compress::{Compressor, Transport, zlib_message};
use switchyard_core::gateway_proto::frame::{ClientOp, CloseReason, decode_envelope, decode_op};
use switchyard_core::gateway_proto::query::ConnParams;

/// Frames written per wake-up before yielding to reads.
const BATCH: usize = 256;

/// Why the loop ended.
enum End {
    /// We closed (or must close) with this code; `end_session` invalidates the session (as
    /// does any code of [`close_ends_session`]).
    Close(u16, String, bool),
    /// The socket is gone (client close or drop); `end_session` when it closed with 1000/1001.
    Gone(bool),
}

struct Conn {
    shared: Arc<Shared>,
    ws: WebSocket,
    comp: Compressor,
    payload_compress: bool,
    link: ConnLink,
    session: Option<Arc<Session>>,
    sent_upto: u64,
    replay_until: u64,
    last_heartbeat: Instant,
    stop_ack: bool,
    received: VecDeque<Instant>,
    reconnect_at: Option<Instant>,
}

/// Runs a connection to its end.
pub async fn run(shared: Arc<Shared>, ws: WebSocket, params: Result<ConnParams, CloseReason>) {
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = shared.conn_ids.fetch_add(1, Ordering::Relaxed);
    let transport = params.as_ref().map_or(Transport::None, |p| p.transport);
    let slot = match transport {
        Transport::None => 0,
        Transport::Zlib => 1,
        Transport::Zstd => 2,
    };
    shared.connections_by_transport[slot].fetch_add(1, Ordering::Relaxed);
    let comp = match Compressor::new(transport) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start compressor");
            return;
        }
    };
    let mut conn = Conn {
        shared,
        ws,
        comp,
        payload_compress: false,
        link: ConnLink { id, tx },
        session: None,
        sent_upto: 0,
        replay_until: 0,
        last_heartbeat: Instant::now(),
        stop_ack: false,
        received: VecDeque::new(),
        reconnect_at: None,
    };
    let end = match params {
        Err(reason) => End::Close(reason.code, reason.reason.into(), false),
        Ok(_) => conn.serve(&mut rx).await,
    };
    conn.finish(end).await;
}

impl Conn {
    async fn serve(&mut self, rx: &mut mpsc::UnboundedReceiver<ConnCommand>) -> End {
        let interval = self.shared.config.timings.heartbeat_interval_ms;
        let hello = json!({"op": 10, "d": {"heartbeat_interval": interval}, "s": null, "t": null})
            .to_string();
        if self.send_now(&hello.into()).await.is_err() {
            return End::Gone(false);
        }
        let timeout = Duration::from_millis(self.shared.config.timings.heartbeat_timeout_ms);
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            let session = self.session.clone();
            let wake = async move {
                match session {
                    Some(s) => s.notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            let reconnect = self.reconnect_at;
            let reconnect_close = async move {
                match reconnect {
                    Some(t) => sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            let outcome = tokio::select! {
                biased;
                () = async { let _ = shutdown.wait_for(|down| *down).await; } => {
                    Some(End::Close(1001, "Server shutting down.".into(), true))
                }
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => None,
                },
                msg = self.ws.recv() => match msg {
                    Some(Ok(Message::Text(text))) => self.client_frame(text.as_str().as_bytes()).await,
                    // JSON in a binary frame is served like a text frame, as Discord does
                    // (only `encoding=json` is served, and clients never compress what they send)
                    Some(Ok(Message::Binary(data))) => self.client_frame(&data).await,
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map_or(1005, |f| f.code);
                        Some(End::Gone(code == 1000 || code == 1001))
                    }
                    Some(Ok(_)) => None,
                    Some(Err(_)) | None => Some(End::Gone(false)),
                },
                () = sleep_until((self.last_heartbeat + timeout).into()) => {
                    Some(End::Close(4009, "Session timed out.".into(), true))
                }
                () = reconnect_close => Some(End::Close(4000, "Reconnect requested.".into(), false)),
                () = wake => self.drain().await,
            };
            if let Some(end) = outcome {
                return end;
            }
        }
    }

    /// Writes the session's queued frames after `sent_upto`.
    async fn drain(&mut self) -> Option<End> {
        let session = self.session.clone()?;
        loop {
            let frames = match session.frames_after(self.sent_upto, BATCH) {
                Ok(f) => f,
                Err(_) => {
                    return Some(End::Close(
                        4000,
                        "Client too slow: replay buffer overrun.".into(),
                        false,
                    ));
                }
            };
            if frames.is_empty() {
                break;
            }
            let n = frames.len() as u64;
            let mut replayed = 0;
            for q in frames {
                if q.seq <= self.replay_until {
                    replayed += 1;
                }
                if self.feed(&q.render()).await.is_err() {
                    return Some(End::Gone(false));
                }
                self.sent_upto = q.seq;
            }
            {
                let mut inner = session.lock();
                inner.sent += n;
                inner.replayed += replayed;
                inner.sent_seq = self.sent_upto;
            }
            if n < BATCH as u64 {
                break;
            }
        }
        if self.ws.flush().await.is_err() {
            return Some(End::Gone(false));
        }
        None
    }

    async fn feed(&mut self, frame: &Utf8Bytes) -> Result<(), axum::Error> {
        let bytes = frame.as_str().as_bytes();
        let msg = match self.comp.encode(bytes) {
            Ok(Some(bin)) => Message::Binary(bin.into()),
            Ok(None)
                if self.payload_compress
                    && bytes.len() >= self.shared.config.payload_compression_threshold =>
            {
                match zlib_message(bytes) {
                    Ok(bin) => Message::Binary(bin.into()),
                    Err(_) => Message::Text(frame.clone()),
                }
            }
            Ok(None) => Message::Text(frame.clone()),
            Err(e) => return Err(axum::Error::new(e)),
        };
        self.ws.feed(msg).await
    }

    async fn send_now(&mut self, frame: &Utf8Bytes) -> Result<(), axum::Error> {
        self.feed(frame).await?;
        self.ws.flush().await
    }

    async fn command(&mut self, cmd: ConnCommand) -> Option<End> {
        match cmd {
            ConnCommand::Reconnect => {
                let delay =
                    Duration::from_millis(self.shared.config.timings.reconnect_close_delay_ms);
                self.reconnect_at = Some(Instant::now() + delay);
                self.send_op(r#"{"op":7,"d":null,"s":null,"t":null}"#).await
            }
            ConnCommand::InvalidSession(resumable) => {
                if !resumable && let Some(s) = &self.session {
                    s.end();
                }
                self.send_op(&format!(r#"{{"op":9,"d":{resumable},"s":null,"t":null}}"#))
                    .await
            }
            ConnCommand::Close(code) => Some(End::Close(code, String::new(), false)),
            ConnCommand::Drop => Some(End::Gone(false)),
            ConnCommand::StopAck(stop) => {
                self.stop_ack = stop;
                None
            }
            ConnCommand::RequestHeartbeat => {
                self.send_op(r#"{"op":1,"d":null,"s":null,"t":null}"#).await
            }
            ConnCommand::Replaced => {
                self.session = None;
                Some(End::Close(4000, "Session resumed elsewhere.".into(), false))
            }
        }
    }

    async fn send_op(&mut self, text: &str) -> Option<End> {
        match self.send_now(&Utf8Bytes::from(text)).await {
            Ok(()) => None,
            Err(_) => Some(End::Gone(false)),
        }
    }

    /// Handles one client frame. Every frame counts toward the send limit, heartbeats
    /// included, as Discord counts them.
    async fn client_frame(&mut self, data: &[u8]) -> Option<End> {
        let timings = &self.shared.config.timings;
        let now = Instant::now();
        let window = Duration::from_millis(timings.send_window_ms);
        while self
            .received
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.received.pop_front();
        }
        if self.received.len() >= timings.send_limit as usize {
            return Some(End::Close(
                4008,
                CloseReason::RATE_LIMITED.reason.into(),
                false,
            ));
        }
        self.received.push_back(now);
        let (op, d) = match decode_envelope(data) {
            Ok(envelope) => envelope,
            Err(reason) => return Some(End::Close(reason.code, reason.reason.into(), false)),
        };
        if let Some(session) = &self.session
            && !matches!(op, 1 | 2 | 6)
        {
            // recorded as received, before it is checked
            session.record(op, &d);
        }
        let op = match decode_op(op, d) {
            Ok(op) => op,
            Err(reason) => return Some(End::Close(reason.code, reason.reason.into(), false)),
        };
        let identified = self.session.is_some();
        match op {
            ClientOp::Heartbeat(_) => {
                self.last_heartbeat = now;
                if self.stop_ack || self.shared.faults.stop_ack.load(Ordering::Relaxed) {
                    return None;
                }
                self.send_op(r#"{"op":11,"d":null,"s":null,"t":null}"#)
                    .await
            }
            ClientOp::Identify(_) | ClientOp::Resume(_) if identified => Some(End::Close(
                4005,
                CloseReason::ALREADY_AUTHENTICATED.reason.into(),
                false,
            )),
            ClientOp::Identify(ident) => match identify(&self.shared, self.link.clone(), &ident) {
                IdentifyOutcome::Ready(session) => {
                    self.payload_compress =
                        ident.compress == Some(true) && !self.comp.is_transport();
                    self.session = Some(session);
                    self.drain().await
                }
                IdentifyOutcome::InvalidSession => {
                    self.send_op(r#"{"op":9,"d":false,"s":null,"t":null}"#)
                        .await
                }
                IdentifyOutcome::Close(r) => Some(End::Close(r.code, r.reason.into(), false)),
            },
            ClientOp::Resume(r) => match resume(&self.shared, self.link.clone(), &r) {
                ResumeOutcome::Resumed(session, seq) => {
                    self.sent_upto = seq;
                    {
                        let mut inner = session.lock();
                        self.replay_until = inner.seq;
                        inner.sent_seq = seq;
                    }
                    session.push(
                        "RESUMED",
                        r#"{"_trace":["[\"switchyard-sim\",{\"micros\":0}]"]}"#,
                    );
                    self.session = Some(session);
                    self.drain().await
                }
                ResumeOutcome::InvalidSession => {
                    self.send_op(r#"{"op":9,"d":false,"s":null,"t":null}"#)
                        .await
                }
                ResumeOutcome::Close(r) => Some(End::Close(r.code, r.reason.into(), false)),
            },
            _ if !identified => Some(End::Close(
                4003,
                CloseReason::NOT_AUTHENTICATED.reason.into(),
                false,
            )),
            other => {
                if let Some(session) = self.session.clone() {
                    ops::handle(&self.shared, &session, other);
                }
                None
            }
        }
    }

    async fn finish(mut self, end: End) {
        let end_session = match &end {
            End::Close(code, _, e) => *e || close_ends_session(*code),
            End::Gone(e) => *e,
        };
        if let Some(session) = self.session.take() {
            let mut inner = session.lock();
            if inner.conn.as_ref().is_some_and(|c| c.id == self.link.id) {
                inner.conn = None;
                inner.disconnected_at = Some(Instant::now());
            }
            drop(inner);
            if end_session {
                session.end();
            }
        }
        if let End::Close(code, reason, _) = end {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = self.ws.send(Message::Close(Some(frame))).await;
            let _ = tokio::time::timeout(Duration::from_millis(500), self.ws.recv()).await;
        }
    }
}
