//! Channels created, updated and deleted (CHANNEL_CREATE, CHANNEL_UPDATE, CHANNEL_DELETE),
//! their permission overwrites changed, and the bots' access to a channel lost and regained.
//!
//! Rules:
//! - Each event is a whole channel object (Discord's gateway docs); changing an overwrite is
//!   a CHANNEL_UPDATE (docs, "Edit Channel Permissions").
//! - Deleting a category does not delete its children: "they will have their `parent_id`
//!   removed and a Channel Update Gateway event will fire for each of them" (docs, "Delete
//!   Channel").
//! - Deleting a channel deletes its threads and messages with no event of their own (discord.py
//!   drops a deleted channel's threads on CHANNEL_DELETE for that reason); a voice channel's
//!   users are disconnected first (VOICE_STATE_UPDATE, `channel_id: null`), and a stage's
//!   live instance ends first (STAGE_INSTANCE_DELETE).
//! - Losing access (VIEW_CHANNEL denied to @everyone, as bots have no roles here) is a
//!   CHANNEL_UPDATE; meanwhile nothing of the channel's messages or threads is sent. Regaining
//!   it is a CHANNEL_UPDATE and a THREAD_LIST_SYNC with the channel's active threads: "when
//!   an app gains access to a channel ... a Thread List Sync event is sent", whose
//!   `channel_ids` tells a client to "clear out any active threads whose parent_id is in the
//!   channel_ids array, and then ingest any threads that were in the event" (docs, "Threads").
//! - The guild's system channel is never deleted or hidden (Discord refuses to delete some
//!   of a community guild's channels; this keeps the guild's own fields valid).

use serde_json::{Value, json};

use super::Ctx;
use super::activity::voice_leave;
use super::roles::VIEW_CHANNEL;
use super::state::{id_of, parent_of};

/// Channels a guild keeps at most (threads aside).
const MAX_CHANNELS: usize = 16;
/// Channels a guild keeps at least.
const MIN_CHANNELS: usize = 3;

const NAMES: &[&str] = &[
    "lobby", "clips", "builds", "lore", "trading", "events", "media",
];

/// A new channel: text (sometimes in a category), voice, category or stage.
pub(super) fn create(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    if g.channels.len() >= MAX_CHANNELS {
        return false;
    }
    let position = g.channels.len();
    let categories: Vec<u64> = of_type(&g.channels, 4);
    let kind = match cx.rng.below(10) {
        0..6 => 0,
        6 | 7 => 2,
        8 => 4,
        _ => 13,
    };
    let id = cx.state.next_id();
    let name = format!("{}-{}", cx.pick(NAMES).unwrap_or("chat"), cx.rng.below(100));
    let parent = match cx.pick(&categories) {
        Some(c) if kind != 4 && cx.chance(50) => json!(c.to_string()),
        _ => Value::Null,
    };
    let mut ch = json!({
        "id": id.to_string(), "type": kind, "last_message_id": null, "flags": 0,
        "guild_id": cx.gid(), "name": name, "position": position,
        "permission_overwrites": [], "parent_id": parent, "nsfw": false,
    });
    match kind {
        0 => {
            ch["topic"] = json!(super::words(cx.rng, 4));
            ch["rate_limit_per_user"] = json!(0);
        }
        2 | 13 => {
            ch["bitrate"] = json!(64_000);
            ch["user_limit"] = json!(0);
            ch["rtc_region"] = Value::Null;
        }
        _ => {
            if let Some(o) = ch.as_object_mut() {
                o.remove("last_message_id");
            }
        }
    }
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.channels.insert(id, ch.clone());
    }
    cx.emit("CHANNEL_CREATE", ch, None);
    true
}

/// The ids of the channels of type `kind`.
fn of_type(channels: &std::collections::BTreeMap<u64, Value>, kind: u64) -> Vec<u64> {
    channels
        .iter()
        .filter(|(_, c)| c["type"].as_u64() == Some(kind))
        .map(|(id, _)| *id)
        .collect()
}

/// A visible channel other than the system channel (when `spare_system`), with its value.
fn pick_visible(cx: &mut Ctx<'_>, spare_system: bool) -> Option<(u64, Value)> {
    let g = cx.state.guilds.get(&cx.guild)?;
    let system = g.fields.get("system_channel_id").and_then(id_of);
    let ids: Vec<u64> = g
        .channels
        .keys()
        .filter(|c| {
            let spared = spare_system && system == Some(**c);
            !g.hidden.contains(c) && !spared
        })
        .copied()
        .collect();
    let id = cx.pick(&ids)?;
    let ch = cx.state.guilds.get(&cx.guild)?.channels.get(&id)?.clone();
    Some((id, ch))
}

/// Stores `ch` and sends CHANNEL_UPDATE with `before`.
fn send_update(cx: &mut Ctx<'_>, id: u64, ch: Value, before: Value) {
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.channels.insert(id, ch.clone());
    }
    cx.emit("CHANNEL_UPDATE", ch, Some(before));
}

/// A channel's name, topic, position, NSFW flag, slowmode, bitrate or category changes.
pub(super) fn update(cx: &mut Ctx<'_>) -> bool {
    let Some((id, before)) = pick_visible(cx, false) else {
        return false;
    };
    let categories = cx
        .state
        .guilds
        .get(&cx.guild)
        .map(|g| of_type(&g.channels, 4))
        .unwrap_or_default();
    let mut ch = before.clone();
    let kind = ch["type"].as_u64().unwrap_or(0);
    match cx.rng.below(5) {
        0 => {
            ch["name"] = json!(format!(
                "{}-{}",
                cx.pick(NAMES).unwrap_or("chat"),
                cx.rng.below(100)
            ))
        }
        1 if kind == 0 => ch["topic"] = json!(super::words(cx.rng, 5)),
        1 if kind == 0 || kind == 2 => ch["nsfw"] = json!(!ch["nsfw"].as_bool().unwrap_or(false)),
        2 if kind == 0 => ch["rate_limit_per_user"] = json!(cx.pick(&[0, 5, 30, 120]).unwrap_or(0)),
        2 if kind == 2 || kind == 13 => {
            ch["bitrate"] = json!(cx.pick(&[64_000, 96_000]).unwrap_or(64_000))
        }
        3 if kind != 4 => {
            ch["parent_id"] = match cx.pick(&categories) {
                Some(c) if ch["parent_id"].is_null() => json!(c.to_string()),
                _ => Value::Null,
            }
        }
        _ => ch["position"] = json!(cx.rng.below(20)),
    }
    send_update(cx, id, ch, before);
    true
}

/// An overwrite for a role or a member is added, changed or removed. @everyone's
/// VIEW_CHANNEL is left to [`access`].
pub(super) fn overwrites(cx: &mut Ctx<'_>) -> bool {
    let Some((id, before)) = pick_visible(cx, false) else {
        return false;
    };
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    let roles: Vec<u64> = g.roles.keys().copied().collect();
    let members: Vec<u64> = g.members.keys().copied().collect();
    let mut ch = before.clone();
    let mut list: Vec<Value> = ch["permission_overwrites"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let perms = [
        0u64,
        1 << 11,
        1 << 13,
        (1 << 6) | (1 << 11),
        1 << 15,
        1 << 20,
    ];
    if !list.is_empty() && cx.chance(35) {
        let at = cx.rng.below(list.len() as u64) as usize;
        if cx.chance(50) {
            list.remove(at);
        } else if let Some(o) = list.get_mut(at) {
            o["allow"] = json!(cx.pick(&perms).unwrap_or(0).to_string());
        }
    } else {
        let (target, kind) = match cx.pick(&members) {
            Some(m) if cx.chance(40) => (m, 1),
            _ => (cx.pick(&roles).unwrap_or(cx.guild), 0),
        };
        let mut deny = cx.pick(&perms).unwrap_or(0);
        if target == cx.guild {
            deny &= !VIEW_CHANNEL;
        }
        let o = json!({"id": target.to_string(), "type": kind,
            "allow": cx.pick(&perms).unwrap_or(0).to_string(), "deny": deny.to_string()});
        list.retain(|x| x["id"] != o["id"]);
        list.push(o);
    }
    ch["permission_overwrites"] = json!(list);
    send_update(cx, id, ch, before);
    true
}

/// A channel is deleted, with what goes with it (see the module's rules).
pub(super) fn delete(cx: &mut Ctx<'_>) -> bool {
    let count = cx
        .state
        .guilds
        .get(&cx.guild)
        .map_or(0, |g| g.channels.len());
    if count <= MIN_CHANNELS {
        return false;
    }
    let Some((id, before)) = pick_visible(cx, true) else {
        return false;
    };
    let guild = cx.guild;
    let key = json!(id.to_string());
    // a category's children leave it, each with a CHANNEL_UPDATE
    let children: Vec<(u64, Value)> = cx
        .state
        .guilds
        .get(&guild)
        .map(|g| {
            g.channels
                .iter()
                .filter(|(_, c)| c["parent_id"] == key)
                .map(|(c, v)| (*c, v.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (child, child_before) in children {
        let mut ch = child_before.clone();
        ch["parent_id"] = Value::Null;
        send_update(cx, child, ch, child_before);
    }
    // a stage's live instance ends; a voice channel's users are disconnected
    let instances: Vec<(u64, Value)> = cx
        .state
        .guilds
        .get(&guild)
        .map(|g| {
            g.stage_instances
                .iter()
                .filter(|(_, s)| s["channel_id"] == key)
                .map(|(s, v)| (*s, v.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (stage, instance) in instances {
        if let Some(g) = cx.state.guilds.get_mut(&guild) {
            g.stage_instances.remove(&stage);
        }
        cx.emit("STAGE_INSTANCE_DELETE", instance.clone(), Some(instance));
    }
    let in_voice: Vec<u64> = cx
        .state
        .guilds
        .get(&guild)
        .map(|g| {
            g.voice_states
                .iter()
                .filter(|(_, v)| v["channel_id"] == key)
                .map(|(u, _)| *u)
                .collect()
        })
        .unwrap_or_default();
    for user in in_voice {
        voice_leave(cx, user);
    }
    // its threads and every message go with it, unseen
    if let Some(g) = cx.state.guilds.get_mut(&guild) {
        let threads: Vec<u64> = g
            .threads
            .iter()
            .filter(|(_, t)| parent_of(t) == Some(id))
            .map(|(t, _)| *t)
            .collect();
        for t in threads {
            g.threads.remove(&t);
            cx.state.messages.remove(&t);
        }
    }
    cx.state.messages.remove(&id);
    if let Some(g) = cx.state.guilds.get_mut(&guild) {
        g.channels.remove(&id);
        g.hidden.remove(&id);
    }
    cx.emit("CHANNEL_DELETE", before.clone(), Some(before));
    true
}

/// The bots lose access to a text channel, or regain access to one they lost.
pub(super) fn access(cx: &mut Ctx<'_>) -> bool {
    let hidden: Vec<u64> = cx
        .state
        .guilds
        .get(&cx.guild)
        .map(|g| g.hidden.iter().copied().collect())
        .unwrap_or_default();
    if let Some(c) = cx.pick(&hidden)
        && cx.chance(50)
    {
        reveal(cx, c);
        return true;
    }
    let Some((id, before)) = pick_visible(cx, true) else {
        return false;
    };
    if before["type"].as_u64() != Some(0) {
        return false;
    }
    let mut ch = before.clone();
    let everyone = json!(cx.gid());
    let mut list: Vec<Value> = ch["permission_overwrites"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.retain(|o| o["id"] != everyone);
    list.push(json!({"id": everyone, "type": 0, "allow": "0", "deny": VIEW_CHANNEL.to_string()}));
    ch["permission_overwrites"] = json!(list);
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.hidden.insert(id);
    }
    send_update(cx, id, ch, before);
    true
}

/// The bots regain access to `channel`: CHANNEL_UPDATE, then THREAD_LIST_SYNC.
fn reveal(cx: &mut Ctx<'_>, channel: u64) {
    let Some(before) = cx
        .state
        .guilds
        .get(&cx.guild)
        .and_then(|g| g.channels.get(&channel))
        .cloned()
    else {
        return;
    };
    let mut ch = before.clone();
    let everyone = json!(cx.gid());
    if let Some(list) = ch["permission_overwrites"].as_array_mut() {
        list.retain(|o| o["id"] != everyone);
    }
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.hidden.remove(&channel);
    }
    send_update(cx, channel, ch, before);
    let threads: Vec<Value> = cx
        .state
        .guilds
        .get(&cx.guild)
        .map(|g| {
            g.threads
                .values()
                .filter(|t| parent_of(t) == Some(channel))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let d = json!({
        "guild_id": cx.gid(), "channel_ids": [channel.to_string()], "threads": threads,
        "members": [],
    });
    cx.emit("THREAD_LIST_SYNC", d, None);
}

/// Every channel of the guild the bots lost access to becomes visible again.
pub(super) fn reveal_all(cx: &mut Ctx<'_>) {
    let hidden: Vec<u64> = cx
        .state
        .guilds
        .get(&cx.guild)
        .map(|g| g.hidden.iter().copied().collect())
        .unwrap_or_default();
    for c in hidden {
        reveal(cx, c);
    }
}
