//! Threads created, updated and deleted (THREAD_CREATE, THREAD_UPDATE, THREAD_DELETE).
//!
//! Rules, from Discord's gateway documentation:
//! - THREAD_CREATE is the thread's channel object, with an extra `newly_created: true` when
//!   the thread was just created (the field belongs to the event, not to the thread).
//! - THREAD_UPDATE is the whole channel object.
//! - THREAD_DELETE carries only `id`, `guild_id`, `parent_id` and `type`; the thread's
//!   messages go with it.
//! - In a channel the bots cannot view, threads come and go unseen (no event); the
//!   THREAD_LIST_SYNC that ends the access loss shows the result (see `channels`).
//!
//! Threads here stay active (not archived), so that GUILD_CREATE, which lists only active
//! threads, lists every thread of the state; `message_count` and `total_message_sent` are
//! left out (optional fields that Discord updates without an event).

use serde_json::json;

use super::Ctx;
use super::state::parent_of;

/// Active threads a guild keeps at most.
const MAX_THREADS: usize = 8;

/// A new public thread in a text channel, by one of the members.
pub(super) fn create(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    if g.threads.len() >= MAX_THREADS {
        return false;
    }
    let parents: Vec<u64> = g
        .channels
        .iter()
        .filter(|(_, c)| c["type"].as_u64() == Some(0))
        .map(|(id, _)| *id)
        .collect();
    let members: Vec<u64> = g.members.keys().copied().collect();
    let hidden_channels = g.hidden.clone();
    let (Some(parent), Some(owner)) = (cx.pick(&parents), cx.pick(&members)) else {
        return false;
    };
    let hidden = hidden_channels.contains(&parent);
    let id = cx.state.next_id();
    let now = cx.state.now();
    let thread = json!({
        "id": id.to_string(), "guild_id": cx.gid(), "parent_id": parent.to_string(),
        "owner_id": owner.to_string(), "type": 11, "name": super::words(cx.rng, 3),
        "last_message_id": null, "rate_limit_per_user": 0, "flags": 0, "member_count": 1,
        "thread_metadata": {
            "archived": false, "auto_archive_duration": 1440, "archive_timestamp": now,
            "locked": false, "create_timestamp": now,
        },
    });
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.threads.insert(id, thread.clone());
    }
    if !hidden {
        let mut d = thread;
        d["newly_created"] = json!(true);
        cx.emit("THREAD_CREATE", d, None);
    }
    true
}

/// A thread of a visible channel gets another name, slowmode, lock or archive duration.
pub(super) fn update(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    let ids: Vec<u64> = g
        .threads
        .iter()
        .filter(|(_, t)| !parent_of(t).is_some_and(|p| g.hidden.contains(&p)))
        .map(|(id, _)| *id)
        .collect();
    let Some(id) = cx.pick(&ids) else {
        return false;
    };
    let Some(before) = cx
        .state
        .guilds
        .get(&cx.guild)
        .and_then(|g| g.threads.get(&id))
        .cloned()
    else {
        return false;
    };
    let mut t = before.clone();
    match cx.rng.below(4) {
        0 => t["name"] = json!(super::words(cx.rng, 3)),
        1 => t["rate_limit_per_user"] = json!(cx.pick(&[0, 10, 60]).unwrap_or(0)),
        2 => {
            let locked = !t["thread_metadata"]["locked"].as_bool().unwrap_or(false);
            t["thread_metadata"]["locked"] = json!(locked);
        }
        _ => {
            let d = cx.pick(&[60, 1440, 4320, 10080]).unwrap_or(1440);
            t["thread_metadata"]["auto_archive_duration"] = json!(d);
        }
    }
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.threads.insert(id, t.clone());
    }
    cx.emit("THREAD_UPDATE", t, Some(before));
    true
}

/// A thread is deleted with its messages (unseen in a channel the bots cannot view).
pub(super) fn delete(cx: &mut Ctx<'_>) -> bool {
    let ids = cx
        .state
        .guilds
        .get(&cx.guild)
        .map(|g| g.threads.keys().copied().collect::<Vec<_>>())
        .unwrap_or_default();
    let Some(id) = cx.pick(&ids) else {
        return false;
    };
    let Some(g) = cx.state.guilds.get_mut(&cx.guild) else {
        return false;
    };
    let Some(before) = g.threads.remove(&id) else {
        return false;
    };
    let hidden = parent_of(&before).is_some_and(|p| g.hidden.contains(&p));
    cx.state.messages.remove(&id);
    if !hidden {
        let d = json!({
            "id": before["id"], "guild_id": before["guild_id"],
            "parent_id": before["parent_id"], "type": before["type"],
        });
        cx.emit("THREAD_DELETE", d, Some(before));
    }
    true
}
