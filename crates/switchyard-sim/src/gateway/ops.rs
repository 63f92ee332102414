//! The client ops after IDENTIFY: presence (3), voice state (4), guild members (8), soundboard
//! sounds (31) and channel info (43), answered as Discord documents them (gateway-events.mdx,
//! "Send Events"). Their payloads were checked by [`crate::gateway::frame`].

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ids::now_ms;
use crate::state::session::Session;
use crate::state::{Event, Shared, lock};
use crate::world::Member;
use switchyard_core::gateway_proto::frame::{
    ClientOp, RequestMembers, VoiceState, presence_activities,
};
use switchyard_core::gateway_proto::intents;

/// Largest member chunk.
const CHUNK: usize = 1000;

/// Handles an op of an identified session.
pub fn handle(shared: &Shared, session: &Session, op: ClientOp) {
    match op {
        ClientOp::Presence(p) => presence(shared, session, p),
        ClientOp::VoiceState(v) => voice_state(shared, session, &v),
        ClientOp::RequestMembers(r) => request_members(shared, session, &r),
        ClientOp::RequestSoundboard(guilds) => {
            for g in guilds
                .into_iter()
                .filter(|g| shared.world.guild(*g).is_some())
            {
                let d = json!({"guild_id": g.to_string(), "soundboard_sounds": []});
                session.push("SOUNDBOARD_SOUNDS", &d.to_string());
            }
        }
        ClientOp::RequestChannelInfo(guild, _fields) => {
            if let Some(g) = shared.world.guild(guild) {
                let channels: Vec<Value> = g
                    .channels
                    .iter()
                    .filter(|c| c.kind == 2)
                    .map(|c| json!({"id": c.id.to_string(), "status": null, "voice_start_time": null}))
                    .collect();
                let d = json!({"guild_id": guild.to_string(), "channels": channels});
                session.push("CHANNEL_INFO", &d.to_string());
            }
        }
        ClientOp::Heartbeat(_) | ClientOp::Identify(_) | ClientOp::Resume(_) => {}
    }
}

/// Sets the session's presence and tells the others. A bot's presence is per session: it
/// shows in the guilds of the session's shard, so a PRESENCE_UPDATE goes out for each of
/// them, to the sessions of other bots that cover the guild and have GUILD_PRESENCES.
///
/// The bot's own sessions do not get it. Discord does not send a user its own presence
/// updates: libraries apply op 3 to their own cache themselves (discord.py's
/// `change_presence` sets `guild.me.status` for that reason), and would otherwise see each
/// change twice.
fn presence(shared: &Shared, session: &Session, p: Value) {
    let bot = &session.bot.identity;
    let status = match p["status"].as_str() {
        Some("invisible" | "offline") | None => "offline",
        Some(s) => s,
    };
    // others see an invisible bot as offline, without activities; a bot can set only
    // `name`, `state`, `type` and `url` of an activity; the older `game` is one activity
    let activities: Vec<Value> = if status == "offline" {
        Vec::new()
    } else {
        presence_activities(&p)
            .into_iter()
            .map(|a| {
                let mut shown =
                    json!({"name": a["name"], "type": a["type"], "created_at": now_ms()});
                for k in ["state", "url"] {
                    if let Some(v) = a.get(k) {
                        shown[k] = v.clone();
                    }
                }
                shown
            })
            .collect()
    };
    let client_status = if status == "offline" {
        json!({})
    } else {
        json!({"web": status})
    };
    let user = json!({"id": bot.user_id.to_string()});
    for guild in shared.shard_guilds(session.shard) {
        let d = json!({
            "user": user, "guild_id": guild.id.to_string(), "status": status,
            "activities": activities, "client_status": client_status,
        });
        let mut event = Event::new("PRESENCE_UPDATE", d, Some(guild.id));
        event.except_bot = Some(bot.user_id);
        crate::gateway::dispatch(shared, &event);
    }
    session.lock().presence = p;
}

/// Channel types a client can join with op 4: GUILD_VOICE and GUILD_STAGE_VOICE.
const VOICE_KINDS: [u8; 2] = [2, 13];

/// Joins, moves or leaves: VOICE_STATE_UPDATE (with this session's `session_id`) to the
/// sessions that see voice states, and, when joining a channel, VOICE_SERVER_UPDATE to this
/// session. Leaving (`channel_id` null) sends no VOICE_SERVER_UPDATE. A request for an
/// unknown guild, or for a channel that is not a voice channel of the guild, is ignored.
fn voice_state(shared: &Shared, session: &Session, v: &VoiceState) {
    let Some(guild) = shared.world.guild(v.guild_id.0) else {
        return;
    };
    let bot = &session.bot.identity;
    let channel = match v.channel_id {
        None => None,
        Some(c) => match guild
            .channels
            .iter()
            .find(|ch| ch.id == c.0 && VOICE_KINDS.contains(&ch.kind))
        {
            Some(ch) => Some(ch.id),
            None => return,
        },
    };
    let d = json!({
        "guild_id": guild.id.to_string(),
        "channel_id": channel.map(|c| c.to_string()),
        "user_id": bot.user_id.to_string(),
        "member": guild.bot_member(bot).to_json(true),
        "session_id": session.id,
        "deaf": false, "mute": false, "self_deaf": v.self_deaf, "self_mute": v.self_mute,
        "self_video": false, "suppress": false, "request_to_speak_timestamp": null,
    });
    // like every VOICE_STATE_UPDATE, it needs GUILD_VOICE_STATES, even for the bot's own state
    crate::gateway::dispatch(shared, &Event::new("VOICE_STATE_UPDATE", d, Some(guild.id)));
    if channel.is_some() {
        let d = json!({"token": format!("{:x}", shared.ids.next()), "guild_id": guild.id.to_string(), "endpoint": "voice.sim.invalid:443"});
        session.push("VOICE_SERVER_UPDATE", &d.to_string());
    }
}

/// Answers with GUILD_MEMBERS_CHUNKs of at most 1000 members. As documented: the whole
/// list (`query ""`, `limit 0`) needs GUILD_MEMBERS (without it Discord sends nothing back)
/// and is limited to one request per guild per bot per 30 s (`RATE_LIMITED` past that);
/// a prefix query and `user_ids` return at most 100 members; unknown `user_ids` come back in
/// `not_found`; `presences: true` without GUILD_PRESENCES counts as false.
fn request_members(shared: &Shared, session: &Session, r: &RequestMembers) {
    let Some(guild) = shared.world.guild(r.guild_id.0) else {
        return;
    };
    let bot = &session.bot.identity;
    let query = r.query.as_deref();
    let limit = r.limit.unwrap_or(0) as usize;
    let full = r.is_full_list();
    let presences = r.presences == Some(true) && session.intents & intents::GUILD_PRESENCES != 0;
    if full {
        if session.intents & intents::GUILD_MEMBERS == 0 {
            return;
        }
        let window = Duration::from_millis(shared.config.timings.member_request_window_ms);
        let mut limits = lock(&session.bot.limits);
        let now = Instant::now();
        if let Some(last) = limits.member_requests.get(&guild.id)
            && now.duration_since(*last) < window
        {
            let retry = (window - now.duration_since(*last)).as_secs_f64();
            let mut meta = json!({"guild_id": guild.id.to_string()});
            if let Some(n) = &r.nonce {
                meta["nonce"] = json!(n);
            }
            drop(limits);
            session.push(
                "RATE_LIMITED",
                &json!({"opcode": 8, "retry_after": retry, "meta": meta}).to_string(),
            );
            return;
        }
        limits.member_requests.insert(guild.id, now);
    }
    let bot_member = guild.bot_member(bot);
    let all = std::iter::once(&bot_member).chain(guild.members.iter());
    let mut not_found = Vec::new();
    let members: Vec<&Member> = if let Some(ids) = &r.user_ids {
        let ids: Vec<u64> = ids.to_vec().into_iter().take(100).collect();
        let found: Vec<&Member> = all.filter(|m| ids.contains(&m.user.id)).collect();
        not_found = ids
            .into_iter()
            .filter(|id| !found.iter().any(|m| m.user.id == *id))
            .collect();
        found
    } else {
        let q = query.unwrap_or("").to_lowercase();
        let cap = if full {
            usize::MAX
        } else if limit == 0 {
            100
        } else {
            limit.min(100)
        };
        all.filter(|m| m.user.username.to_lowercase().starts_with(&q))
            .take(cap)
            .collect()
    };
    let chunks: Vec<&[&Member]> = if members.is_empty() {
        vec![&[]]
    } else {
        members.chunks(CHUNK).collect()
    };
    let count = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut d = json!({
            "guild_id": guild.id.to_string(),
            "members": chunk.iter().map(|m| m.to_json(true)).collect::<Vec<_>>(),
            "chunk_index": i,
            "chunk_count": count,
        });
        if i == 0 && !not_found.is_empty() {
            d["not_found"] = json!(not_found.iter().map(u64::to_string).collect::<Vec<_>>());
        }
        if presences {
            d["presences"] = json!(chunk.iter().map(|m| json!({"user": {"id": m.user.id.to_string()}, "status": "online", "activities": [], "client_status": {"desktop": "online"}})).collect::<Vec<_>>());
        }
        if let Some(n) = &r.nonce {
            d["nonce"] = json!(n);
        }
        session.push("GUILD_MEMBERS_CHUNK", &d.to_string());
    }
}
