//! Clients' gateway commands: op 3 (presence) and op 4 (voice state) go upstream through the
//! command topics; op 8 (member requests) is answered from the cache when it holds the
//! guild's whole member list (many clients chunking every guild at start would otherwise
//! spend Discord's limits), else sent upstream. Either way the chunks go to the requesting
//! session only: each upstream request has a reply topic of its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use switchyard_broker::Broker;
use switchyard_core::Topic;
use switchyard_core::gateway_proto::frame::{RequestMembers, VoiceState, presence_activities};
use switchyard_core::gateway_proto::intents;

use crate::session::Session;
use crate::source::{MemberAnswer, MemberLookup, StateSource};

/// Members per GUILD_MEMBERS_CHUNK, as Discord sends them.
const CHUNK: usize = 1000;
/// How long an upstream request's answers are awaited.
const PENDING_FOR: Duration = Duration::from_secs(120);

/// What is waiting for answers on one reply topic.
#[derive(Debug)]
struct Pending {
    session: Weak<Session>,
    what: &'static str,
    at: Instant,
}

/// Sends clients' commands and routes the answers.
pub(crate) struct Commands {
    broker: Arc<dyn Broker>,
    source: Arc<dyn StateSource>,
    /// `{reply_prefix}.face.{instance}`: this face's reply topics lie under it.
    reply_base: String,
    next: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
}

impl Commands {
    pub(crate) fn new(
        broker: Arc<dyn Broker>,
        source: Arc<dyn StateSource>,
        reply_base: String,
    ) -> Self {
        Commands {
            broker,
            source,
            reply_base,
            next: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// The pattern of this face's reply topics.
    pub(crate) fn reply_pattern(&self) -> String {
        format!("{}.>", self.reply_base)
    }

    /// Op 3: the bot's presence, on every upstream shard. Sent upstream as Discord documents
    /// op 3, whatever leniency of Discord's the client relied on (a fractional `since`, the
    /// older `game` in place of `activities`: see the frame decoder's `presence`).
    pub(crate) async fn presence(&self, session: &Arc<Session>, d: Value) {
        let activities: Vec<Value> = presence_activities(&d).into_iter().cloned().collect();
        let command = serde_json::json!({
            "command": "update_presence",
            "since": d.get("since").and_then(Value::as_f64).map(|ms| ms.max(0.0) as u64),
            "activities": activities,
            "status": d["status"],
            "afk": d["afk"].as_bool().unwrap_or(false),
        });
        if let Value::Object(command) = command {
            self.send(session, None, "update_presence", command).await;
        }
    }

    /// Op 4: join, move or leave a voice channel.
    pub(crate) async fn voice(&self, session: &Arc<Session>, v: VoiceState) {
        if !session.wants.holds(Some(v.guild_id.0)) {
            return;
        }
        let command = serde_json::json!({
            "command": "update_voice_state",
            "guild_id": v.guild_id,
            "channel_id": v.channel_id,
            "self_mute": v.self_mute,
            "self_deaf": v.self_deaf,
        });
        if let Value::Object(o) = command {
            self.send(session, Some(v.guild_id.0), "update_voice_state", o)
                .await;
        }
    }

    /// Op 8, as Discord documents it: the whole list needs GUILD_MEMBERS (without it
    /// nothing comes back), `presences` without GUILD_PRESENCES counts as false.
    pub(crate) async fn members(&self, session: &Arc<Session>, r: RequestMembers) {
        let guild = r.guild_id.0;
        let wants = session.wants;
        if !wants.holds(Some(guild))
            || (r.is_full_list() && wants.intents & intents::GUILD_MEMBERS == 0)
        {
            return;
        }
        // Discord's caps: the whole list only with an empty query and limit 0; a search
        // returns at most 100 members, and at most 100 user_ids are read
        let limit = match r.limit.unwrap_or(0) {
            _ if r.is_full_list() => 0,
            0 => 100,
            n => n.min(100) as u32,
        };
        let lookup = MemberLookup {
            query: r.query.clone(),
            limit,
            user_ids: r
                .user_ids
                .as_ref()
                .map(|ids| ids.to_vec().into_iter().take(100).collect()),
            presences: r.presences == Some(true) && wants.intents & intents::GUILD_PRESENCES != 0,
        };
        match self.source.members(guild, &lookup).await {
            Ok(Some(answer)) => {
                metrics::counter!("switchyard_face_member_requests_total", "answered" => "cache")
                    .increment(1);
                for d in chunks(guild, &answer, r.nonce.as_deref()) {
                    session.send("GUILD_MEMBERS_CHUNK", &d);
                }
                return;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(guild, %error, "face: member request not answered from the cache")
            }
        }
        metrics::counter!("switchyard_face_member_requests_total", "answered" => "discord")
            .increment(1);
        let mut command = serde_json::Map::new();
        command.insert("command".into(), "request_guild_members".into());
        command.insert("guild_id".into(), guild.to_string().into());
        if let Some(q) = &lookup.query {
            command.insert("query".into(), q.clone().into());
            command.insert("limit".into(), lookup.limit.into());
        }
        if let Some(ids) = &lookup.user_ids {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            command.insert("user_ids".into(), ids.into());
        }
        command.insert("presences".into(), lookup.presences.into());
        if let Some(n) = &r.nonce {
            command.insert("nonce".into(), n.clone().into());
        }
        self.send(session, Some(guild), "request_guild_members", command)
            .await;
    }

    async fn send(
        &self,
        session: &Arc<Session>,
        guild: Option<u64>,
        what: &'static str,
        mut command: serde_json::Map<String, Value>,
    ) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let reply_to = format!("{}.{n}", self.reply_base);
        command.insert("reply_to".into(), reply_to.into());
        let topic = format!("outbound.discord.{}.0.0", guild.unwrap_or(0));
        let (Ok(topic), Ok(payload)) = (Topic::new(&topic), serde_json::to_vec(&command)) else {
            return;
        };
        self.lock().insert(
            n,
            Pending {
                session: Arc::downgrade(session),
                what,
                at: Instant::now(),
            },
        );
        metrics::counter!("switchyard_face_commands_total", "command" => what).increment(1);
        if let Err(error) = self.broker.publish(&topic, Bytes::from(payload)).await {
            self.lock().remove(&n);
            metrics::counter!("switchyard_face_commands_failed_total", "command" => what)
                .increment(1);
            tracing::warn!(%error, command = what, session = %session.id, "face: a client's command could not be sent");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One answer on a reply topic: member chunks and RATE_LIMITED go to the requester;
    /// refusals are logged and counted.
    pub(crate) fn answer(&self, topic: &str, payload: &[u8]) {
        let Some(n) = topic
            .strip_prefix(self.reply_base.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return;
        };
        #[derive(Deserialize)]
        struct Reply<'a> {
            ok: bool,
            #[serde(default)]
            event: Option<String>,
            #[serde(borrow, default)]
            d: Option<&'a RawValue>,
            #[serde(default)]
            kind: Option<String>,
            #[serde(default)]
            error: Option<String>,
        }
        let Ok(reply) = serde_json::from_slice::<Reply<'_>>(payload) else {
            tracing::warn!(%topic, "face: an answer it cannot read");
            return;
        };
        let mut pending = self.lock();
        let Some(p) = pending.get(&n) else { return };
        let session = p.session.upgrade();
        let what = p.what;
        let last = match (reply.event.as_deref(), reply.d) {
            (Some(event @ ("GUILD_MEMBERS_CHUNK" | "RATE_LIMITED")), Some(d)) => {
                let limited = event == "RATE_LIMITED";
                let name = if limited {
                    "RATE_LIMITED"
                } else {
                    "GUILD_MEMBERS_CHUNK"
                };
                if let Some(s) = &session {
                    s.send(name, d);
                }
                limited || last_chunk(d)
            }
            // voice answers are also on the inbound topics, which the client reads
            (Some(_), _) => false,
            (None, _) if reply.ok => what != "request_guild_members",
            (None, _) => {
                let kind = reply.kind.unwrap_or_default();
                metrics::counter!("switchyard_face_commands_refused_total", "command" => what)
                    .increment(1);
                tracing::warn!(command = what, %kind, error = reply.error.unwrap_or_default(), "face: a client's command was refused upstream");
                true
            }
        };
        if last {
            pending.remove(&n);
        }
    }

    /// Forgets requests whose answers never came.
    pub(crate) fn sweep(&self, now: Instant) {
        self.lock()
            .retain(|_, p| now.duration_since(p.at) < PENDING_FOR);
    }
}

fn last_chunk(d: &RawValue) -> bool {
    #[derive(Deserialize)]
    struct Chunk {
        chunk_index: u64,
        chunk_count: u64,
    }
    serde_json::from_str::<Chunk>(d.get()).map_or(true, |c| c.chunk_index + 1 >= c.chunk_count)
}

/// The GUILD_MEMBERS_CHUNKs of an answer from the cache: at most 1000 members each,
/// `not_found` on the first, the presences on the last (when every member is known).
fn chunks(guild: u64, answer: &MemberAnswer, nonce: Option<&str>) -> Vec<Box<RawValue>> {
    #[derive(Serialize)]
    struct Chunk<'a> {
        guild_id: String,
        members: &'a [Box<RawValue>],
        chunk_index: usize,
        chunk_count: usize,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        not_found: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        presences: Option<&'a [Box<RawValue>]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<&'a str>,
    }
    let parts: Vec<&[Box<RawValue>]> = if answer.members.is_empty() {
        vec![&[]]
    } else {
        answer.members.chunks(CHUNK).collect()
    };
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .filter_map(|(i, members)| {
            let chunk = Chunk {
                guild_id: guild.to_string(),
                members,
                chunk_index: i,
                chunk_count: count,
                not_found: if i == 0 {
                    answer.not_found.iter().map(u64::to_string).collect()
                } else {
                    Vec::new()
                },
                presences: (i + 1 == count && !answer.presences.is_empty())
                    .then_some(answer.presences.as_slice()),
                nonce,
            };
            serde_json::value::to_raw_value(&chunk).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).expect("json")
    }

    #[test]
    fn answers_are_cut_into_chunks_of_a_thousand() {
        let answer = MemberAnswer {
            members: (0..2500)
                .map(|i| raw(&format!(r#"{{"user":{{"id":"{i}"}}}}"#)))
                .collect(),
            presences: vec![raw(r#"{"user":{"id":"1"},"status":"online"}"#)],
            not_found: vec![7],
        };
        let chunks = chunks(5, &answer, Some("n"));
        assert_eq!(chunks.len(), 3);
        let first: Value = serde_json::from_str(chunks[0].get()).expect("json");
        assert_eq!(first["members"].as_array().map(Vec::len), Some(1000));
        assert_eq!(first["chunk_count"], 3);
        assert_eq!(first["not_found"], serde_json::json!(["7"]));
        assert_eq!(first["nonce"], "n");
        assert!(first.get("presences").is_none());
        let last: Value = serde_json::from_str(chunks[2].get()).expect("json");
        assert_eq!(last["members"].as_array().map(Vec::len), Some(500));
        assert_eq!(last["presences"].as_array().map(Vec::len), Some(1));
        let empty = super::chunks(5, &MemberAnswer::default(), None);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].get().contains(r#""members":[]"#));
    }
}
