//! A gateway session: its sequence numbers, the bounded replay buffer (which is also the
//! outbound queue of its live connection), the link to that connection, and the record of
//! the commands its clients sent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use crate::ids::now_ms;
use crate::state::Bot;

/// How many commands a session keeps in its record (the oldest are dropped first).
pub const COMMAND_RECORD: usize = 1000;

/// A command a client sent on a session (any op but heartbeat, identify and resume), as
/// received: its `d` is the client's, unchanged, even when the sim then refused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCommand {
    /// The opcode, e.g. 3 presence, 4 voice state, 8 request guild members.
    pub op: u8,
    /// The payload's `d` as the client sent it.
    pub d: Value,
    /// When it was received, in Unix milliseconds.
    pub at_ms: u64,
}

/// A command from the control side to a live connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnCommand {
    /// Send op 7 RECONNECT, then close (code 4000) after the configured delay.
    Reconnect,
    /// Send op 9 INVALID_SESSION with this `d`; `false` also ends the session.
    InvalidSession(bool),
    /// Close with this code; the codes of [`close_ends_session`] end the session, others keep
    /// it resumable.
    Close(u16),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Stop (true) or resume (false) answering heartbeats with ACKs.
    StopAck(bool),
    /// Send op 1, asking the client for a heartbeat at once.
    RequestHeartbeat,
    /// Another connection resumed this session: close this one.
    Replaced,
}

/// Whether a server close with `code` ends the session: 1000 and 1001, and the codes after
/// which Discord allows no resume (4004, 4007 and 4009, which need a new session, and the
/// non-reconnectable 4010-4014).
pub fn close_ends_session(code: u16) -> bool {
    matches!(code, 1000 | 1001 | 4004 | 4007 | 4009 | 4010..=4014)
}

/// The live connection attached to a session.
#[derive(Debug, Clone)]
pub struct ConnLink {
    /// Connection id (unique per process).
    pub id: u64,
    /// Its command channel.
    pub tx: mpsc::UnboundedSender<ConnCommand>,
}

/// Mutable part of a session.
#[derive(Debug)]
pub struct SessionInner {
    /// Last sequence number assigned (they run 1..=seq without gaps).
    pub seq: u64,
    /// The last `capacity` dispatches, oldest first (rendered when written, so that one
    /// event's payload is shared by every session that gets it).
    pub buffer: VecDeque<Queued>,
    /// Replay buffer size.
    pub capacity: usize,
    /// The attached connection, if any.
    pub conn: Option<ConnLink>,
    /// When the last connection went away (for the resume window).
    pub disconnected_at: Option<Instant>,
    /// Whether the session can no longer be resumed.
    pub ended: bool,
    /// Dispatches assigned while no connection was attached.
    pub buffered_while_disconnected: u64,
    /// Frames written to sockets (replays included).
    pub sent: u64,
    /// Frames written during replays.
    pub replayed: u64,
    /// Highest sequence number written to the current connection.
    pub sent_seq: u64,
    /// Successful RESUMEs.
    pub resumes: u64,
    /// The presence last set by op 3 (or IDENTIFY).
    pub presence: Value,
    /// The last [`COMMAND_RECORD`] commands received, oldest first.
    pub commands: VecDeque<RecordedCommand>,
    /// The last sequence assigned before another session of the same bot and shard
    /// identified: every event after it was dispatched to that session too.
    pub superseded_at: Option<u64>,
    /// The next session of the same bot and shard to identify after this one: the one that
    /// set `superseded_at`, or, for a session that had ended by then, simply the next.
    pub superseded_by: Option<String>,
}

/// One gateway session of one bot on one shard.
#[derive(Debug)]
pub struct Session {
    /// The session id sent in READY.
    pub id: String,
    /// The bot.
    pub bot: Arc<Bot>,
    /// `[shard_id, num_shards]`.
    pub shard: [u32; 2],
    /// Whether IDENTIFY carried a shard array.
    pub shard_given: bool,
    /// Granted intents.
    pub intents: u64,
    /// Mutable state.
    pub inner: std::sync::Mutex<SessionInner>,
    /// Woken when a dispatch is queued.
    pub notify: Notify,
}

/// A dispatch waiting in a session's buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// Its sequence number.
    pub seq: u64,
    /// Event name.
    pub name: Arc<str>,
    /// The `d` payload as JSON text.
    pub d: Arc<str>,
}

impl Queued {
    /// The frame as sent.
    pub fn render(&self) -> Utf8Bytes {
        render_dispatch(self.seq, &self.name, &self.d)
    }
}

/// Renders a dispatch frame.
pub fn render_dispatch(seq: u64, name: &str, d: &str) -> Utf8Bytes {
    let mut s = String::with_capacity(d.len() + name.len() + 40);
    s.push_str("{\"t\":\"");
    s.push_str(name);
    s.push_str("\",\"s\":");
    s.push_str(itoa::Buffer::new().format(seq));
    s.push_str(",\"op\":0,\"d\":");
    s.push_str(d);
    s.push('}');
    Utf8Bytes::from(s)
}

impl Session {
    /// A new session with an empty buffer.
    pub fn new(
        id: String,
        bot: Arc<Bot>,
        shard: [u32; 2],
        shard_given: bool,
        intents: u64,
        capacity: usize,
    ) -> Self {
        Self {
            id,
            bot,
            shard,
            shard_given,
            intents,
            inner: std::sync::Mutex::new(SessionInner {
                seq: 0,
                buffer: VecDeque::with_capacity(capacity.min(4096)),
                capacity: capacity.max(1),
                conn: None,
                disconnected_at: None,
                ended: false,
                buffered_while_disconnected: 0,
                sent: 0,
                replayed: 0,
                sent_seq: 0,
                resumes: 0,
                presence: Value::Null,
                commands: VecDeque::new(),
                superseded_at: None,
                superseded_by: None,
            }),
            notify: Notify::new(),
        }
    }

    /// Locks the mutable state (a poisoned lock is recovered: the data stays consistent
    /// because every critical section is panic-free).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, SessionInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Assigns the next sequence number to a dispatch, buffers it and wakes the connection.
    /// Returns `None` when the session has ended.
    pub fn push(&self, name: &str, d: &str) -> Option<u64> {
        let seq = self.push_shared(&Arc::from(name), &Arc::from(d), false);
        self.notify.notify_one();
        seq
    }

    /// Like [`Session::push`] with shared name and payload; wakes the connection only if
    /// `wake` (callers pushing many events wake once at the end).
    pub fn push_shared(&self, name: &Arc<str>, d: &Arc<str>, wake: bool) -> Option<u64> {
        let mut inner = self.lock();
        if inner.ended {
            return None;
        }
        inner.seq += 1;
        let seq = inner.seq;
        if inner.buffer.len() >= inner.capacity {
            inner.buffer.pop_front();
        }
        inner.buffer.push_back(Queued {
            seq,
            name: name.clone(),
            d: d.clone(),
        });
        if inner.conn.is_none() {
            inner.buffered_while_disconnected += 1;
        }
        drop(inner);
        if wake {
            self.notify.notify_one();
        }
        Some(seq)
    }

    /// Records a command received from the client (ops above 255 are not Discord's and are
    /// not kept).
    pub fn record(&self, op: u64, d: &Value) {
        let Ok(op) = u8::try_from(op) else {
            return;
        };
        let mut inner = self.lock();
        if inner.commands.len() >= COMMAND_RECORD {
            inner.commands.pop_front();
        }
        inner.commands.push_back(RecordedCommand {
            op,
            d: d.clone(),
            at_ms: now_ms(),
        });
    }

    /// Dispatches after `after`, at most `max`; `Err` with the oldest buffered seq when
    /// dispatches the connection still needed were already evicted.
    pub fn frames_after(&self, after: u64, max: usize) -> Result<Vec<Queued>, u64> {
        let inner = self.lock();
        let Some(first) = inner.buffer.front().map(|q| q.seq) else {
            return Ok(Vec::new());
        };
        if after + 1 < first {
            return Err(first);
        }
        let skip = (after + 1 - first) as usize;
        Ok(inner.buffer.iter().skip(skip).take(max).cloned().collect())
    }

    /// Dispatches queued but not yet written, counted only while a connection is attached
    /// (a disconnected session never drains, so it must not hold back a producer).
    pub fn connected_backlog(&self) -> u64 {
        let inner = self.lock();
        if inner.conn.is_some() {
            inner.seq.saturating_sub(inner.sent_seq)
        } else {
            0
        }
    }

    /// Whether the session can be resumed at `now` with the given resume window.
    pub fn resumable(&self, now: Instant, window: std::time::Duration) -> bool {
        let inner = self.lock();
        !inner.ended
            && inner
                .disconnected_at
                .is_none_or(|t| now.duration_since(t) <= window)
    }

    /// Ends the session: it can no longer be resumed and its buffer is freed.
    pub fn end(&self) {
        let mut inner = self.lock();
        inner.ended = true;
        inner.buffer = VecDeque::new();
    }

    /// Sends a command to the attached connection, if any.
    pub fn command(&self, cmd: ConnCommand) -> bool {
        self.lock()
            .conn
            .as_ref()
            .is_some_and(|c| c.tx.send(cmd).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_is_bounded_and_reports_eviction() {
        let bot = Arc::new(Bot::new("t".into()));
        let s = Session::new("s".into(), bot, [0, 1], false, 0, 3);
        for _ in 0..5 {
            s.push("X", "{}");
        }
        assert_eq!(s.lock().buffer.len(), 3);
        assert_eq!(s.lock().buffered_while_disconnected, 5);
        assert_eq!(s.frames_after(1, 10), Err(3));
        let frames = s.frames_after(3, 10).expect("in buffer");
        assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(
            frames[0].render().as_str(),
            r#"{"t":"X","s":4,"op":0,"d":{}}"#
        );
        s.end();
        assert_eq!(s.push("X", "{}"), None);
    }

    #[test]
    fn the_command_record_keeps_the_last_thousand() {
        let bot = Arc::new(Bot::new("t".into()));
        let s = Session::new("s".into(), bot, [0, 1], false, 0, 3);
        for n in 0..COMMAND_RECORD + 5 {
            s.record(8, &serde_json::json!({"n": n}));
        }
        s.record(300, &Value::Null);
        let inner = s.lock();
        assert_eq!(inner.commands.len(), COMMAND_RECORD);
        assert_eq!(
            inner.commands.front().map(|c| c.d["n"].clone()),
            Some(5.into())
        );
        assert!(inner.commands.iter().all(|c| c.op == 8 && c.at_ms > 0));
    }
}
