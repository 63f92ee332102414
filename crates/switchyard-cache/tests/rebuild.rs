//! A rebuild after a session that could not be resumed: the state held before against the new
//! session's READY and GUILD_CREATEs gives the update events Discord would have sent
//! meanwhile, each with `old`, and counts what cannot be known.

use serde_json::{Value, json};
use switchyard_cache::{CacheConfig, Id, Rebuild, ShardCache, Synthesized};

fn apply(cache: &mut ShardCache, event: &str, d: &Value) {
    cache
        .apply(event, &d.to_string())
        .unwrap_or_else(|e| panic!("{event}: {e}"));
}

fn user(id: u64) -> Value {
    json!({"id": id.to_string(), "username": format!("user{id}"), "global_name": null, "discriminator": "0", "avatar": null})
}

fn member(id: u64, nick: Option<&str>) -> Value {
    json!({"user": user(id), "nick": nick, "roles": [], "joined_at": "2021-01-01T00:00:00+00:00",
           "deaf": false, "mute": false, "flags": 0, "pending": false})
}

fn guild(id: u64, name: &str, members: Vec<Value>) -> Value {
    let count = members.len();
    json!({
        "id": id.to_string(), "name": name, "owner_id": "10", "large": false, "member_count": count,
        "unavailable": false,
        "channels": [
            {"id": (id * 100).to_string(), "type": 0, "name": "general", "topic": null},
            {"id": (id * 100 + 1).to_string(), "type": 0, "name": "doomed"},
            {"id": (id * 100 + 2).to_string(), "type": 2, "name": "voice"},
        ],
        "threads": [{"id": (id * 100 + 9).to_string(), "type": 11, "name": "t", "guild_id": id.to_string(), "parent_id": (id * 100).to_string()}],
        "roles": [{"id": id.to_string(), "name": "@everyone", "permissions": "0"},
                  {"id": (id * 10).to_string(), "name": "mods", "permissions": "8"}],
        "members": members,
        "presences": [{"user": {"id": "11"}, "status": "online", "activities": [], "client_status": {"desktop": "online"}}],
        "voice_states": [{"user_id": "10", "channel_id": (id * 100 + 2).to_string(), "session_id": "s",
                          "deaf": false, "mute": false, "self_deaf": false, "self_mute": false,
                          "self_video": false, "suppress": false}],
        "emojis": [], "stickers": [],
    })
}

fn ready(guilds: &[u64]) -> String {
    let guilds: Vec<Value> = guilds
        .iter()
        .map(|g| json!({"id": g.to_string(), "unavailable": true}))
        .collect();
    json!({"user": user(1), "guilds": guilds}).to_string()
}

/// A cache holding guilds 2 (with messages in two channels and its thread) and 3.
fn before() -> ShardCache {
    let mut c = ShardCache::new(CacheConfig::all());
    c.apply("READY", &ready(&[2, 3])).expect("ready");
    let members = vec![
        member(10, None),
        member(11, Some("eleven")),
        member(12, None),
    ];
    apply(&mut c, "GUILD_CREATE", &guild(2, "two", members.clone()));
    apply(&mut c, "GUILD_CREATE", &guild(3, "three", members));
    for (i, channel) in [200, 200, 201, 209].iter().enumerate() {
        let m = json!({"id": (500 + i).to_string(), "channel_id": channel.to_string(), "guild_id": "2",
                       "author": user(10), "content": format!("m{i}")});
        apply(&mut c, "MESSAGE_CREATE", &m);
    }
    c
}

fn json(raw: &serde_json::value::RawValue) -> Value {
    serde_json::from_str(raw.get()).expect("json")
}

/// `(event, d, old)` of each made-up event.
fn told(events: &[Synthesized]) -> Vec<(&'static str, Value, Value)> {
    events
        .iter()
        .map(|e| {
            let old = e.old.as_deref().map_or(Value::Null, json);
            (e.event, json(&e.data), old)
        })
        .collect()
}

#[test]
fn a_new_session_tells_what_changed_meanwhile_with_old() {
    let mut c = before();
    // Guild 3 is gone (READY does not name it); guild 2 changed.
    let (rebuild, events) =
        Rebuild::begin(&mut c, Some("old-session".into()), &ready(&[2])).expect("begin");
    let mut rebuild = rebuild.expect("state to compare");
    let gone = told(&events);
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0].0, "GUILD_DELETE");
    assert_eq!(
        gone[0].1,
        json!({"id": "3"}),
        "Discord's shape for a guild left"
    );
    assert_eq!(gone[0].2["name"], "three", "old is the guild as it was");
    assert!(
        c.guild(Id(3)).is_none(),
        "a guild gone is gone from the cache"
    );
    assert_eq!(rebuild.report.removed_guilds, vec![Id(3)]);
    assert!(!rebuild.is_done(), "guild 2 waits for its GUILD_CREATE");
    assert!(c.guild(Id(2)).is_some(), "its state is kept until then");

    let mut now = guild(
        2,
        "two, renamed",
        vec![member(10, None), member(11, Some("11!")), member(13, None)],
    );
    let channels = now["channels"].as_array_mut().expect("channels");
    channels[0]["topic"] = json!("a topic");
    channels.remove(1);
    now["threads"] = json!([]);
    now["roles"][1]["name"] = json!("moderators");
    now["roles"]
        .as_array_mut()
        .expect("roles")
        .push(json!({"id": "21", "name": "new", "permissions": "0"}));
    now["presences"] = json!([]);
    now["voice_states"] = json!([]);
    now["emojis"] = json!([{"id": "77", "name": "blob"}]);
    let (old, events) = rebuild
        .apply(&mut c, "GUILD_CREATE", &now.to_string())
        .expect("guild create");
    assert!(old.is_none());
    let told = told(&events);
    let names: Vec<&str> = told.iter().map(|t| t.0).collect();
    assert_eq!(
        names,
        [
            "GUILD_UPDATE",
            "GUILD_ROLE_UPDATE",
            "GUILD_ROLE_CREATE",
            "CHANNEL_UPDATE",
            "CHANNEL_DELETE",
            "GUILD_MEMBER_UPDATE",
            "GUILD_MEMBER_ADD",
            "GUILD_MEMBER_REMOVE",
            "PRESENCE_UPDATE",
            "VOICE_STATE_UPDATE",
            "GUILD_EMOJIS_UPDATE",
        ],
        "{told:#?}"
    );
    let by = |name: &str| told.iter().find(|t| t.0 == name).expect(name);
    let (_, d, old) = by("GUILD_UPDATE");
    assert_eq!(
        (&d["name"], &old["name"]),
        (&json!("two, renamed"), &json!("two"))
    );
    assert!(d["roles"].is_array(), "GUILD_UPDATE carries the roles");
    let (_, d, old) = by("GUILD_ROLE_UPDATE");
    assert_eq!(d["guild_id"], "2");
    assert_eq!(
        (&d["role"]["name"], &old["name"]),
        (&json!("moderators"), &json!("mods"))
    );
    let (_, d, old) = by("CHANNEL_UPDATE");
    assert_eq!(
        (&d["topic"], &old["topic"], &d["guild_id"]),
        (&json!("a topic"), &Value::Null, &json!("2"))
    );
    let (_, d, old) = by("CHANNEL_DELETE");
    assert_eq!((&d["id"], &old["name"]), (&json!("201"), &json!("doomed")));
    let (_, d, old) = by("GUILD_MEMBER_UPDATE");
    assert_eq!(
        (&d["nick"], &old["nick"], &d["guild_id"]),
        (&json!("11!"), &json!("eleven"), &json!("2"))
    );
    let (_, d, old) = by("GUILD_MEMBER_ADD");
    assert_eq!((&d["user"]["id"], old), (&json!("13"), &Value::Null));
    let (_, d, old) = by("GUILD_MEMBER_REMOVE");
    assert_eq!(d, &json!({"guild_id": "2", "user": user(12)}));
    assert_eq!(old["user"]["id"], "12");
    let (_, d, old) = by("PRESENCE_UPDATE");
    assert_eq!(
        (&d["status"], &old["status"], &d["guild_id"]),
        (&json!("offline"), &json!("online"), &json!("2"))
    );
    let (_, d, old) = by("VOICE_STATE_UPDATE");
    assert_eq!(
        (&d["channel_id"], &old["channel_id"], &d["user_id"]),
        (&Value::Null, &json!("202"), &json!("10"))
    );
    let (_, d, old) = by("GUILD_EMOJIS_UPDATE");
    assert_eq!((&d["emojis"][0]["name"], old), (&json!("blob"), &json!([])));

    assert!(rebuild.is_done());
    let report = &rebuild.report;
    assert_eq!(report.guilds_compared, 1);
    assert_eq!(
        report.threads_gone,
        vec![Id(209)],
        "archived or deleted: unknown"
    );
    assert_eq!(
        report.messages_unverified, 2,
        "the messages of #general are kept, unverified"
    );
    assert_eq!(report.events["GUILD_MEMBER_REMOVE"], 1);
    assert_eq!(report.events["GUILD_DELETE"], 1);
    // the cache is what the new GUILD_CREATE says, with the messages kept
    assert_eq!(c.messages(Id(200)).len(), 2);
    assert!(c.messages(Id(201)).is_empty() && c.channel(Id(201)).is_none());
    assert!(c.member(Id(2), Id(12)).is_none());
    assert_eq!(
        json(&c.member(Id(2), Id(11)).expect("member"))["nick"],
        "11!"
    );
}

#[test]
fn an_unchanged_guild_tells_nothing() {
    let mut c = before();
    let (rebuild, events) = Rebuild::begin(&mut c, None, &ready(&[2, 3])).expect("begin");
    assert!(events.is_empty());
    let mut rebuild = rebuild.expect("state to compare");
    let members = vec![
        member(10, None),
        member(11, Some("eleven")),
        member(12, None),
    ];
    for (id, name) in [(2, "two"), (3, "three")] {
        let (_, events) = rebuild
            .apply(
                &mut c,
                "GUILD_CREATE",
                &guild(id, name, members.clone()).to_string(),
            )
            .expect("guild create");
        assert!(events.is_empty(), "guild {id}: {:?}", told(&events));
    }
    assert!(rebuild.is_done());
    assert!(rebuild.report.threads_gone.is_empty());
    // a GUILD_CREATE after the rebuild is an ordinary one
    let (_, events) = rebuild
        .apply(
            &mut c,
            "GUILD_CREATE",
            &guild(2, "changed", Vec::new()).to_string(),
        )
        .expect("guild create");
    assert!(events.is_empty());
}

#[test]
fn a_large_guild_does_not_say_who_left() {
    let mut c = before();
    let (rebuild, _) = Rebuild::begin(&mut c, None, &ready(&[2, 3])).expect("begin");
    let mut rebuild = rebuild.expect("state to compare");
    // Discord lists only some members of a large guild.
    let mut now = guild(2, "two", vec![member(10, None)]);
    now["large"] = json!(true);
    now["member_count"] = json!(1000);
    let (_, events) = rebuild
        .apply(&mut c, "GUILD_CREATE", &now.to_string())
        .expect("guild create");
    let names: Vec<&str> = events.iter().map(|e| e.event).collect();
    assert!(!names.contains(&"GUILD_MEMBER_REMOVE"), "{names:?}");
    assert_eq!(rebuild.report.members_unverified, 2);
    assert!(!rebuild.is_done(), "guild 3 has not come back yet");
    // a guild deleted for good meanwhile no longer waits
    rebuild
        .apply(&mut c, "GUILD_DELETE", &json!({"id": "3"}).to_string())
        .expect("delete");
    assert!(rebuild.is_done());
}

#[test]
fn a_cache_that_held_nothing_needs_no_rebuild() {
    let mut c = ShardCache::new(CacheConfig::all());
    let (rebuild, events) = Rebuild::begin(&mut c, None, &ready(&[2])).expect("begin");
    assert!(rebuild.is_none() && events.is_empty());
    assert_eq!(c.guild_unavailable(Id(2)), Some(true), "READY applied");
}
