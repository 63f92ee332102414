//! Roles created, updated and deleted (GUILD_ROLE_CREATE, GUILD_ROLE_UPDATE,
//! GUILD_ROLE_DELETE).
//!
//! Rules:
//! - GUILD_ROLE_CREATE and GUILD_ROLE_UPDATE carry `guild_id` and the whole `role`;
//!   GUILD_ROLE_DELETE carries `guild_id` and `role_id` only (Discord's gateway docs).
//! - A deleted role is gone from every member's role list, with no GUILD_MEMBER_UPDATE for
//!   them (what REST then answers for a member; a client must drop the role itself).
//! - Permission overwrites of a deleted role may stay on channels ("CHANNEL_UPDATE may
//!   reference roles or guild members that no longer exist"): they are left as they are.
//! - @everyone (the role whose id is the guild's) is never deleted and keeps VIEW_CHANNEL,
//!   which the bots' view of every channel rests on.

use serde_json::json;

use super::Ctx;

/// Roles a guild keeps at most, @everyone included.
const MAX_ROLES: usize = 12;

/// VIEW_CHANNEL.
pub(super) const VIEW_CHANNEL: u64 = 1 << 10;

/// Permission sets roles are given, besides VIEW_CHANNEL for @everyone.
const PERMISSIONS: &[u64] = &[
    0,
    VIEW_CHANNEL | (1 << 11) | (1 << 16), // view, send, read history
    (1 << 13) | (1 << 40),                // manage messages, moderate members
    1 << 3,                               // administrator
    (1 << 4) | (1 << 28),                 // manage channels and roles
    (1 << 20) | (1 << 21) | (1 << 25),    // voice
    VIEW_CHANNEL | (1 << 6) | (1 << 14) | (1 << 15), // reactions, embeds, files
];

const NAMES: &[&str] = &[
    "mods", "artists", "raiders", "helpers", "vip", "bots", "regulars",
];

/// A new role, below the others.
pub(super) fn create(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    if g.roles.len() >= MAX_ROLES {
        return false;
    }
    let position = g
        .roles
        .values()
        .filter_map(|r| r["position"].as_u64())
        .max()
        .unwrap_or(0)
        + 1;
    let id = cx.state.next_id();
    let color = cx.rng.below(0x100_0000);
    let name = cx.pick(NAMES).unwrap_or("role");
    let permissions = cx.pick(PERMISSIONS).unwrap_or(0);
    let role = json!({
        "id": id.to_string(), "name": name, "color": color,
        "colors": {"primary_color": color, "secondary_color": null, "tertiary_color": null},
        "hoist": cx.chance(30), "icon": null, "unicode_emoji": null, "position": position,
        "permissions": permissions.to_string(), "managed": false,
        "mentionable": cx.chance(50), "flags": 0, "description": null,
    });
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.roles.insert(id, role.clone());
    }
    cx.emit(
        "GUILD_ROLE_CREATE",
        json!({"guild_id": cx.gid(), "role": role}),
        None,
    );
    true
}

/// A role's name, colour, hoist, mentionability or permissions change.
pub(super) fn update(cx: &mut Ctx<'_>) -> bool {
    let ids: Vec<u64> = cx
        .state
        .guilds
        .get(&cx.guild)
        .map(|g| g.roles.keys().copied().collect())
        .unwrap_or_default();
    let Some(id) = cx.pick(&ids) else {
        return false;
    };
    let Some(before) = cx.state.role(cx.guild, id) else {
        return false;
    };
    let mut role = before.clone();
    let everyone = id == cx.guild;
    match cx.rng.below(4) {
        0 if !everyone => {
            role["name"] = json!(format!(
                "{} {}",
                cx.pick(NAMES).unwrap_or("role"),
                cx.rng.below(100)
            ));
        }
        1 if !everyone => {
            let color = cx.rng.below(0x100_0000);
            role["color"] = json!(color);
            role["colors"]["primary_color"] = json!(color);
        }
        2 if !everyone => {
            let key = if cx.chance(50) {
                "hoist"
            } else {
                "mentionable"
            };
            role[key] = json!(!role[key].as_bool().unwrap_or(false));
        }
        _ => {
            let mut permissions = cx.pick(PERMISSIONS).unwrap_or(0);
            if everyone {
                permissions |= VIEW_CHANNEL;
            }
            role["permissions"] = json!(permissions.to_string());
        }
    }
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.roles.insert(id, role.clone());
    }
    cx.emit(
        "GUILD_ROLE_UPDATE",
        json!({"guild_id": cx.gid(), "role": role}),
        Some(before),
    );
    true
}

/// A role is deleted, and leaves every member's role list.
pub(super) fn delete(cx: &mut Ctx<'_>) -> bool {
    let guild = cx.guild;
    let ids: Vec<u64> = cx
        .state
        .guilds
        .get(&guild)
        .map(|g| g.roles.keys().filter(|r| **r != guild).copied().collect())
        .unwrap_or_default();
    if ids.len() < 2 {
        return false;
    }
    let Some(id) = cx.pick(&ids) else {
        return false;
    };
    let Some(g) = cx.state.guilds.get_mut(&guild) else {
        return false;
    };
    let Some(before) = g.roles.remove(&id) else {
        return false;
    };
    let gone = json!(id.to_string());
    for m in g.members.values_mut() {
        if let Some(roles) = m["roles"].as_array_mut() {
            roles.retain(|r| *r != gone);
        }
    }
    cx.emit(
        "GUILD_ROLE_DELETE",
        json!({"guild_id": cx.gid(), "role_id": id.to_string()}),
        Some(before),
    );
    true
}
