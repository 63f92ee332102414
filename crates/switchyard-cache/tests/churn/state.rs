//! Against the fake's own state: after thousands of changes every read of the cache equals
//! the state, and every `old` equals the object as the state held it before the event.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use switchyard_cache::{Id, ShardCache};
use switchyard_sim::LiveState;

use crate::compare::{by_id, json, same, without};

/// Every read the cache offers, for every guild of the state, equals the state.
fn assert_cache_is_state(cache: &ShardCache, state: &LiveState, bot: u64) {
    let mut totals = BTreeMap::<&str, usize>::new();
    let mut users = BTreeSet::from([bot]);
    for g in state.guild_ids() {
        let gid = Id(g);
        let guild = cache.guild(gid).map(json);
        same(&format!("guild {g}"), &json!(guild), &json!(state.guild(g)));
        assert_eq!(
            cache.guild_unavailable(gid),
            state.guild_unavailable(g),
            "guild {g}: outage"
        );

        let channels = by_id(cache.guild_channels(gid).into_iter().map(json).collect());
        same(
            &format!("guild {g}: channels"),
            &json!(channels),
            &json!(by_id(state.channels(g))),
        );
        for ch in state.channels(g) {
            let id = crate::compare::id(&ch["id"]);
            same(
                &format!("channel {id}"),
                &json!(cache.channel(Id(id)).map(json)),
                &ch,
            );
            let messages: Vec<Value> = cache.messages(Id(id)).into_iter().map(json).collect();
            same(
                &format!("channel {id}: messages"),
                &json!(messages),
                &json!(state.messages(id)),
            );
            *totals.entry("messages").or_default() += messages.len();
        }
        *totals.entry("channels").or_default() += channels.len();

        let roles = by_id(cache.guild_roles(gid).into_iter().map(json).collect());
        same(
            &format!("guild {g}: roles"),
            &json!(roles),
            &json!(by_id(state.roles(g))),
        );
        for role in state.roles(g) {
            let id = crate::compare::id(&role["id"]);
            same(
                &format!("role {id}"),
                &json!(cache.role(gid, Id(id)).map(json)),
                &role,
            );
        }
        *totals.entry("roles").or_default() += roles.len();

        for user in state.member_ids(g) {
            let got = cache.member(gid, Id(user)).map(|m| json(&m));
            let want = state.member(g, user);
            same(
                &format!("guild {g}: member {user}"),
                &json!(got),
                &json!(want),
            );
            let presence = cache.presence(gid, Id(user)).as_deref().map(json);
            same(
                &format!("guild {g}: presence of {user}"),
                &json!(presence),
                &json!(state.presence(g, user)),
            );
            let voice = cache
                .voice_state(gid, Id(user))
                .map(|v| without(&json(v), "member"));
            same(
                &format!("guild {g}: voice state of {user}"),
                &json!(voice),
                &json!(state.voice_state(g, user)),
            );
            users.insert(user);
        }
        assert!(
            cache.member(gid, Id(bot)).is_some(),
            "guild {g}: the bot's own member"
        );
        *totals.entry("members").or_default() += state.member_ids(g).len() + 1;
        *totals.entry("presences").or_default() += state.presence_ids(g).len();
        *totals.entry("voice_states").or_default() += state.voice_ids(g).len();

        same(
            &format!("guild {g}: emojis"),
            &json!(cache.emojis(gid).map(json)),
            &json!(state.emojis(g)),
        );
        same(
            &format!("guild {g}: stickers"),
            &json!(cache.stickers(gid).map(json)),
            &json!(state.stickers(g)),
        );
    }
    // nothing more than the state: no channel, message, member or presence left behind
    let counts = cache.counts();
    let got = [
        ("guilds", counts.guilds),
        ("unavailable_guilds", counts.unavailable_guilds),
        ("channels", counts.channels),
        ("roles", counts.roles),
        ("members", counts.members),
        ("users", counts.users),
        ("presences", counts.presences),
        ("voice_states", counts.voice_states),
        ("messages", counts.messages),
    ];
    let want = [
        ("guilds", state.guild_ids().len()),
        ("unavailable_guilds", 0),
        ("channels", totals["channels"]),
        ("roles", totals["roles"]),
        ("members", totals["members"]),
        ("users", users.len()),
        ("presences", totals["presences"]),
        ("voice_states", totals["voice_states"]),
        ("messages", totals["messages"]),
    ];
    assert_eq!(got, want, "counts: cache (left) and state (right)");
}

#[test]
fn after_thousands_of_changes_every_read_equals_the_fakes_state() {
    let mut churn = crate::churn(11);
    let mut cache = crate::cache();
    for (at, (name, d)) in crate::start(&churn).iter().enumerate() {
        crate::apply(&mut cache, at, name, d);
    }
    assert_cache_is_state(&cache, churn.state(), crate::bot().id);
    let events = crate::stream(&mut churn);
    let names: BTreeSet<&str> = events.iter().map(|e| e.name).collect();
    assert!(names.len() >= 25, "a varied stream: {names:?}");
    for (at, ev) in events.iter().enumerate() {
        crate::apply(&mut cache, at, ev.name, &ev.d);
    }
    assert_cache_is_state(&cache, churn.state(), crate::bot().id);
}

/// What an event's `old` is compared on: members reduced to what the cache keeps, voice
/// states without the `member` a VOICE_STATE_UPDATE carries.
fn comparable(name: &str, v: Option<Value>) -> Option<Value> {
    let v = v?;
    Some(match name {
        "VOICE_STATE_UPDATE" => without(&v, "member"),
        _ => v,
    })
}

#[test]
fn every_old_is_the_state_before_the_event() {
    let mut churn = crate::churn(12);
    let mut cache = crate::cache();
    for (at, (name, d)) in crate::start(&churn).iter().enumerate() {
        crate::apply(&mut cache, at, name, d);
    }
    let events = crate::stream(&mut churn);
    let mut checked = BTreeMap::<&str, usize>::new();
    for (at, ev) in events.iter().enumerate() {
        let old = crate::apply(&mut cache, at, ev.name, &ev.d);
        if !cache.wants(ev.name) {
            continue; // not read by the cache (yet): stage instances, scheduled events
        }
        let got = comparable(ev.name, old);
        let want = comparable(ev.name, ev.before.clone());
        same(
            &format!("event #{at} {}: old", ev.name),
            &json!(got),
            &json!(want),
        );
        if want.is_some() {
            *checked.entry(ev.name).or_default() += 1;
        }
    }
    for name in [
        "GUILD_UPDATE",
        "GUILD_DELETE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "THREAD_UPDATE",
        "THREAD_DELETE",
        "GUILD_ROLE_UPDATE",
        "GUILD_ROLE_DELETE",
        "GUILD_MEMBER_UPDATE",
        "GUILD_MEMBER_REMOVE",
        "PRESENCE_UPDATE",
        "VOICE_STATE_UPDATE",
        "MESSAGE_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_DELETE_BULK",
        "GUILD_EMOJIS_UPDATE",
        "GUILD_STICKERS_UPDATE",
    ] {
        assert!(
            checked.get(name).copied().unwrap_or(0) > 0,
            "no {name} with an old was checked: {checked:?}"
        );
    }
}
