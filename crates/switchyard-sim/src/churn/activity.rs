//! What members are doing: presences (PRESENCE_UPDATE) and voice states
//! (VOICE_STATE_UPDATE: join, move, leave, mute and deafen).
//!
//! Rules, from Discord's gateway documentation:
//! - PRESENCE_UPDATE carries `user` (here only its `id`, the one field Discord promises),
//!   `guild_id`, `status`, `activities` and `client_status` (a platform is absent while
//!   offline); an offline member has no presence kept (GUILD_CREATE lists the others).
//! - VOICE_STATE_UPDATE is a voice state object; in a guild it carries the `member` (with
//!   its user). Leaving is `channel_id: null`. GUILD_CREATE's voice states lack `guild_id`.
//! - In a stage channel, a listener is `suppress`ed until invited to speak.

use serde_json::{Value, json};

use super::Ctx;

const STATUSES: &[&str] = &["online", "online", "idle", "dnd"];
const GAMES: &[&str] = &[
    "Factorio",
    "Celeste",
    "Hades",
    "Minecraft",
    "Outer Wilds",
    "Tetris",
];
const SONGS: &[&str] = &["Clair de Lune", "Windowlicker", "Hyperballad", "Teardrop"];

/// A member's presence changes: another status, activities or platforms, or offline.
pub(super) fn presence(cx: &mut Ctx<'_>) -> bool {
    let ids = cx.state.member_ids(cx.guild);
    let Some(user) = cx.pick(&ids) else {
        return false;
    };
    let before = cx.state.presence(cx.guild, user);
    let offline = before.is_some() && cx.chance(20);
    let d = if offline {
        json!({
            "user": {"id": user.to_string()}, "guild_id": cx.gid(), "status": "offline",
            "activities": [], "client_status": {},
        })
    } else {
        let status = cx.pick(STATUSES).unwrap_or("online");
        let mut client_status = serde_json::Map::new();
        for platform in ["desktop", "mobile", "web"] {
            if cx.chance(45) {
                client_status.insert(platform.into(), json!(status));
            }
        }
        if client_status.is_empty() {
            client_status.insert("desktop".into(), json!(status));
        }
        let mut activities = Vec::new();
        for _ in 0..cx.rng.below(3) {
            activities.push(activity(cx));
        }
        json!({
            "user": {"id": user.to_string()}, "guild_id": cx.gid(), "status": status,
            "activities": activities, "client_status": client_status,
        })
    };
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        if offline {
            g.presences.remove(&user);
        } else {
            g.presences.insert(user, d.clone());
        }
    }
    cx.emit("PRESENCE_UPDATE", d, before);
    true
}

/// One activity: a game, a song, a stream or a custom status.
fn activity(cx: &mut Ctx<'_>) -> Value {
    let created_at = cx.state.clock_ms - cx.rng.below(3_600_000);
    match cx.rng.below(4) {
        0 => json!({
            "name": cx.pick(GAMES).unwrap_or("Tetris"), "type": 0, "created_at": created_at,
            "timestamps": {"start": created_at},
            "application_id": (1_000_000_000_000_000 + cx.rng.below(1 << 40)).to_string(),
            "details": super::words(cx.rng, 3), "state": super::words(cx.rng, 2),
        }),
        1 => json!({
            "name": "Spotify", "type": 2, "created_at": created_at,
            "details": cx.pick(SONGS).unwrap_or("Teardrop"), "state": super::words(cx.rng, 2),
            "timestamps": {"start": created_at, "end": created_at + 240_000},
        }),
        2 => json!({
            "name": "Twitch", "type": 1, "created_at": created_at,
            "url": "https://twitch.tv/example", "details": super::words(cx.rng, 4),
        }),
        _ => json!({
            "name": "Custom Status", "type": 4, "created_at": created_at,
            "state": super::words(cx.rng, 3),
        }),
    }
}

/// A member joins a voice channel, moves, leaves, or mutes, deafens, streams.
pub(super) fn voice(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    let voice_channels: Vec<(u64, bool)> = g
        .channels
        .iter()
        .filter_map(|(id, c)| match c["type"].as_u64() {
            Some(2) => Some((*id, false)),
            Some(13) => Some((*id, true)),
            _ => None,
        })
        .collect();
    let ids: Vec<u64> = g.members.keys().copied().collect();
    let Some(user) = cx.pick(&ids) else {
        return false;
    };
    let before = cx.state.voice_state(cx.guild, user);
    let Some(mut state) = before.clone() else {
        let Some((channel, stage)) = cx.pick(&voice_channels) else {
            return false;
        };
        let session = super::hash(cx.rng);
        let state = json!({
            "guild_id": cx.gid(), "channel_id": channel.to_string(), "user_id": user.to_string(),
            "session_id": session, "deaf": false, "mute": false,
            "self_deaf": false, "self_mute": cx.chance(30), "self_video": false,
            "self_stream": false, "suppress": stage, "request_to_speak_timestamp": null,
        });
        return send(cx, user, state, None);
    };
    match cx.rng.below(10) {
        0..4 => {
            voice_leave(cx, user);
            true
        }
        4..7 => {
            let here = state["channel_id"].clone();
            let others: Vec<(u64, bool)> = voice_channels
                .into_iter()
                .filter(|(c, _)| json!(c.to_string()) != here)
                .collect();
            let Some((channel, stage)) = cx.pick(&others) else {
                return false;
            };
            state["channel_id"] = json!(channel.to_string());
            state["suppress"] = json!(stage);
            send(cx, user, state, before)
        }
        _ => {
            let key = cx
                .pick(&["self_mute", "self_deaf", "self_video", "self_stream"])
                .unwrap_or("self_mute");
            state[key] = json!(!state[key].as_bool().unwrap_or(false));
            send(cx, user, state, before)
        }
    }
}

/// Keeps `state` (in a channel) and sends it with the member.
fn send(cx: &mut Ctx<'_>, user: u64, state: Value, before: Option<Value>) -> bool {
    let Some(member) = cx.state.member(cx.guild, user) else {
        return false;
    };
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.voice_states.insert(user, state.clone());
    }
    let mut d = state;
    d["member"] = member;
    cx.emit("VOICE_STATE_UPDATE", d, before);
    true
}

/// `user` leaves voice, if in a voice channel: VOICE_STATE_UPDATE with `channel_id: null`.
pub(super) fn voice_leave(cx: &mut Ctx<'_>, user: u64) {
    let Some(before) = cx.state.voice_state(cx.guild, user) else {
        return;
    };
    let member = cx.state.member(cx.guild, user);
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.voice_states.remove(&user);
    }
    let mut d = before.clone();
    d["channel_id"] = Value::Null;
    d["suppress"] = json!(false);
    if let Some(member) = member {
        d["member"] = member;
    }
    cx.emit("VOICE_STATE_UPDATE", d, Some(before));
}
