//! One client connection: HELLO, heartbeats, the client's send limit, IDENTIFY and RESUME,
//! commands, writing its session's frames (compressed as negotiated), and closing with
//! Discord's codes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use switchyard_core::gateway_proto::close::CloseReason;
use switchyard_core::gateway_proto::compress::{Compressor, zlib_message};
use switchyard_core::gateway_proto::frame::{
    ClientOp, Identify, Resume, decode_envelope, decode_op,
};
use switchyard_core::gateway_proto::query::ConnParams;
use tokio::time::sleep_until;

use crate::session::{CloseOrder, Order, Session};
use crate::shared::Shared;

/// Frames written per wake-up before reads get a turn.
const BATCH: usize = 256;
/// Frames a client may send per minute, heartbeats included (Discord closes with 4008 past
/// it).
const SEND_LIMIT: usize = 120;
/// Payloads at least this long are compressed when IDENTIFY asked for payload compression.
const PAYLOAD_COMPRESSION_THRESHOLD: usize = 1024;

/// Why the connection ended.
enum End {
    /// We close with this code; `true` ends the session.
    Close(u16, String, bool),
    /// The client went away; `true` when it closed normally (1000/1001), which ends the
    /// session as Discord's does.
    Gone(bool),
}

impl End {
    fn reason(r: CloseReason, ends: bool) -> Self {
        End::Close(r.code, r.reason.into(), ends)
    }
}

impl From<CloseOrder> for End {
    fn from(o: CloseOrder) -> Self {
        End::Close(o.code, o.reason, o.ends)
    }
}

struct Conn {
    shared: Arc<Shared>,
    ws: WebSocket,
    id: u64,
    comp: Compressor,
    payload_compress: bool,
    session: Option<Arc<Session>>,
    sent_upto: u64,
    last_heartbeat: Instant,
    asked_heartbeat: bool,
    received: VecDeque<Instant>,
    /// The client sent a close frame: it is answered once the session is let go.
    peer_closed: bool,
}

/// Runs a connection to its end.
pub(crate) async fn run(
    shared: Arc<Shared>,
    ws: WebSocket,
    params: Result<ConnParams, CloseReason>,
) {
    let id = shared.next_conn();
    metrics::gauge!("switchyard_face_connections").increment(1.0);
    let transport = params.as_ref().map_or(
        switchyard_core::gateway_proto::query::Transport::None,
        |p| p.transport,
    );
    let comp = match Compressor::new(transport) {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(%error, "face: cannot start a compressor");
            metrics::gauge!("switchyard_face_connections").decrement(1.0);
            return;
        }
    };
    let mut conn = Conn {
        shared,
        ws,
        id,
        comp,
        payload_compress: false,
        session: None,
        sent_upto: 0,
        last_heartbeat: Instant::now(),
        asked_heartbeat: false,
        received: VecDeque::new(),
        peer_closed: false,
    };
    let end = match params {
        Err(reason) => End::reason(reason, false),
        Ok(_) => conn.serve().await,
    };
    conn.finish(end).await;
    metrics::gauge!("switchyard_face_connections").decrement(1.0);
}

impl Conn {
    async fn serve(&mut self) -> End {
        let interval = self.shared.options.heartbeat_interval;
        let hello = format!(
            r#"{{"op":10,"d":{{"heartbeat_interval":{}}},"s":null,"t":null}}"#,
            interval.as_millis()
        );
        if self.send_now(&hello.into()).await.is_err() {
            return End::Gone(false);
        }
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            let session = self.session.clone();
            let wake = async move {
                match session {
                    Some(s) => s.notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            // a late heartbeat is asked for once, at 1.25 intervals; at 2 the client is gone
            let ask_at = self.last_heartbeat + interval + interval / 4;
            let deadline = self.last_heartbeat + interval * 2;
            let next_timer = if self.asked_heartbeat {
                deadline
            } else {
                ask_at
            };
            let outcome = tokio::select! {
                biased;
                () = async { let _ = shutdown.wait_for(|down| *down).await; } => {
                    let _ = self.send_now(&r#"{"op":7,"d":null,"s":null,"t":null}"#.into()).await;
                    Some(End::Close(4000, "Switchyard's face is restarting: reconnect.".into(), false))
                }
                msg = self.ws.recv() => match msg {
                    Some(Ok(Message::Text(text))) => self.client_frame(text.as_str().as_bytes()).await,
                    // JSON in a binary frame is read as text, as Discord reads it
                    Some(Ok(Message::Binary(data))) => self.client_frame(&data).await,
                    Some(Ok(Message::Close(frame))) => {
                        self.peer_closed = true;
                        let code = frame.map_or(1005, |f| f.code);
                        Some(End::Gone(code == 1000 || code == 1001))
                    }
                    Some(Ok(_)) => None,
                    Some(Err(_)) | None => Some(End::Gone(false)),
                },
                () = sleep_until(next_timer.into()) => {
                    if self.asked_heartbeat {
                        metrics::counter!("switchyard_face_heartbeat_timeouts_total").increment(1);
                        Some(End::reason(CloseReason::SESSION_TIMEOUT, true))
                    } else {
                        self.asked_heartbeat = true;
                        self.send_op(r#"{"op":1,"d":null,"s":null,"t":null}"#).await
                    }
                }
                () = wake => self.drain().await,
            };
            if let Some(end) = outcome {
                return end;
            }
        }
    }

    /// Writes the session's frames after `sent_upto`.
    async fn drain(&mut self) -> Option<End> {
        let session = self.session.clone()?;
        if !session.held_by(self.id) {
            // The client resumed on another connection while this one lingered (its network
            // went away without a reset). The session wakes one connection per frame: the
            // wake-up this one took is the new connection's, so pass it on, and end.
            session.notify.notify_one();
            self.session = None;
            return Some(End::Close(
                4000,
                "The session was resumed on another connection.".into(),
                false,
            ));
        }
        loop {
            let frames = match session.frames_after(self.sent_upto, BATCH) {
                Ok(f) => f,
                Err(Order::Close(order)) => return Some(order.into()),
                Err(Order::InvalidSession) => {
                    // the client may identify again on this connection
                    session.detach(self.id, true);
                    self.session = None;
                    self.sent_upto = 0;
                    return self
                        .send_op(r#"{"op":9,"d":false,"s":null,"t":null}"#)
                        .await;
                }
            };
            let Some(last) = frames.last().map(|f| f.seq) else {
                break;
            };
            let n = frames.len();
            for frame in frames {
                if self.feed(&frame.text).await.is_err() {
                    return Some(End::Gone(false));
                }
            }
            self.sent_upto = last;
            session.sent(self.id, last);
            metrics::counter!("switchyard_face_dispatches_sent_total").increment(n as u64);
            if n < BATCH {
                break;
            }
        }
        if self.timed(|ws| ws.flush()).await.is_err() {
            return Some(End::Gone(false));
        }
        None
    }

    async fn feed(&mut self, frame: &Utf8Bytes) -> Result<(), axum::Error> {
        let bytes = frame.as_str().as_bytes();
        let msg = match self.comp.encode(bytes) {
            Ok(Some(bin)) => Message::Binary(bin.into()),
            Ok(None) if self.payload_compress && bytes.len() >= PAYLOAD_COMPRESSION_THRESHOLD => {
                match zlib_message(bytes) {
                    Ok(bin) => Message::Binary(bin.into()),
                    Err(_) => Message::Text(frame.clone()),
                }
            }
            Ok(None) => Message::Text(frame.clone()),
            Err(e) => return Err(axum::Error::new(e)),
        };
        self.timed(|ws| ws.feed(msg)).await
    }

    async fn send_now(&mut self, frame: &Utf8Bytes) -> Result<(), axum::Error> {
        self.feed(frame).await?;
        self.timed(|ws| ws.flush()).await
    }

    /// A write that a client who stopped reading cannot hold up for longer than
    /// `write_timeout`: the client counts as gone, and may resume.
    async fn timed<'a, F>(
        &'a mut self,
        write: impl FnOnce(&'a mut WebSocket) -> F,
    ) -> Result<(), axum::Error>
    where
        F: std::future::Future<Output = Result<(), axum::Error>> + 'a,
    {
        let limit = self.shared.options.write_timeout;
        match tokio::time::timeout(limit, write(&mut self.ws)).await {
            Ok(done) => done,
            Err(_) => {
                metrics::counter!("switchyard_face_write_timeouts_total").increment(1);
                Err(axum::Error::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client stopped reading",
                )))
            }
        }
    }

    async fn send_op(&mut self, text: &'static str) -> Option<End> {
        match self.send_now(&Utf8Bytes::from_static(text)).await {
            Ok(()) => None,
            Err(_) => Some(End::Gone(false)),
        }
    }

    /// One client frame. Every frame counts toward the send limit, heartbeats included.
    async fn client_frame(&mut self, data: &[u8]) -> Option<End> {
        let now = Instant::now();
        let window = Duration::from_secs(60);
        while self
            .received
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.received.pop_front();
        }
        if self.received.len() >= SEND_LIMIT {
            metrics::counter!("switchyard_face_bad_frames_total", "close" => "4008").increment(1);
            return Some(End::reason(CloseReason::RATE_LIMITED, false));
        }
        self.received.push_back(now);
        let op = match decode_envelope(data).and_then(|(op, d)| decode_op(op, d)) {
            Ok(op) => op,
            Err(reason) => {
                metrics::counter!("switchyard_face_bad_frames_total", "close" => reason.code.to_string())
                    .increment(1);
                tracing::info!(
                    conn = self.id,
                    code = reason.code,
                    reason = reason.reason,
                    "face: a client frame refused"
                );
                return Some(End::reason(reason, false));
            }
        };
        let identified = self.session.is_some();
        match op {
            ClientOp::Heartbeat(_) => {
                self.last_heartbeat = now;
                self.asked_heartbeat = false;
                self.send_op(r#"{"op":11,"d":null,"s":null,"t":null}"#)
                    .await
            }
            ClientOp::Identify(_) | ClientOp::Resume(_) if identified => {
                Some(End::reason(CloseReason::ALREADY_AUTHENTICATED, false))
            }
            ClientOp::Identify(ident) => self.identify(*ident).await,
            ClientOp::Resume(r) => self.resume(r).await,
            _ if !identified => Some(End::reason(CloseReason::NOT_AUTHENTICATED, false)),
            other => {
                if let Some(session) = self.session.clone() {
                    self.shared.command(session, other);
                }
                None
            }
        }
    }

    async fn identify(&mut self, ident: Identify) -> Option<End> {
        match crate::ready::identify(&self.shared, self.id, &ident).await {
            Ok(session) => {
                self.payload_compress = ident.compress == Some(true) && !self.comp.is_transport();
                self.session = Some(session);
                self.drain().await
            }
            Err(end) => Some(End::reason(end.reason, end.ends)),
        }
    }

    async fn resume(&mut self, r: Resume) -> Option<End> {
        if !self.shared.options.tokens.check(&r.token) {
            return Some(End::reason(CloseReason::AUTH_FAILED, false));
        }
        let session = self.shared.hub.get(&r.session_id);
        let resumed = session
            .as_ref()
            .map(|s| (s, s.resume(self.id, r.seq.unwrap_or(0))));
        match resumed {
            Some((session, Ok(seq))) => {
                metrics::counter!("switchyard_face_resumes_total", "outcome" => "resumed")
                    .increment(1);
                self.sent_upto = seq;
                self.session = Some(session.clone());
                self.drain().await
            }
            Some((_, Err(Some(_)))) => {
                metrics::counter!("switchyard_face_resumes_total", "outcome" => "invalid_seq")
                    .increment(1);
                Some(End::reason(CloseReason::INVALID_SEQ, false))
            }
            None | Some((_, Err(None))) => {
                metrics::counter!("switchyard_face_resumes_total", "outcome" => "invalid_session")
                    .increment(1);
                self.send_op(r#"{"op":9,"d":false,"s":null,"t":null}"#)
                    .await
            }
        }
    }

    async fn finish(mut self, end: End) {
        let ends = match &end {
            End::Close(_, _, ends) => *ends,
            End::Gone(ends) => *ends,
        };
        if let Some(session) = self.session.take() {
            session.detach(self.id, ends);
        }
        if self.peer_closed {
            // the close handshake, as Discord completes it: the WebSocket layer queued the
            // echo of the client's frame, which goes out once the session is let go (a
            // client that resumes at once finds it resumable, or ended after 1000)
            let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.flush()).await;
        }
        if let End::Close(code, reason, _) = end {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let close = self.ws.send(Message::Close(Some(frame)));
            let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
            let _ = tokio::time::timeout(Duration::from_millis(500), self.ws.recv()).await;
        }
    }
}
