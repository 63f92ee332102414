//! The counters tests compare: sequence numbers per session and per shard (including those
//! assigned while disconnected), the commands each session received, connections, REST calls
//! and 429s.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::rest::{RestCall, RestCounts};
use crate::state::session::{RecordedCommand, Session};
use crate::state::{Shared, lock};

/// Counters of one session. Sequence numbers of a session are assigned without gaps, so
/// the set of those assigned is exactly `1..=last_seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCounters {
    /// Session id.
    pub session_id: String,
    /// The bot's user id.
    pub bot_id: String,
    /// `[shard_id, num_shards]`.
    pub shard: [u32; 2],
    /// Last sequence number assigned.
    pub last_seq: u64,
    /// The set of sequence numbers assigned, as inclusive ranges (`[[1, last_seq]]`, or empty).
    pub seqs: Vec<[u64; 2]>,
    /// Dispatches assigned while no connection was attached (kept for replay).
    pub buffered_while_disconnected: u64,
    /// Frames written to sockets, replays included.
    pub sent: u64,
    /// Dispatches held in the replay buffer now (bounded by `replay_buffer`).
    pub buffered: usize,
    /// Frames written by replays.
    pub replayed: u64,
    /// Successful resumes.
    pub resumes: u64,
    /// Whether a connection is attached.
    pub connected: bool,
    /// Whether the session can no longer be resumed.
    pub ended: bool,
    /// The last sequence assigned before another session of the same bot and shard
    /// identified: every later event of this session was dispatched to that one too, so a
    /// client that moved on to it missed none of them.
    #[serde(default)]
    pub superseded_at: Option<u64>,
    /// The next session of the same bot and shard to identify after this one: the one whose
    /// IDENTIFY set `superseded_at`, or, if this one had ended by then, simply the next (no
    /// other session of the shard identified in between).
    #[serde(default)]
    pub superseded_by: Option<String>,
    /// Last presence set by the client.
    pub presence: Value,
    /// The commands the session's clients sent (every op but heartbeat, identify and
    /// resume), oldest first, the last 1000. Empty in
    /// [`SimHandle::counters_summary`](crate::SimHandle::counters_summary).
    #[serde(default)]
    pub commands: Vec<RecordedCommand>,
}

impl SessionCounters {
    /// The set of sequence numbers assigned.
    pub fn seqs(&self) -> std::ops::RangeInclusive<u64> {
        1..=self.last_seq
    }

    /// The recorded commands with opcode `op`, oldest first.
    pub fn commands_with_op(&self, op: u8) -> impl Iterator<Item = &RecordedCommand> {
        self.commands.iter().filter(move |c| c.op == op)
    }
}

/// Everything the sim counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Per session (ended sessions included until reset).
    pub sessions: Vec<SessionCounters>,
    /// Per shard of each bot: its sessions' sequence numbers and the total dispatched.
    pub shards: Vec<ShardCounters>,
    /// Gateway connections accepted.
    pub connections: u64,
    /// Of those, how many used each transport compression.
    pub transports: TransportCounts,
    /// IDENTIFYs that started a session.
    #[serde(default)]
    pub identifies: u64,
    /// IDENTIFYs refused with INVALID_SESSION because another shard of the same
    /// `max_concurrency` bucket identified within the identify window (a client that ignores
    /// `max_concurrency`).
    #[serde(default)]
    pub identifies_too_fast: u64,
    /// REST counters, including 429s and invalid requests.
    pub rest: RestCounts,
    /// Every REST call, oldest first.
    pub rest_calls: Vec<RestCall>,
}

/// Counters of one shard (`[id, count]`) of one bot, over all its sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCounters {
    /// The bot's user id.
    pub bot_id: String,
    /// `[shard_id, num_shards]`.
    pub shard: [u32; 2],
    /// `(session_id, seqs)` of each session of the shard, oldest session id order.
    pub sessions: Vec<(String, Vec<[u64; 2]>)>,
    /// Dispatches assigned on this shard, summed over its sessions (buffered ones included).
    pub dispatched: u64,
}

/// Gateway connections per transport compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportCounts {
    /// Without transport compression.
    pub none: u64,
    /// With `zlib-stream`.
    pub zlib_stream: u64,
    /// With `zstd-stream`.
    pub zstd_stream: u64,
}

impl Counters {
    /// The sessions of one shard of one bot (by shard id and count).
    pub fn shard(&self, bot_id: u64, shard: [u32; 2]) -> Vec<&SessionCounters> {
        let bot = bot_id.to_string();
        self.sessions
            .iter()
            .filter(|s| s.bot_id == bot && s.shard == shard)
            .collect()
    }

    /// One session.
    pub fn session(&self, id: &str) -> Option<&SessionCounters> {
        self.sessions.iter().find(|s| s.session_id == id)
    }
}

/// Reads every counter.
pub fn counters(shared: &Shared) -> Counters {
    read(shared, true)
}

/// Reads every counter but the REST call log and the command records (cheap enough for a
/// status page).
pub fn summary(shared: &Shared) -> Counters {
    read(shared, false)
}

fn read(shared: &Shared, logs: bool) -> Counters {
    let _ = shared.live_sessions(); // expires sessions past their resume window
    let mut sessions: Vec<SessionCounters> = lock(&shared.sessions)
        .values()
        .map(|s| session_counters(s, logs))
        .collect();
    sessions.sort_by(|a, b| {
        (a.bot_id.as_str(), a.shard, a.session_id.as_str()).cmp(&(
            b.bot_id.as_str(),
            b.shard,
            b.session_id.as_str(),
        ))
    });
    let mut shards: Vec<ShardCounters> = Vec::new();
    for s in &sessions {
        match shards
            .iter_mut()
            .find(|x| x.bot_id == s.bot_id && x.shard == s.shard)
        {
            Some(x) => {
                x.sessions.push((s.session_id.clone(), s.seqs.clone()));
                x.dispatched += s.last_seq;
            }
            None => shards.push(ShardCounters {
                bot_id: s.bot_id.clone(),
                shard: s.shard,
                sessions: vec![(s.session_id.clone(), s.seqs.clone())],
                dispatched: s.last_seq,
            }),
        }
    }
    Counters {
        sessions,
        shards,
        connections: shared.connections.load(Ordering::Relaxed),
        transports: TransportCounts {
            none: shared.connections_by_transport[0].load(Ordering::Relaxed),
            zlib_stream: shared.connections_by_transport[1].load(Ordering::Relaxed),
            zstd_stream: shared.connections_by_transport[2].load(Ordering::Relaxed),
        },
        identifies: shared.identifies.load(Ordering::Relaxed),
        identifies_too_fast: shared.identifies_too_fast.load(Ordering::Relaxed),
        rest: lock(&shared.rest.counts).clone(),
        rest_calls: if logs {
            lock(&shared.rest.log).iter().cloned().collect()
        } else {
            Vec::new()
        },
    }
}

fn session_counters(s: &Session, with_commands: bool) -> SessionCounters {
    let i = s.lock();
    SessionCounters {
        session_id: s.id.clone(),
        bot_id: s.bot.identity.user_id.to_string(),
        shard: s.shard,
        last_seq: i.seq,
        seqs: if i.seq > 0 {
            vec![[1, i.seq]]
        } else {
            Vec::new()
        },
        buffered_while_disconnected: i.buffered_while_disconnected,
        sent: i.sent,
        buffered: i.buffer.len(),
        replayed: i.replayed,
        resumes: i.resumes,
        connected: i.conn.is_some(),
        ended: i.ended,
        superseded_at: i.superseded_at,
        superseded_by: i.superseded_by.clone(),
        presence: i.presence.clone(),
        commands: if with_commands {
            i.commands.iter().cloned().collect()
        } else {
            Vec::new()
        },
    }
}
