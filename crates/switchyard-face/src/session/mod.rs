//! [`Session`]: one client session of the face, the one owner of what its client has been
//! sent. Events are numbered with the session's own sequence, kept in a replay buffer for a
//! RESUME, and written by whichever connection holds the session, from where it stands.
//!
//! Until READY goes out every event waits; then the events of each guild wait until its
//! GUILD_CREATE (built from the cache) has gone out, and only those the cache had not read
//! follow it, so that the client sees each change once, after the state it changes.

mod replay;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::Notify;

use crate::event::FaceEvent;
use crate::source::GuildSnapshot;

pub(crate) use replay::{Frame, Overrun};
use replay::{Payload, Replay};

/// What a client asked for at IDENTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wants {
    /// `[shard_id, num_shards]`, virtual.
    pub(crate) shard: [u32; 2],
    pub(crate) intents: u64,
    pub(crate) large_threshold: u32,
    /// The bot's user id (its own messages keep their content; its own member updates
    /// come without GUILD_MEMBERS).
    pub(crate) bot: u64,
}

impl Wants {
    /// Whether the guild (or, for `None`, a DM or guild-less event) belongs to this
    /// virtual shard, as Discord shards guilds.
    pub(crate) fn holds(&self, guild: Option<u64>) -> bool {
        match guild {
            Some(g) => (g >> 22) % u64::from(self.shard[1]) == u64::from(self.shard[0]),
            None => self.shard[0] == 0,
        }
    }
}

/// Limits of one session's buffers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) replay_events: usize,
    pub(crate) replay_window: Duration,
    pub(crate) client_queue: usize,
}

/// What a session's connection must do instead of writing, decided away from the
/// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Order {
    /// Close with a code.
    Close(CloseOrder),
    /// Send INVALID_SESSION (not resumable): the session is over, the client identifies
    /// again (on this connection or another).
    InvalidSession,
}

/// A close code, its reason, and whether the session ends with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseOrder {
    pub(crate) code: u16,
    pub(crate) reason: String,
    /// Whether the session ends with it (else the client may resume).
    pub(crate) ends: bool,
}

/// One client session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) wants: Wants,
    limits: Limits,
    inner: Mutex<Inner>,
    /// Woken when there is something for the connection: frames, or an order to close.
    pub(crate) notify: Notify,
}

#[derive(Debug)]
struct Inner {
    replay: Replay,
    /// The connection holding the session, and the last sequence it wrote.
    conn: Option<u64>,
    sent_seq: u64,
    /// The last sequence when the connection attached: what it replays does not count
    /// toward its queue.
    attached_seq: u64,
    close: Option<Order>,
    disconnected_at: Option<Instant>,
    ended: bool,
    /// READY has gone out.
    ready: bool,
    /// Events that came before READY.
    early: Vec<Arc<FaceEvent>>,
    /// Guilds whose GUILD_CREATE has not gone out yet, with their events meanwhile.
    pending: HashMap<u64, Vec<Arc<FaceEvent>>>,
    /// Guilds the client has a GUILD_CREATE for.
    available: HashSet<u64>,
}

impl Session {
    pub(crate) fn new(id: String, wants: Wants, limits: Limits, conn: u64) -> Self {
        Session {
            id,
            wants,
            limits,
            inner: Mutex::new(Inner {
                replay: Replay::new(limits.replay_events, limits.replay_window),
                conn: Some(conn),
                sent_seq: 0,
                attached_seq: 0,
                close: None,
                disconnected_at: None,
                ended: false,
                ready: false,
                early: Vec::new(),
                pending: HashMap::new(),
                available: HashSet::new(),
            }),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an event of the bot, if it is this session's.
    pub(crate) fn offer(&self, event: &Arc<FaceEvent>) {
        if !self.wants.holds(event.guild) {
            return;
        }
        let mut inner = self.lock();
        if inner.ended {
            return;
        }
        if !inner.ready {
            inner.early.push(event.clone());
            return;
        }
        if let Some(g) = event.guild
            && let Some(waiting) = inner.pending.get_mut(&g)
        {
            waiting.push(event.clone());
            return;
        }
        self.deliver(&mut inner, event);
    }

    /// Sends READY; the guilds named `waiting` hold their events until
    /// [`Session::guild_ready`].
    pub(crate) fn ready(&self, payload: &str, waiting: &[u64]) {
        let mut inner = self.lock();
        self.own(&mut inner, "READY", payload);
        inner.ready = true;
        inner.pending = waiting.iter().map(|g| (*g, Vec::new())).collect();
        for event in std::mem::take(&mut inner.early) {
            match event.guild.and_then(|g| inner.pending.get_mut(&g)) {
                Some(waiting) => waiting.push(event),
                None => self.deliver(&mut inner, &event),
            }
        }
    }

    /// Sends a guild's GUILD_CREATE from the cache, then the guild's events the cache had
    /// not read. `None`: the guild could not be read; its events flow without it.
    pub(crate) fn guild_ready(&self, guild: u64, snapshot: Option<&GuildSnapshot>) {
        let mut inner = self.lock();
        let Some(waiting) = inner.pending.remove(&guild) else {
            return;
        };
        let seq = match snapshot {
            Some(s) => {
                self.own(&mut inner, "GUILD_CREATE", s.payload.get());
                inner.available.insert(guild);
                s.seq
            }
            None => None,
        };
        for event in waiting {
            if event.position.newer_than(seq) {
                self.deliver(&mut inner, &event);
            }
        }
    }

    /// An event the client should see, after the rules on guild presence and intents.
    fn deliver(&self, inner: &mut Inner, event: &Arc<FaceEvent>) {
        if let Some(g) = event.guild {
            match &*event.name {
                // a guild the client has is sent again only after an upstream shard
                // identified anew: the changes went out before it, as update events
                "GUILD_CREATE" if !inner.available.insert(g) => return,
                "GUILD_DELETE" => {
                    inner.available.remove(&g);
                }
                _ => {}
            }
        }
        if let Some(stripped) = event.delivery(self.wants.intents, self.wants.bot) {
            self.push(inner, Payload::Event(event.clone(), stripped));
        }
    }

    /// Sends one dispatch of the session's own: numbered, kept for a RESUME, and written by
    /// the connection.
    pub(crate) fn send(&self, name: &'static str, d: &RawValue) {
        let mut inner = self.lock();
        self.push(&mut inner, Payload::Own(name, d.get().into()));
    }

    fn own(&self, inner: &mut Inner, name: &'static str, d: &str) {
        self.push(inner, Payload::Own(name, d.into()));
    }

    fn push(&self, inner: &mut Inner, payload: Payload) {
        let seq = inner.replay.push(payload);
        if inner.conn.is_some()
            && inner.close.is_none()
            && seq.saturating_sub(inner.sent_seq.max(inner.attached_seq))
                > self.limits.client_queue as u64
        {
            metrics::counter!("switchyard_face_slow_clients_total").increment(1);
            tracing::info!(session = %self.id, "face client too slow: closed, it may resume");
            inner.close = Some(Order::Close(CloseOrder {
                code: 4000,
                reason: "Client too slow: resume to get what you missed.".into(),
                ends: false,
            }));
        }
        self.notify.notify_one();
    }

    /// Frames after `sent`, at most `max`, or why the connection must close.
    pub(crate) fn frames_after(&self, sent: u64, max: usize) -> Result<Vec<Frame>, Order> {
        let inner = self.lock();
        if let Some(order) = &inner.close {
            return Err(order.clone());
        }
        inner.replay.after(sent, max).map_err(|Overrun| {
            Order::Close(CloseOrder {
                code: 4000,
                reason: "Client too slow: replay buffer overrun.".into(),
                ends: false,
            })
        })
    }

    /// Records what connection `conn` has written.
    pub(crate) fn sent(&self, conn: u64, seq: u64) {
        let mut inner = self.lock();
        if inner.conn == Some(conn) {
            inner.sent_seq = seq;
        }
    }

    /// Orders the connection to close (from the READY task, say).
    pub(crate) fn close(&self, order: CloseOrder) {
        let mut inner = self.lock();
        if order.ends {
            inner.ended = true;
        }
        inner.close = Some(Order::Close(order));
        drop(inner);
        self.notify.notify_one();
    }

    /// Ends the session with INVALID_SESSION: what the client missed upstream cannot be
    /// told as events, so it must start again from a new READY.
    pub(crate) fn invalidate(&self) {
        let mut inner = self.lock();
        inner.ended = true;
        inner.close = Some(Order::InvalidSession);
        drop(inner);
        self.notify.notify_one();
    }

    /// Whether the client has a GUILD_CREATE for a guild on which `upstream` says yes.
    pub(crate) fn has_guild(&self, upstream: impl Fn(u64) -> bool) -> bool {
        let inner = self.lock();
        inner.available.iter().any(|g| upstream(*g)) || inner.pending.keys().any(|g| upstream(*g))
    }

    /// A RESUME from connection `conn` after `seq`: `Ok` with the sequence to write from,
    /// `Err(None)` when the session cannot be resumed (INVALID_SESSION), `Err(Some)` for a
    /// sequence the session never sent (4007).
    pub(crate) fn resume(&self, conn: u64, seq: u64) -> Result<u64, Option<u16>> {
        let mut inner = self.lock();
        if inner.ended {
            return Err(None);
        }
        if seq > inner.replay.seq() {
            return Err(Some(4007));
        }
        if !inner.replay.covers(seq) {
            inner.ended = true;
            return Err(None);
        }
        inner.conn = Some(conn);
        inner.sent_seq = seq;
        inner.attached_seq = inner.replay.seq();
        inner.close = None;
        inner.disconnected_at = None;
        self.own(&mut inner, "RESUMED", r#"{"_trace":["switchyard-face"]}"#);
        Ok(seq)
    }

    /// Whether connection `conn` holds the session: a RESUME on another connection takes
    /// it over while the old one may still be waiting for frames.
    pub(crate) fn held_by(&self, conn: u64) -> bool {
        self.lock().conn == Some(conn)
    }

    /// Connection `conn` is gone; `end` ends the session (a client's normal close, or a
    /// close code after which it may not resume).
    pub(crate) fn detach(&self, conn: u64, end: bool) {
        let mut inner = self.lock();
        if inner.conn == Some(conn) {
            inner.conn = None;
            inner.disconnected_at = Some(Instant::now());
            if end {
                inner.ended = true;
            }
        }
    }

    /// Whether a client is connected to it.
    pub(crate) fn connected(&self) -> bool {
        self.lock().conn.is_some()
    }

    /// Whether the session can be forgotten: ended, or without a connection for longer
    /// than a RESUME may come.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        let inner = self.lock();
        inner.ended
            || inner
                .disconnected_at
                .is_some_and(|at| now.duration_since(at) > self.limits.replay_window)
    }
}

#[cfg(test)]
mod tests;
