//! Stage instances (STAGE_INSTANCE_CREATE/UPDATE/DELETE) and scheduled events
//! (GUILD_SCHEDULED_EVENT_CREATE/UPDATE/DELETE).
//!
//! Rules, from Discord's gateway documentation: every one of these events is the whole
//! object (a stage instance, a guild scheduled event), deletes included. A stage instance
//! lives in a stage channel (type 13), one at a time; it ends with its channel (see
//! `channels`). Scheduled events here are external ones (`entity_type` 3, with a
//! `location` and an end time, no channel), so that no channel deletion concerns them, and
//! carry their `creator_id` without the optional `creator` user (a copy that would go stale
//! when the user changes).

use serde_json::json;

use super::Ctx;

/// Scheduled events a guild keeps at most.
const MAX_EVENTS: usize = 4;

/// A stage goes live, changes its topic, or ends.
pub(super) fn stage_instance(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    let stages: Vec<u64> = g
        .channels
        .iter()
        .filter(|(_, c)| c["type"].as_u64() == Some(13))
        .map(|(id, _)| *id)
        .collect();
    let live: Vec<u64> = g.stage_instances.keys().copied().collect();
    let idle: Vec<u64> = stages
        .into_iter()
        .filter(|c| {
            !g.stage_instances
                .values()
                .any(|s| s["channel_id"] == json!(c.to_string()))
        })
        .collect();
    if let Some(channel) = cx.pick(&idle)
        && (live.is_empty() || cx.chance(40))
    {
        let id = cx.state.next_id();
        let instance = json!({
            "id": id.to_string(), "guild_id": cx.gid(), "channel_id": channel.to_string(),
            "topic": super::words(cx.rng, 3), "privacy_level": 2,
            "discoverable_disabled": false, "guild_scheduled_event_id": null,
        });
        if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
            g.stage_instances.insert(id, instance.clone());
        }
        cx.emit("STAGE_INSTANCE_CREATE", instance, None);
        return true;
    }
    let Some(id) = cx.pick(&live) else {
        return false;
    };
    let Some(g) = cx.state.guilds.get_mut(&cx.guild) else {
        return false;
    };
    let Some(before) = g.stage_instances.get(&id).cloned() else {
        return false;
    };
    if cx.rng.below(2) == 0 {
        g.stage_instances.remove(&id);
        cx.emit("STAGE_INSTANCE_DELETE", before.clone(), Some(before));
    } else {
        let mut instance = before.clone();
        instance["topic"] = json!(super::words(cx.rng, 3));
        g.stage_instances.insert(id, instance.clone());
        cx.emit("STAGE_INSTANCE_UPDATE", instance, Some(before));
    }
    true
}

/// A scheduled event is created, renamed, started or completed, or deleted.
pub(super) fn scheduled_event(cx: &mut Ctx<'_>) -> bool {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return false;
    };
    let events: Vec<u64> = g.scheduled_events.keys().copied().collect();
    let members: Vec<u64> = g.members.keys().copied().collect();
    if events.len() < MAX_EVENTS && (events.is_empty() || cx.chance(40)) {
        let Some(creator) = cx.pick(&members) else {
            return false;
        };
        let id = cx.state.next_id();
        let start = cx.state.clock_ms + 3_600_000 * (1 + cx.rng.below(72));
        let event = json!({
            "id": id.to_string(), "guild_id": cx.gid(), "channel_id": null,
            "creator_id": creator.to_string(), "name": super::words(cx.rng, 3),
            "description": super::words(cx.rng, 8),
            "scheduled_start_time": crate::ids::iso8601(start),
            "scheduled_end_time": crate::ids::iso8601(start + 7_200_000),
            "privacy_level": 2, "status": 1, "entity_type": 3, "entity_id": null,
            "entity_metadata": {"location": "https://example.invalid/meetup"},
            "user_count": 0, "image": null, "recurrence_rule": null,
        });
        if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
            g.scheduled_events.insert(id, event.clone());
        }
        cx.emit("GUILD_SCHEDULED_EVENT_CREATE", event, None);
        return true;
    }
    let Some(id) = cx.pick(&events) else {
        return false;
    };
    let Some(g) = cx.state.guilds.get_mut(&cx.guild) else {
        return false;
    };
    let Some(before) = g.scheduled_events.get(&id).cloned() else {
        return false;
    };
    if cx.rng.below(3) == 0 {
        g.scheduled_events.remove(&id);
        cx.emit("GUILD_SCHEDULED_EVENT_DELETE", before.clone(), Some(before));
        return true;
    }
    let mut event = before.clone();
    match event["status"].as_u64() {
        // scheduled → active → completed, as Discord moves them
        Some(1) if cx.rng.below(2) == 0 => event["status"] = json!(2),
        Some(2) => event["status"] = json!(3),
        _ => event["name"] = json!(super::words(cx.rng, 3)),
    }
    g.scheduled_events.insert(id, event.clone());
    cx.emit("GUILD_SCHEDULED_EVENT_UPDATE", event, Some(before));
    true
}
