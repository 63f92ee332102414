//! What changed in one guild between two GUILD_CREATE-shaped objects (the state the cache
//! held before a new session, and the new session's GUILD_CREATE), told as the update events
//! Discord would have sent meanwhile, each with the object as it was (`old`); and what the
//! new GUILD_CREATE cannot tell (threads that are no longer active, members of a large guild
//! that it does not list).

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::id::Id;
use crate::shard::{GUILD_LISTS, to_raw};

/// An event the cache made up to tell a change it found, not one Discord sent.
#[derive(Debug)]
pub struct Synthesized {
    /// The event name, one of Discord's.
    pub event: &'static str,
    /// Its payload, in Discord's shape for that event.
    pub data: Box<RawValue>,
    /// The object as the cache held it before, when it did.
    pub old: Option<Box<RawValue>>,
}

/// Fields of a GUILD_CREATE that are not the guild object's (a GUILD_UPDATE lacks them):
/// like its lists ([`GUILD_LISTS`]), they make no GUILD_UPDATE.
const NOT_OWN: &[&str] = &["joined_at", "large", "member_count", "unavailable", "lazy"];

/// What comparing two states of a guild found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The events that tell the difference, in a fixed order.
    pub events: Vec<Synthesized>,
    /// Threads held before and not in the new GUILD_CREATE (it lists the active ones only):
    /// archived or deleted, which cannot be known.
    pub threads_gone: Vec<Id>,
    /// Members held before and not in the new GUILD_CREATE of a large guild (which lists
    /// only some): left or not, which cannot be known.
    pub members_unverified: u64,
}

impl Found {
    fn push(&mut self, event: &'static str, data: Value, old: Option<&Value>) {
        if let Some(data) = to_raw(&data) {
            self.events.push(Synthesized {
                event,
                data,
                old: old.and_then(to_raw),
            });
        }
    }
}

/// Compares `prev` and `new`, two states of the guild `id` in GUILD_CREATE's shape as the
/// cache writes them (channels and voice states without their `guild_id`).
pub(crate) fn guild(id: Id, prev: &Value, new: &Value) -> Found {
    let mut found = Found::default();
    let gid = Value::String(id.to_string());
    own_fields(&mut found, prev, new);
    roles(&mut found, &gid, prev, new);
    channels(&mut found, &gid, prev, new);
    members(&mut found, &gid, prev, new);
    presences(&mut found, &gid, prev, new);
    voice_states(&mut found, &gid, prev, new);
    for (key, event) in [
        ("emojis", "GUILD_EMOJIS_UPDATE"),
        ("stickers", "GUILD_STICKERS_UPDATE"),
    ] {
        let (before, after) = (&prev[key], &new[key]);
        if before != after {
            found.push(event, json!({"guild_id": gid, key: after}), Some(before));
        }
    }
    found
}

/// GUILD_UPDATE: the guild object (its own fields with its roles, emojis and stickers); `old`
/// is the guild's own fields as the cache held them.
fn own_fields(found: &mut Found, prev: &Value, new: &Value) {
    let own = |v: &Value| -> Map<String, Value> {
        let mut o = v.as_object().cloned().unwrap_or_default();
        o.retain(|k, _| !NOT_OWN.contains(&k.as_str()) && !GUILD_LISTS.contains(&k.as_str()));
        o
    };
    let (before, after) = (own(prev), own(new));
    if before == after {
        return;
    }
    let mut data = after;
    for key in ["roles", "emojis", "stickers"] {
        data.insert(key.to_owned(), new[key].clone());
    }
    let mut old = prev.as_object().cloned().unwrap_or_default();
    old.retain(|k, _| !GUILD_LISTS.contains(&k.as_str()));
    found.push(
        "GUILD_UPDATE",
        Value::Object(data),
        Some(&Value::Object(old)),
    );
}

fn roles(found: &mut Found, gid: &Value, prev: &Value, new: &Value) {
    let (before, after) = (by_id(&prev["roles"], "/id"), by_id(&new["roles"], "/id"));
    for (id, role) in &after {
        match before.get(id) {
            None => found.push(
                "GUILD_ROLE_CREATE",
                json!({"guild_id": gid, "role": role}),
                None,
            ),
            Some(old) if old != role => found.push(
                "GUILD_ROLE_UPDATE",
                json!({"guild_id": gid, "role": role}),
                Some(old),
            ),
            Some(_) => {}
        }
    }
    for (id, old) in &before {
        if !after.contains_key(id) {
            let data = json!({"guild_id": gid, "role_id": id.to_string()});
            found.push("GUILD_ROLE_DELETE", data, Some(old));
        }
    }
}

fn channels(found: &mut Found, gid: &Value, prev: &Value, new: &Value) {
    let with_guild = |c: &Value| {
        let mut c = c.clone();
        if let Value::Object(o) = &mut c {
            o.insert("guild_id".into(), gid.clone());
        }
        c
    };
    let (before, after) = (
        by_id(&prev["channels"], "/id"),
        by_id(&new["channels"], "/id"),
    );
    for (id, channel) in &after {
        match before.get(id) {
            None => found.push("CHANNEL_CREATE", with_guild(channel), None),
            Some(old) if old != channel => found.push(
                "CHANNEL_UPDATE",
                with_guild(channel),
                Some(&with_guild(old)),
            ),
            Some(_) => {}
        }
    }
    for (id, old) in &before {
        if !after.contains_key(id) {
            let old = with_guild(old);
            found.push("CHANNEL_DELETE", old.clone(), Some(&old));
        }
    }
    let (before, after) = (
        by_id(&prev["threads"], "/id"),
        by_id(&new["threads"], "/id"),
    );
    for (id, thread) in &after {
        match before.get(id) {
            None => found.push("THREAD_CREATE", with_guild(thread), None),
            Some(old) if old != thread => {
                found.push("THREAD_UPDATE", with_guild(thread), Some(&with_guild(old)));
            }
            Some(_) => {}
        }
    }
    found.threads_gone.extend(
        before
            .keys()
            .filter(|id| !after.contains_key(id))
            .map(|id| Id(*id)),
    );
}

/// Whether a GUILD_CREATE lists every member of its guild (Discord lists only some of a
/// guild above `large_threshold`).
fn all_members(guild: &Value) -> bool {
    let listed = guild["members"].as_array().map_or(0, Vec::len) as u64;
    guild["large"] != Value::Bool(true)
        && guild["member_count"]
            .as_u64()
            .is_none_or(|count| count <= listed)
}

fn members(found: &mut Found, gid: &Value, prev: &Value, new: &Value) {
    let with_guild = |m: &Value| {
        let mut m = m.clone();
        if let Value::Object(o) = &mut m {
            o.insert("guild_id".into(), gid.clone());
        }
        m
    };
    let (before, after) = (
        by_id(&prev["members"], "/user/id"),
        by_id(&new["members"], "/user/id"),
    );
    let (had_all, has_all) = (all_members(prev), all_members(new));
    for (id, member) in &after {
        match before.get(id) {
            // Joined meanwhile, unless the old list may just not have had them.
            None if had_all => found.push("GUILD_MEMBER_ADD", with_guild(member), None),
            None => {}
            Some(old) if old != member => {
                found.push("GUILD_MEMBER_UPDATE", with_guild(member), Some(old));
            }
            Some(_) => {}
        }
    }
    for (id, old) in &before {
        if after.contains_key(id) {
            continue;
        }
        if has_all {
            let data = json!({"guild_id": gid, "user": old["user"]});
            found.push("GUILD_MEMBER_REMOVE", data, Some(old));
        } else {
            found.members_unverified += 1;
        }
    }
}

/// PRESENCE_UPDATE; a member no longer in the list went offline (GUILD_CREATE lists no
/// offline presences).
fn presences(found: &mut Found, gid: &Value, prev: &Value, new: &Value) {
    let bare = |p: &Value| {
        let mut p = p.clone();
        if let Value::Object(o) = &mut p {
            o.remove("guild_id");
        }
        p
    };
    let with_guild = |p: &Value| {
        let mut p = p.clone();
        if let Value::Object(o) = &mut p {
            o.insert("guild_id".into(), gid.clone());
        }
        p
    };
    let (before, after) = (
        by_id(&prev["presences"], "/user/id"),
        by_id(&new["presences"], "/user/id"),
    );
    for (id, presence) in &after {
        let changed = before.get(id).is_none_or(|old| bare(old) != bare(presence));
        if changed {
            found.push(
                "PRESENCE_UPDATE",
                with_guild(presence),
                before.get(id).copied(),
            );
        }
    }
    for (id, old) in &before {
        if !after.contains_key(id) {
            let data = json!({
                "user": {"id": id.to_string()}, "guild_id": gid, "status": "offline",
                "activities": [], "client_status": {},
            });
            found.push("PRESENCE_UPDATE", data, Some(old));
        }
    }
}

/// VOICE_STATE_UPDATE; a user no longer in the list left voice (`channel_id` null).
fn voice_states(found: &mut Found, gid: &Value, prev: &Value, new: &Value) {
    let with_guild = |v: &Value| {
        let mut v = v.clone();
        if let Value::Object(o) = &mut v {
            o.insert("guild_id".into(), gid.clone());
        }
        v
    };
    let (before, after) = (
        by_id(&prev["voice_states"], "/user_id"),
        by_id(&new["voice_states"], "/user_id"),
    );
    for (id, state) in &after {
        let old = before.get(id).map(|v| with_guild(v));
        if old.as_ref() != Some(&with_guild(state)) {
            found.push("VOICE_STATE_UPDATE", with_guild(state), old.as_ref());
        }
    }
    for (id, old) in &before {
        if !after.contains_key(id) {
            let old = with_guild(old);
            let mut data = old.clone();
            data["channel_id"] = Value::Null;
            found.push("VOICE_STATE_UPDATE", data, Some(&old));
        }
    }
}

/// The objects of a list by the snowflake at `pointer`, in id order.
fn by_id<'a>(list: &'a Value, pointer: &str) -> BTreeMap<u64, &'a Value> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let id = match item.pointer(pointer)? {
                        Value::String(s) => s.parse().ok()?,
                        Value::Number(n) => n.as_u64()?,
                        _ => return None,
                    };
                    Some((id, item))
                })
                .collect()
        })
        .unwrap_or_default()
}
