//! The runner's side of commands: the per-shard send budget, each member request's nonce
//! replaced by one of the shard's own (at most 32 bytes), and the requests waiting for the
//! events that answer them. An answering event goes to its requester's `reply_to`: member
//! chunks and RATE_LIMITED only there (with the requester's nonce back), voice state and
//! voice server updates there as well as on their usual topics.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};
use switchyard_core::outbound::{Answer, ErrorKind, GatewayCommand, MAX_NONCE_LEN};
use switchyard_core::{Dispatch, Topic};
use tokio::time::Instant;

use super::holder::Queued;
use super::{COMMANDS_PER_MINUTE, now_ms};

/// How the nonces the gateway gives member requests start: a chunk with such a nonce and no
/// waiting requester (given up on, or replayed after a move) is dropped, never published
/// to every consumer.
const NONCE_PREFIX: &str = "sy:";

/// The nonce of the gateway's own member requests, which fill the cache: their chunks are
/// read by the cache and published nowhere.
pub(crate) const CACHE_NONCE: &str = "sy:cache";

/// How long a member request waits for its chunks.
const MEMBERS_WAIT: Duration = Duration::from_secs(120);
/// How long a voice state update waits for its events.
const VOICE_WAIT: Duration = Duration::from_secs(30);
/// The send budget's window.
const WINDOW: Duration = Duration::from_secs(60);

/// A requester waiting for events.
#[derive(Debug)]
struct Waiting {
    reply_to: Topic,
    /// The requester's own nonce, given back in place of ours.
    nonce: Option<String>,
    until: Instant,
}

/// Which of its two events a voice request has seen.
#[derive(Debug, Default)]
struct VoiceSeen {
    state: bool,
    server: bool,
}

/// An answer to publish on a requester's topic.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The requester's topic; none drops the event (an answer to a request given up on).
    pub topic: Option<Topic>,
    pub payload: Bytes,
    /// Whether it replaces the event's usual publication (member chunks, RATE_LIMITED).
    pub instead: bool,
}

/// One shard's commands in flight.
#[derive(Debug)]
pub(crate) struct Commands {
    shard: u32,
    /// How old a command may be when its turn comes.
    max_age: Duration,
    sent: VecDeque<Instant>,
    members: HashMap<String, Waiting>,
    voice: HashMap<u64, (Waiting, VoiceSeen)>,
    salt: u32,
    next: u64,
}

impl Commands {
    pub(crate) fn new(shard: u32, max_age: Duration) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Commands {
            shard,
            max_age,
            sent: VecDeque::new(),
            members: HashMap::new(),
            voice: HashMap::new(),
            salt: nanos ^ std::process::id().rotate_left(16) ^ shard,
            next: 0,
        }
    }

    /// Whether a command may be sent now.
    pub(crate) fn has_budget(&mut self) -> bool {
        let now = Instant::now();
        while self.sent.front().is_some_and(|t| now - *t >= WINDOW) {
            self.sent.pop_front();
        }
        self.sent.len() < COMMANDS_PER_MINUTE
    }

    /// When the budget has room again (now if it has).
    pub(crate) fn budget_at(&self) -> Instant {
        match self.sent.front() {
            Some(t) if self.sent.len() >= COMMANDS_PER_MINUTE => *t + WINDOW,
            _ => Instant::now(),
        }
    }

    /// Whether any request waits for an answering event.
    pub(crate) fn waiting(&self) -> bool {
        !self.members.is_empty() || !self.voice.is_empty()
    }

    /// Sends `queued` through `send` (the shard's), unless it is too old; returns the answer
    /// for its requester: sent, or expired.
    pub(crate) fn send(&mut self, queued: Queued, send: impl FnOnce(String)) -> Option<Reply> {
        let Queued {
            command,
            reply_to,
            at_ms,
        } = queued;
        let age = now_ms().saturating_sub(at_ms);
        if age > self.max_age.as_millis() as u64 {
            metrics::counter!("switchyard_commands_refused_total", "kind" => ErrorKind::Expired.as_str()).increment(1);
            tracing::warn!(
                shard = self.shard,
                command = command.name(),
                age_ms = age,
                "a gateway command waited too long for its shard (disconnected?); not sent"
            );
            let answer = Answer::failed(
                ErrorKind::Expired,
                format!(
                    "the {} command waited {age} ms for shard {} (longer than {} s) and was not sent",
                    command.name(),
                    self.shard,
                    self.max_age.as_secs()
                ),
            );
            return reply_to.map(|topic| reply(topic, &answer, true));
        }
        let now = Instant::now();
        self.members.retain(|_, w| w.until > now);
        self.voice.retain(|_, (w, _)| w.until > now);
        let mut ours = None;
        match (&command, &reply_to) {
            (GatewayCommand::RequestGuildMembers(r), Some(to)) => {
                self.next += 1;
                let nonce = format!("{NONCE_PREFIX}{:08x}:{:x}", self.salt, self.next);
                debug_assert!(nonce.len() <= MAX_NONCE_LEN);
                self.members.insert(
                    nonce.clone(),
                    Waiting {
                        reply_to: to.clone(),
                        nonce: r.nonce.clone(),
                        until: now + MEMBERS_WAIT,
                    },
                );
                ours = Some(nonce);
            }
            (GatewayCommand::UpdateVoiceState(v), Some(to)) => {
                let waiting = Waiting {
                    reply_to: to.clone(),
                    nonce: None,
                    until: now + VOICE_WAIT,
                };
                self.voice
                    .insert(v.guild_id.0, (waiting, VoiceSeen::default()));
            }
            _ => {}
        }
        // Without a reply_to the chunks are published as usual, with the requester's nonce.
        let theirs = match &command {
            GatewayCommand::RequestGuildMembers(r) if reply_to.is_none() => {
                r.nonce.as_deref().filter(|n| {
                    n.len() <= MAX_NONCE_LEN && (!n.starts_with(NONCE_PREFIX) || *n == CACHE_NONCE)
                })
            }
            _ => None,
        };
        send(command.to_frame(ours.as_deref().or(theirs)));
        self.sent.push_back(now);
        metrics::counter!("switchyard_commands_sent_total", "command" => command.name())
            .increment(1);
        tracing::debug!(
            shard = self.shard,
            command = command.name(),
            "gateway command sent"
        );
        let answer = Answer {
            ok: true,
            command: Some(command.name().to_owned()),
            shard: Some(self.shard),
            ..Answer::default()
        };
        reply_to.map(|topic| reply(topic, &answer, true))
    }

    /// The answer to a request that `dispatch` brings, if it brings one. `own_user` is the
    /// bot's user id, when known (a voice state update of another user answers nothing).
    pub(crate) fn answer(
        &mut self,
        dispatch: &Dispatch<'_>,
        own_user: Option<u64>,
    ) -> Option<Reply> {
        match dispatch.event.as_ref() {
            "GUILD_MEMBERS_CHUNK" => self.chunk(dispatch),
            "RATE_LIMITED" => self.rate_limited(dispatch),
            "VOICE_STATE_UPDATE" if own_user.is_none_or(|me| dispatch.ids.user == Some(me)) => {
                let left = dispatch.ids.channel.is_none();
                self.voice_event(dispatch, |seen| {
                    seen.state = true;
                    // Leaving brings no server update; joining brings both, in either order.
                    left || seen.server
                })
            }
            "VOICE_SERVER_UPDATE" => self.voice_event(dispatch, |seen| {
                seen.server = true;
                seen.state
            }),
            _ => None,
        }
    }

    /// Relays a voice event of a guild with a waiting requester; `done` marks what was seen
    /// and says whether the request is answered in full.
    fn voice_event(
        &mut self,
        dispatch: &Dispatch<'_>,
        done: impl FnOnce(&mut VoiceSeen) -> bool,
    ) -> Option<Reply> {
        let guild = dispatch.ids.guild?;
        let (waiting, seen) = self.voice.get_mut(&guild)?;
        let finished = done(seen);
        let reply = relay(self.shard, waiting.reply_to.clone(), dispatch, None, false);
        if finished {
            self.voice.remove(&guild);
        }
        Some(reply)
    }

    fn chunk(&mut self, dispatch: &Dispatch<'_>) -> Option<Reply> {
        let mut d: Map<String, Value> = serde_json::from_str(dispatch.data).ok()?;
        let nonce = d.get("nonce")?.as_str()?.to_owned();
        let last = match (d.get("chunk_index"), d.get("chunk_count")) {
            (Some(i), Some(n)) => i.as_u64()? + 1 >= n.as_u64()?,
            _ => true,
        };
        if nonce == CACHE_NONCE {
            return Some(Reply {
                topic: None,
                payload: Bytes::new(),
                instead: true,
            });
        }
        if !self.members.contains_key(&nonce) {
            return self.given_up(&nonce, "GUILD_MEMBERS_CHUNK");
        }
        let waiting = if last {
            self.members.remove(&nonce)?
        } else {
            let w = self.members.get(&nonce)?;
            Waiting {
                reply_to: w.reply_to.clone(),
                nonce: w.nonce.clone(),
                until: w.until,
            }
        };
        restore_nonce(&mut d, waiting.nonce.as_deref());
        Some(relay(
            self.shard,
            waiting.reply_to,
            dispatch,
            Some(Value::Object(d)),
            true,
        ))
    }

    fn rate_limited(&mut self, dispatch: &Dispatch<'_>) -> Option<Reply> {
        let mut d: Map<String, Value> = serde_json::from_str(dispatch.data).ok()?;
        let meta = d.get_mut("meta")?.as_object_mut()?;
        let nonce = meta.get("nonce")?.as_str()?.to_owned();
        let Some(waiting) = self.members.remove(&nonce) else {
            return self.given_up(&nonce, "RATE_LIMITED");
        };
        restore_nonce(meta, waiting.nonce.as_deref());
        let retry_s = d.get("retry_after").and_then(Value::as_f64).unwrap_or(30.0);
        let mut answer = Answer::failed(
            ErrorKind::RateLimited,
            format!(
                "Discord refused the member request (one request for a whole guild's members per guild every 30 s); retry in {retry_s:.1} s"
            ),
        );
        answer.retry_after_ms = Some((retry_s * 1000.0).ceil() as u64);
        answer.command = Some("request_guild_members".into());
        answer.shard = Some(self.shard);
        answer.event = Some("RATE_LIMITED".into());
        answer.d = Some(Value::Object(d));
        metrics::counter!("switchyard_commands_refused_total", "kind" => ErrorKind::RateLimited.as_str()).increment(1);
        Some(reply(waiting.reply_to, &answer, true))
    }

    /// An answer carrying one of the gateway's nonces that nobody waits for any more (the
    /// requester's wait ran out, or Discord replayed it after the shard moved): dropped.
    /// Any other nonce is not ours to judge, and the event is published as usual.
    fn given_up(&self, nonce: &str, event: &'static str) -> Option<Reply> {
        if !nonce.starts_with(NONCE_PREFIX) {
            return None;
        }
        metrics::counter!("switchyard_commands_answers_dropped_total", "event" => event)
            .increment(1);
        tracing::info!(
            shard = self.shard,
            event,
            nonce,
            "an answer to a member request nobody waits for any more; dropped"
        );
        Some(Reply {
            topic: None,
            payload: Bytes::new(),
            instead: true,
        })
    }
}

/// `dispatch` (its payload, or `d` in its place) relayed from `shard` to `reply_to`.
fn relay(
    shard: u32,
    reply_to: Topic,
    dispatch: &Dispatch<'_>,
    d: Option<Value>,
    instead: bool,
) -> Reply {
    let d = d.or_else(|| serde_json::from_str(dispatch.data).ok());
    let answer = Answer {
        ok: true,
        shard: Some(shard),
        event: Some(dispatch.event.as_ref().to_owned()),
        d,
        ..Answer::default()
    };
    reply(reply_to, &answer, instead)
}

fn restore_nonce(obj: &mut Map<String, Value>, theirs: Option<&str>) {
    match theirs {
        Some(n) => obj.insert("nonce".into(), Value::String(n.to_owned())),
        None => obj.remove("nonce"),
    };
}

fn reply(topic: Topic, answer: &Answer, instead: bool) -> Reply {
    Reply {
        topic: Some(topic),
        payload: Bytes::from(answer.to_json()),
        instead,
    }
}

#[cfg(test)]
mod tests;
