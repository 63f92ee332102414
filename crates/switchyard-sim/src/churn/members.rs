//! Members joining (GUILD_MEMBER_ADD), leaving (GUILD_MEMBER_REMOVE) and updated
//! (GUILD_MEMBER_UPDATE), and users whose own fields change.
//!
//! Rules, from Discord's gateway documentation unless said otherwise:
//! - GUILD_MEMBER_ADD is a member object with its `user` and an extra `guild_id`.
//! - GUILD_MEMBER_UPDATE always carries `guild_id`, `roles`, `user`, `avatar`, `banner` and
//!   `joined_at`; `nick`, `premium_since`, `deaf`, `mute`, `pending`,
//!   `communication_disabled_until` and `flags` are optional: here a field that changed is
//!   always sent, one that did not is sometimes left out (its value stays as it was).
//! - "This will also fire when the user object of a guild member changes": a user whose
//!   name or avatar changes gets one GUILD_MEMBER_UPDATE in each guild it is a member of.
//! - A member who leaves is first disconnected from voice (VOICE_STATE_UPDATE with
//!   `channel_id: null`), and has no presence in the guild any more (a presence is "a user's
//!   current state on a guild"; discord.py drops it on GUILD_MEMBER_REMOVE too), without an
//!   event of its own.

use serde_json::{Value, json};

use super::Ctx;
use super::activity::voice_leave;
use crate::world::User;

/// Members a guild keeps at most (bots aside), under the GUILD_CREATE large threshold's
/// floor of 50, so that every GUILD_CREATE carries every member.
const MAX_MEMBERS: usize = 45;
/// Members a guild keeps at least.
const MIN_MEMBERS: usize = 8;

const NAMES: &[&str] = &[
    "ash", "bea", "cyd", "dot", "eli", "fen", "gus", "hal", "ivy", "jo", "kit", "lou", "max",
    "nia", "oz", "pip", "rae", "sol", "tam", "uma", "vic", "wyn", "xan", "yara", "zed",
];

/// The optional fields of GUILD_MEMBER_UPDATE.
const OPTIONAL: &[&str] = &[
    "nick",
    "premium_since",
    "deaf",
    "mute",
    "pending",
    "communication_disabled_until",
    "flags",
];

/// A user joins: a new one, or (one time in four) one known from another guild.
pub(super) fn join(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    if g.members.len() >= MAX_MEMBERS {
        return false;
    }
    let others: Vec<u64> = cx
        .state
        .users
        .keys()
        .filter(|u| !g.members.contains_key(u))
        .copied()
        .collect();
    let user = match cx.pick(&others) {
        Some(u) if cx.chance(25) => u,
        _ => new_user(cx),
    };
    let pending = cx.chance(30);
    let member = json!({
        "roles": [], "nick": null, "avatar": null, "banner": null,
        "joined_at": cx.state.now(), "premium_since": null, "deaf": false, "mute": false,
        "flags": 0, "pending": pending, "communication_disabled_until": null,
    });
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.members.insert(user, member);
    }
    let Some(mut d) = cx.state.member(cx.guild, user) else {
        return false;
    };
    d["guild_id"] = json!(cx.gid());
    cx.emit("GUILD_MEMBER_ADD", d, None);
    true
}

fn new_user(cx: &mut Ctx<'_>) -> u64 {
    let id = cx.state.next_id();
    let name = cx.pick(NAMES).unwrap_or("user");
    let avatar = cx.chance(70).then(|| super::hash(cx.rng));
    let user = User {
        id,
        username: format!("{name}_{}", id % 100_000),
        global_name: cx.chance(80).then(|| capitalized(name)),
        avatar,
        bot: false,
    };
    cx.state.users.insert(id, user.to_json());
    id
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A member leaves (or is kicked): out of voice first, then GUILD_MEMBER_REMOVE; its
/// presence goes with it. The owner stays.
pub(super) fn leave(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    if g.members.len() <= MIN_MEMBERS {
        return false;
    }
    let owner = g.fields.get("owner_id").cloned().unwrap_or(Value::Null);
    let candidates: Vec<u64> = g
        .members
        .keys()
        .filter(|u| json!(u.to_string()) != owner)
        .copied()
        .collect();
    let Some(user) = cx.pick(&candidates) else {
        return false;
    };
    voice_leave(cx, user);
    let Some(before) = cx.state.member(cx.guild, user) else {
        return false;
    };
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.members.remove(&user);
        g.presences.remove(&user);
    }
    let d = json!({"guild_id": cx.gid(), "user": before["user"]});
    cx.emit("GUILD_MEMBER_REMOVE", d, Some(before));
    true
}

/// A member's own fields change: one to three of nick, roles, guild avatar, timeout,
/// boost, server mute or deafen, membership screening, flags.
pub(super) fn update(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    let ids: Vec<u64> = g.members.keys().copied().collect();
    let roles: Vec<u64> = g
        .roles
        .keys()
        .filter(|r| **r != cx.guild)
        .copied()
        .collect();
    let Some(user) = cx.pick(&ids) else {
        return false;
    };
    let Some(before) = cx.state.member(cx.guild, user) else {
        return false;
    };
    let mut m = before.clone();
    let mut changed: Vec<&str> = Vec::new();
    for _ in 0..1 + cx.rng.below(3) {
        let field = change_one(cx, &mut m, &roles);
        changed.push(field);
    }
    let mut d = json!({
        "guild_id": cx.gid(), "user": m["user"], "roles": m["roles"], "avatar": m["avatar"],
        "banner": m["banner"], "joined_at": m["joined_at"],
    });
    for key in OPTIONAL {
        if changed.contains(key) || cx.chance(70) {
            d[*key] = m[*key].clone();
        }
    }
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild)
        && let (Some(slot), Value::Object(mut fields)) = (g.members.get_mut(&user), m)
    {
        fields.remove("user");
        *slot = Value::Object(fields);
    }
    cx.emit("GUILD_MEMBER_UPDATE", d, Some(before));
    true
}

/// Changes one field of member `m`; returns its name.
fn change_one(cx: &mut Ctx<'_>, m: &mut Value, roles: &[u64]) -> &'static str {
    match cx.rng.below(8) {
        0 => {
            m["nick"] = if m["nick"].is_null() || cx.chance(50) {
                json!(super::words(cx.rng, 2))
            } else {
                Value::Null
            };
            "nick"
        }
        1 | 2 => {
            let mut have: Vec<String> = m["roles"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let missing: Vec<String> = roles
                .iter()
                .map(u64::to_string)
                .filter(|r| !have.contains(r))
                .collect();
            match cx.pick(&missing) {
                Some(r) if have.is_empty() || cx.chance(60) => have.push(r),
                _ if !have.is_empty() => {
                    let at = cx.rng.below(have.len() as u64) as usize;
                    have.remove(at);
                }
                _ => {}
            }
            m["roles"] = json!(have);
            "roles"
        }
        3 => {
            m["avatar"] = if cx.chance(60) {
                json!(super::hash(cx.rng))
            } else {
                Value::Null
            };
            "avatar"
        }
        4 => {
            m["communication_disabled_until"] = if m["communication_disabled_until"].is_null() {
                let until = cx.state.clock_ms + 60_000 * (10 + cx.rng.below(1_440));
                json!(crate::ids::iso8601(until))
            } else {
                Value::Null
            };
            "communication_disabled_until"
        }
        5 => {
            m["premium_since"] = if m["premium_since"].is_null() {
                json!(cx.state.now())
            } else {
                Value::Null
            };
            "premium_since"
        }
        6 => {
            let key = if cx.chance(50) { "deaf" } else { "mute" };
            m[key] = json!(!m[key].as_bool().unwrap_or(false));
            key
        }
        _ => {
            if m["pending"] == json!(true) {
                m["pending"] = json!(false);
                "pending"
            } else {
                // COMPLETED_ONBOARDING (1 << 1) comes and goes with the onboarding
                let flags = m["flags"].as_u64().unwrap_or(0) ^ (1 << 1);
                m["flags"] = json!(flags);
                "flags"
            }
        }
    }
}

/// A user's own name or avatar changes: GUILD_MEMBER_UPDATE (the whole member) in every
/// guild it is a member of. The user is one object on Discord, so after the first event
/// every guild's member shows the new user.
pub(super) fn user_update(cx: &mut Ctx<'_>) -> bool {
    let ids = cx.state.member_ids(cx.guild);
    let Some(user) = cx.pick(&ids) else {
        return false;
    };
    let Some(old_user) = cx.state.users.get(&user).cloned() else {
        return false;
    };
    let mut new_user = old_user.clone();
    match cx.rng.below(3) {
        0 => new_user["global_name"] = json!(capitalized(&super::words(cx.rng, 1))),
        1 => new_user["avatar"] = json!(super::hash(cx.rng)),
        _ => {
            let name = cx.pick(NAMES).unwrap_or("user");
            new_user["username"] = json!(format!("{name}{}", cx.rng.below(10_000)));
        }
    }
    let guilds: Vec<u64> = cx
        .state
        .guilds
        .values()
        .filter(|g| g.members.contains_key(&user))
        .map(|g| g.id)
        .collect();
    let befores: Vec<Option<Value>> = guilds.iter().map(|g| cx.state.member(*g, user)).collect();
    cx.state.users.insert(user, new_user);
    let mut first = true;
    for (guild, before) in guilds.into_iter().zip(befores) {
        if cx.state.guild_unavailable(guild) == Some(true) {
            continue;
        }
        let Some(mut d) = cx.state.member(guild, user) else {
            continue;
        };
        // the first event finds the old user; the later ones the new one, already known
        let before = if first {
            before
        } else {
            cx.state.member(guild, user)
        };
        first = false;
        d["guild_id"] = json!(guild.to_string());
        cx.emit_in(guild, "GUILD_MEMBER_UPDATE", d, before);
    }
    true
}
