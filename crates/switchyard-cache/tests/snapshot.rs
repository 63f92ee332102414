//! Snapshots: every read of a cache restored from a snapshot equals the read of the cache it
//! was taken from, and a guild comes out as Discord's GUILD_CREATE would carry it.

use serde_json::{Value, json};
use switchyard_cache::{CacheConfig, CacheError, Id, Position, Rebuild, ShardCache};

fn apply(cache: &mut ShardCache, event: &str, d: Value) {
    cache
        .apply(event, &d.to_string())
        .unwrap_or_else(|e| panic!("{event}: {e}"));
}

fn user(id: u64, name: &str) -> Value {
    json!({"id": id.to_string(), "username": name, "global_name": null, "discriminator": "0", "avatar": null})
}

fn member(id: u64, name: &str, roles: &[u64]) -> Value {
    json!({
        "user": user(id, name), "nick": null, "avatar": null,
        "roles": roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "joined_at": "2021-01-01T00:00:00+00:00", "premium_since": null, "deaf": false,
        "mute": false, "flags": 0, "pending": false, "communication_disabled_until": null,
    })
}

/// A guild with two channels, a thread, two roles, members (user 10 is in every guild),
/// emojis, stickers, a presence and a voice state.
fn guild_create(id: u64) -> Value {
    let (c, t, r) = (id * 100, id * 100 + 9, id * 10);
    json!({
        "id": id.to_string(), "name": format!("guild {id}"), "owner_id": "10", "icon": null,
        "joined_at": "2020-01-01T00:00:00+00:00", "large": false, "unavailable": false,
        "member_count": 3, "features": ["COMMUNITY"],
        "channels": [
            {"id": c.to_string(), "type": 0, "name": "general", "position": 0,
             "permission_overwrites": [{"id": r.to_string(), "type": 0, "allow": "1024", "deny": "0"}]},
            {"id": (c + 1).to_string(), "type": 2, "name": "voice", "position": 1, "bitrate": 64000},
        ],
        "threads": [{"id": t.to_string(), "type": 11, "name": "a thread", "parent_id": c.to_string(),
                     "guild_id": id.to_string(), "thread_metadata": {"archived": false}}],
        "roles": [
            {"id": id.to_string(), "name": "@everyone", "permissions": "1024", "position": 0, "color": 0},
            {"id": r.to_string(), "name": "mods", "permissions": "8", "position": 1, "color": 255},
        ],
        "members": [member(10, "owner", &[]), member(id * 1000, "a", &[r]), member(id * 1000 + 1, "b", &[])],
        "presences": [{"user": {"id": "10"}, "status": "online", "activities": [], "client_status": {"desktop": "online"}}],
        "voice_states": [{"user_id": (id * 1000).to_string(), "channel_id": (c + 1).to_string(),
                          "session_id": "s", "deaf": false, "mute": false, "self_deaf": false,
                          "self_mute": true, "self_video": false, "suppress": false,
                          "request_to_speak_timestamp": null}],
        "emojis": [{"id": "77", "name": "blob", "roles": [], "animated": false}],
        "stickers": [{"id": "88", "name": "wave", "format_type": 1}],
        "stage_instances": [{"id": (id * 10 + 7).to_string(), "guild_id": id.to_string(),
                             "channel_id": (c + 1).to_string(), "topic": "talk", "privacy_level": 2}],
        "guild_scheduled_events": [{"id": (id * 10 + 8).to_string(), "guild_id": id.to_string(),
                                    "name": "meet", "status": 1, "entity_type": 2,
                                    "channel_id": (c + 1).to_string()}],
        "soundboard_sounds": [],
    })
}

/// A cache that has seen a bit of everything: three guilds (one of them in an outage with
/// its state kept, one READY named and nothing filled), updates, messages, a DM.
fn busy_cache() -> ShardCache {
    let mut c = ShardCache::new(CacheConfig::all());
    apply(
        &mut c,
        "READY",
        json!({"user": {"id": "1", "username": "bot", "discriminator": "0", "avatar": null, "bot": true},
               "guilds": [{"id": "2", "unavailable": true}, {"id": "3", "unavailable": true},
                          {"id": "4", "unavailable": true}, {"id": "5", "unavailable": true}]}),
    );
    for g in [2, 3, 4] {
        apply(&mut c, "GUILD_CREATE", guild_create(g));
    }
    apply(
        &mut c,
        "GUILD_UPDATE",
        json!({"id": "3", "name": "renamed", "owner_id": "10", "icon": null, "features": [],
               "roles": guild_create(3)["roles"]}),
    );
    apply(
        &mut c,
        "CHANNEL_CREATE",
        json!({"id": "250", "guild_id": "2", "type": 0, "name": "new", "position": 2}),
    );
    apply(
        &mut c,
        "THREAD_CREATE",
        json!({"id": "251", "guild_id": "2", "parent_id": "200", "type": 12, "name": "private"}),
    );
    apply(
        &mut c,
        "GUILD_MEMBER_UPDATE",
        json!({"guild_id": "2", "user": user(2000, "a"), "roles": [], "nick": "A!"}),
    );
    apply(
        &mut c,
        "GUILD_MEMBER_ADD",
        json!({"guild_id": "3", "user": user(2000, "a"), "roles": [], "joined_at": "2024-01-01T00:00:00+00:00", "deaf": false, "mute": false}),
    );
    apply(
        &mut c,
        "PRESENCE_UPDATE",
        json!({"user": {"id": "2000"}, "guild_id": "2", "status": "idle", "activities": [{"name": "x", "type": 0}], "client_status": {"mobile": "idle"}}),
    );
    apply(
        &mut c,
        "VOICE_STATE_UPDATE",
        json!({"guild_id": "2", "channel_id": "201", "user_id": "10", "session_id": "t", "deaf": false, "mute": false,
               "self_deaf": false, "self_mute": false, "self_video": false, "suppress": false, "request_to_speak_timestamp": null}),
    );
    apply(
        &mut c,
        "GUILD_EMOJIS_UPDATE",
        json!({"guild_id": "3", "emojis": []}),
    );
    for (i, channel) in [200, 200, 200, 251, 300].iter().enumerate() {
        apply(
            &mut c,
            "MESSAGE_CREATE",
            json!({"id": (9000 + i).to_string(), "channel_id": channel.to_string(), "guild_id": "2",
                   "author": user(10, "owner"), "content": format!("message {i}"), "embeds": []}),
        );
    }
    apply(
        &mut c,
        "MESSAGE_UPDATE",
        json!({"id": "9001", "channel_id": "200", "content": "edited", "edited_timestamp": "2024-01-01T00:00:00+00:00"}),
    );
    apply(
        &mut c,
        "CHANNEL_CREATE",
        json!({"id": "600", "type": 1, "recipients": [user(10, "owner")], "last_message_id": null}),
    );
    apply(
        &mut c,
        "MESSAGE_CREATE",
        json!({"id": "9100", "channel_id": "600", "author": user(10, "owner"), "content": "a DM"}),
    );
    apply(
        &mut c,
        "USER_UPDATE",
        json!({"id": "1", "username": "bot2", "discriminator": "0", "avatar": "abc", "bot": true}),
    );
    apply(
        &mut c,
        "GUILD_DELETE",
        json!({"id": "4", "unavailable": true}),
    );
    c
}

fn json(raw: Option<&serde_json::value::RawValue>) -> Value {
    raw.map_or(Value::Null, |r| {
        serde_json::from_str(r.get()).expect("json")
    })
}

/// The lists of a GUILD_CREATE in id order (the cache keeps them in none).
fn ordered(mut guild: Value) -> Value {
    for (key, id) in [
        ("channels", "/id"),
        ("threads", "/id"),
        ("roles", "/id"),
        ("members", "/user/id"),
        ("presences", "/user/id"),
        ("voice_states", "/user_id"),
    ] {
        if let Some(list) = guild.get_mut(key).and_then(Value::as_array_mut) {
            list.sort_by_key(|v| {
                v.pointer(id)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            });
        }
    }
    guild
}

/// The paths where `a` and `b` differ.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (va, vb) = (
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                );
                differences(va, vb, &format!("{path}/{key}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(va, vb, &format!("{path}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

fn assert_same(a: &Value, b: &Value) {
    let mut out = Vec::new();
    differences(a, b, "", &mut out);
    assert!(out.is_empty(), "the reads differ:\n{}", out.join("\n"));
}

fn sorted(list: Vec<&serde_json::value::RawValue>) -> Value {
    let mut items: Vec<Value> = list.into_iter().map(|r| json(Some(r))).collect();
    items.sort_by_key(|v| v["id"].as_str().unwrap_or_default().to_owned());
    Value::Array(items)
}

/// The counts, but the memory estimate, which follows the tables' capacities (how the
/// cache grew), not what it holds: a restored cache grew differently.
fn counts(c: &ShardCache) -> Value {
    let mut counts = serde_json::to_value(c.counts()).expect("counts");
    counts.as_object_mut().map(|o| o.remove("memory_bytes"));
    counts
}

/// Every read the cache answers, for the ids the fixture uses.
fn reads(c: &ShardCache) -> Value {
    let guilds = [2u64, 3, 4, 5, 6];
    let users = [1u64, 10, 2000, 2001, 3000, 3001, 4000, 4001];
    let channels = [200u64, 201, 209, 250, 251, 300, 301, 309, 400, 600];
    let mut out = json!({
        "counts": counts(c),
        "own_user": json(c.own_user().as_deref()),
    });
    for g in guilds {
        let id = Id(g);
        let mut members = serde_json::Map::new();
        let mut presences = serde_json::Map::new();
        let mut voice = serde_json::Map::new();
        for u in users {
            members.insert(u.to_string(), json(c.member(id, Id(u)).as_deref()));
            presences.insert(u.to_string(), json(c.presence(id, Id(u)).as_deref()));
            voice.insert(u.to_string(), json(c.voice_state(id, Id(u))));
        }
        out[format!("guild {g}")] = json!({
            "guild": json(c.guild(id)),
            "unavailable": c.guild_unavailable(id),
            "channels": sorted(c.guild_channels(id)),
            "roles": sorted(c.guild_roles(id)),
            "emojis": json(c.emojis(id)),
            "stickers": json(c.stickers(id)),
            "stage_instances": sorted(c.stage_instances(id)),
            "scheduled_events": sorted(c.scheduled_events(id)),
            "members": members, "presences": presences, "voice_states": voice,
            "guild_create": ordered(json(c.guild_create(id).as_deref())),
        });
    }
    for ch in channels {
        out[format!("channel {ch}")] = json!({
            "channel": json(c.channel(Id(ch))),
            "messages": c.messages(Id(ch)).into_iter().map(|m| json(Some(m))).collect::<Vec<_>>(),
        });
    }
    out
}

#[test]
fn every_read_is_the_same_after_snapshot_and_restore() {
    let before = busy_cache();
    let at = Position {
        session: Some("abc".into()),
        seq: Some(42),
    };
    let bytes = before.snapshot(&at, None).expect("snapshot");
    let restored = ShardCache::restore(CacheConfig::all(), &bytes).expect("restore");
    assert_eq!(restored.position, at);
    assert_eq!(restored.rebuild, None);
    let (a, b) = (reads(&before), reads(&restored.cache));
    assert_same(&a, &b);
    // the fixture does exercise what it should
    assert_eq!(
        a["guild 4"]["unavailable"], true,
        "an outage keeps its state"
    );
    assert!(a["guild 4"]["members"]["4000"].is_object());
    assert_eq!(a["guild 5"]["unavailable"], true, "named by READY only");
    assert!(a["guild 5"]["guild"].is_null());
    assert_eq!(a["channel 200"]["messages"][1]["content"], "edited");
    assert_eq!(a["channel 600"]["messages"][0]["content"], "a DM");
    assert_eq!(a["own_user"]["username"], "bot2");
    assert_eq!(a["counts"]["users"], 7, "{}", a["counts"]);
    // a snapshot of the restored cache is the same snapshot
    let again = restored.cache.snapshot(&at, None).expect("snapshot");
    let normal = |bytes: &[u8]| {
        let mut snap: Value = serde_json::from_slice(bytes).expect("json");
        if let Some(guilds) = snap["guilds"].as_array_mut() {
            for g in guilds.iter_mut() {
                *g = ordered(g.take());
            }
        }
        snap
    };
    assert_same(&normal(&again), &normal(&bytes));
}

#[test]
fn a_guild_comes_out_as_discords_guild_create() {
    let c = busy_cache();
    let g = json(c.guild_create(Id(2)).as_deref());
    assert_eq!(g["name"], "guild 2");
    assert_eq!(g["member_count"], 3);
    for key in [
        "channels",
        "threads",
        "roles",
        "members",
        "presences",
        "voice_states",
        "emojis",
        "stickers",
        "stage_instances",
        "guild_scheduled_events",
        "soundboard_sounds",
    ] {
        assert!(g[key].is_array(), "{key} in {g}");
    }
    let channels = g["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 3, "text, voice and the one created: {g}");
    assert!(
        channels.iter().all(|c| c.get("guild_id").is_none()),
        "GUILD_CREATE's channels carry no guild_id"
    );
    let threads = g["threads"].as_array().expect("threads");
    assert_eq!(
        threads.len(),
        2,
        "a thread from GUILD_CREATE and one created"
    );
    assert!(threads.iter().all(|t| t["guild_id"] == "2"));
    assert_eq!(g["members"].as_array().map(Vec::len), Some(3));
    assert!(
        g["voice_states"]
            .as_array()
            .expect("voice")
            .iter()
            .all(|v| v.get("guild_id").is_none())
    );
    // an outage is sent as Discord sends it
    assert_eq!(
        json(c.guild_create(Id(4)).as_deref()),
        json!({"id": "4", "unavailable": true})
    );
    assert!(c.guild_create(Id(99)).is_none());
}

#[test]
fn a_rebuild_under_way_survives_the_snapshot() {
    let mut c = busy_cache();
    let ready = json!({"user": {"id": "1", "username": "bot2", "discriminator": "0"},
                       "guilds": [{"id": "2", "unavailable": true}, {"id": "3", "unavailable": true}]});
    let (rebuild, _) =
        Rebuild::begin(&mut c, Some("old".into()), &ready.to_string()).expect("begin");
    let rebuild = rebuild.expect("state to compare");
    let bytes = c
        .snapshot(&Position::default(), Some(&rebuild))
        .expect("snapshot");
    let restored = ShardCache::restore(CacheConfig::all(), &bytes).expect("restore");
    assert_eq!(restored.rebuild.as_ref(), Some(&rebuild));
    assert_same(&reads(&c), &reads(&restored.cache));
}

#[test]
fn a_bad_snapshot_restores_nothing_and_says_why() {
    let err = ShardCache::restore(CacheConfig::all(), b"{\"v\":1,\"guilds\":[").expect_err("torn");
    assert!(matches!(err, CacheError::Snapshot(_)), "{err}");
    let err = ShardCache::restore(CacheConfig::all(), b"{\"v\":2}").expect_err("newer");
    assert!(err.to_string().contains("version 2"), "{err}");
    // a piece that does not apply: the whole snapshot is refused
    let err = ShardCache::restore(
        CacheConfig::all(),
        br#"{"v":1,"guilds":[{"name":"no id"}]}"#,
    )
    .expect_err("no id");
    assert!(err.to_string().contains("GUILD_CREATE"), "{err}");
}

#[test]
fn a_cache_keeping_less_restores_less() {
    let bytes = busy_cache()
        .snapshot(&Position::default(), None)
        .expect("snapshot");
    let config = CacheConfig {
        members: false,
        messages: 1,
        ..CacheConfig::all()
    };
    let c = ShardCache::restore(config, &bytes).expect("restore").cache;
    assert_eq!(c.counts().members, 0);
    assert_eq!(c.messages(Id(200)).len(), 1, "the newest only");
    assert!(c.guild(Id(2)).is_some());
}
