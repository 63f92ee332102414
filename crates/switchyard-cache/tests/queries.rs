//! The cache's composite reads: member pages and searches (name prefixes in any case, roles,
//! presence status, names that change), users and their guilds, a channel's voice states,
//! message pages, stage instances and scheduled events.

use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchyard_cache::{CacheConfig, Id, MemberQuery, PresenceStatus, ShardCache};

fn apply(cache: &mut ShardCache, event: &str, d: Value) -> Option<Value> {
    cache
        .apply(event, &d.to_string())
        .unwrap_or_else(|e| panic!("{event}: {e}"))
        .map(|raw| serde_json::from_str(raw.get()).expect("old is JSON"))
}

fn member(id: u64, name: &str, global: Option<&str>, nick: Option<&str>, roles: &[&str]) -> Value {
    json!({
        "user": {"id": id.to_string(), "username": name, "global_name": global, "discriminator": "0", "avatar": null},
        "nick": nick, "roles": roles, "joined_at": "2020-01-01T00:00:00+00:00", "deaf": false, "mute": false
    })
}

/// Guild 1 with members 10.. and guild 2 sharing user 11.
fn cache() -> ShardCache {
    let mut c = ShardCache::new(CacheConfig::all());
    apply(
        &mut c,
        "GUILD_CREATE",
        json!({
            "id": "1", "name": "one", "owner_id": "10",
            "channels": [{"id": "100", "type": 2, "name": "voice"}, {"id": "101", "type": 0, "name": "text"}],
            "roles": [{"id": "1", "name": "@everyone", "permissions": "0"}, {"id": "5", "name": "mods", "permissions": "0"}],
            "members": [
                member(10, "Alice", Some("Ally"), None, &[]),
                member(11, "bob", None, Some("Builder"), &["5"]),
                member(12, "albert", None, None, &["5"]),
                member(13, "Zed", Some("alpha"), None, &[]),
            ],
            "presences": [
                {"user": {"id": "10"}, "guild_id": "1", "status": "online", "activities": [], "client_status": {"desktop": "online"}},
                {"user": {"id": "12"}, "guild_id": "1", "status": "idle", "activities": [], "client_status": {"mobile": "idle"}},
            ],
            "voice_states": [
                {"user_id": "10", "channel_id": "100", "session_id": "a", "deaf": false, "mute": false, "self_deaf": false, "self_mute": false, "self_video": false, "suppress": false},
                {"user_id": "11", "channel_id": "100", "session_id": "b", "deaf": false, "mute": false, "self_deaf": false, "self_mute": false, "self_video": false, "suppress": false},
            ],
            "stage_instances": [{"id": "70", "channel_id": "100", "topic": "talk", "privacy_level": 2, "guild_id": "1"}],
            "guild_scheduled_events": [{"id": "80", "name": "meet", "status": 1, "entity_type": 2, "channel_id": "100"}],
        }),
    );
    apply(
        &mut c,
        "GUILD_CREATE",
        json!({"id": "2", "name": "two", "owner_id": "11", "members": [member(11, "bob", None, None, &[])]}),
    );
    c
}

fn ids(found: &[Box<RawValue>]) -> Vec<String> {
    found
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_str(m.get()).expect("json");
            v["user"]["id"].as_str().expect("id").to_owned()
        })
        .collect()
}

fn search(
    c: &mut ShardCache,
    prefix: Option<&str>,
    role: Option<u64>,
    status: Option<PresenceStatus>,
) -> Vec<String> {
    let query = MemberQuery {
        prefix: prefix.map(str::to_owned),
        role: role.map(Id),
        status,
        limit: 10,
    };
    ids(&c.search_members(Id(1), &query))
}

#[test]
fn members_come_in_pages_by_id() {
    let mut c = cache();
    assert_eq!(ids(&c.members_page(Id(1), Id(0), 2)), ["10", "11"]);
    assert_eq!(ids(&c.members_page(Id(1), Id(11), 5)), ["12", "13"]);
    assert!(c.members_page(Id(1), Id(13), 5).is_empty());
    // The index the first page built follows joins and leaves.
    let mut joined = member(14, "alwin", None, None, &[]);
    joined["guild_id"] = json!("1");
    apply(&mut c, "GUILD_MEMBER_ADD", joined);
    apply(
        &mut c,
        "GUILD_MEMBER_REMOVE",
        json!({"guild_id": "1", "user": {"id": "11", "username": "bob"}}),
    );
    assert_eq!(
        ids(&c.members_page(Id(1), Id(0), 10)),
        ["10", "12", "13", "14"]
    );
}

#[test]
fn a_search_finds_names_nicknames_and_global_names_in_any_case() {
    let mut c = cache();
    assert_eq!(
        search(&mut c, Some("AL"), None, None),
        ["12", "10", "13"],
        "albert, alice (ally), alpha"
    );
    assert_eq!(
        search(&mut c, Some("build"), None, None),
        ["11"],
        "a nickname"
    );
    assert_eq!(
        search(&mut c, Some("al"), Some(5), None),
        ["12"],
        "with a role"
    );
    assert_eq!(
        search(&mut c, Some("al"), None, Some(PresenceStatus::Offline)),
        ["13"]
    );
    assert_eq!(
        search(&mut c, None, Some(5), None),
        ["11", "12"],
        "by role alone, in id order"
    );
    assert_eq!(
        search(&mut c, None, None, Some(PresenceStatus::Idle)),
        ["12"]
    );
    assert!(search(&mut c, Some("nobody"), None, None).is_empty());
}

#[test]
fn a_search_follows_members_who_change_join_and_leave() {
    let mut c = cache();
    assert_eq!(
        search(&mut c, Some("b"), None, None),
        ["11"],
        "builds the index"
    );
    apply(
        &mut c,
        "GUILD_MEMBER_UPDATE",
        json!({"guild_id": "1", "user": {"id": "11", "username": "bob"}, "roles": [], "nick": "alfred"}),
    );
    assert_eq!(
        search(&mut c, Some("alf"), None, None),
        ["11"],
        "a new nickname"
    );
    assert_eq!(
        search(&mut c, Some("build"), None, None),
        Vec::<String>::new(),
        "the old one is gone"
    );
    // A rename seen in guild 2 reaches guild 1's index: users are shared.
    apply(
        &mut c,
        "GUILD_MEMBER_UPDATE",
        json!({"guild_id": "2", "user": {"id": "11", "username": "robert"}, "roles": []}),
    );
    assert_eq!(search(&mut c, Some("rob"), None, None), ["11"]);
    let mut joined = member(14, "alwin", None, None, &[]);
    joined["guild_id"] = json!("1");
    apply(&mut c, "GUILD_MEMBER_ADD", joined);
    apply(
        &mut c,
        "GUILD_MEMBER_REMOVE",
        json!({"guild_id": "1", "user": {"id": "12", "username": "albert"}}),
    );
    assert_eq!(
        search(&mut c, Some("al"), None, None),
        ["11", "10", "13", "14"],
        "alfred, alice, alpha, alwin: albert left"
    );
}

#[test]
fn users_are_found_once_with_the_guilds_they_share() {
    let c = cache();
    let bob: Value = serde_json::from_str(c.user(Id(11)).expect("user").get()).expect("json");
    assert_eq!(bob["username"], "bob");
    assert_eq!(c.user_guilds(Id(11)), [Id(1), Id(2)]);
    assert_eq!(c.user_guilds(Id(10)), [Id(1)]);
    assert!(c.user(Id(99)).is_none());
}

#[test]
fn a_voice_channel_lists_who_is_in_it() {
    let mut c = cache();
    assert_eq!(c.channel_voice_states(Id(1), Id(100)).len(), 2);
    apply(
        &mut c,
        "VOICE_STATE_UPDATE",
        json!({"guild_id": "1", "user_id": "11", "channel_id": null, "session_id": "b", "deaf": false, "mute": false, "self_deaf": false, "self_mute": false, "self_video": false, "suppress": false}),
    );
    let left: Vec<Value> = c
        .channel_voice_states(Id(1), Id(100))
        .iter()
        .map(|v| serde_json::from_str(v.get()).expect("json"))
        .collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["user_id"], "10");
}

#[test]
fn messages_come_newest_first_in_pages() {
    let mut c = cache();
    for id in 1000..1005u64 {
        apply(
            &mut c,
            "MESSAGE_CREATE",
            json!({"id": id.to_string(), "channel_id": "101", "guild_id": "1", "content": format!("m{id}"), "author": {"id": "10", "username": "Alice"}}),
        );
    }
    let contents = |page: Vec<&RawValue>| -> Vec<String> {
        page.iter()
            .map(|m| {
                serde_json::from_str::<Value>(m.get()).expect("json")["content"]
                    .as_str()
                    .expect("content")
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        contents(c.messages_page(Id(101), None, 2)),
        ["m1004", "m1003"]
    );
    assert_eq!(
        contents(c.messages_page(Id(101), Some(Id(1002)), 10)),
        ["m1001", "m1000"]
    );
    let one: Value =
        serde_json::from_str(c.message(Id(101), Id(1003)).expect("message").get()).expect("json");
    assert_eq!(one["content"], "m1003");
    assert!(c.message(Id(101), Id(1)).is_none());
}

#[test]
fn stage_instances_and_scheduled_events_carry_their_previous_state() {
    let mut c = cache();
    assert_eq!(c.stage_instances(Id(1)).len(), 1);
    let events: Value = serde_json::from_str(c.scheduled_events(Id(1))[0].get()).expect("json");
    assert_eq!(
        events["guild_id"], "1",
        "GUILD_CREATE's list gets its guild"
    );
    let old = apply(
        &mut c,
        "STAGE_INSTANCE_UPDATE",
        json!({"id": "70", "guild_id": "1", "channel_id": "100", "topic": "new", "privacy_level": 2}),
    )
    .expect("old");
    assert_eq!(old["topic"], "talk");
    let old = apply(
        &mut c,
        "GUILD_SCHEDULED_EVENT_DELETE",
        json!({"id": "80", "guild_id": "1", "name": "meet", "status": 4, "entity_type": 2, "channel_id": "100"}),
    )
    .expect("old");
    assert_eq!(old["status"], 1);
    assert!(c.scheduled_events(Id(1)).is_empty());
    apply(
        &mut c,
        "GUILD_SCHEDULED_EVENT_CREATE",
        json!({"id": "81", "guild_id": "1", "name": "next", "status": 1, "entity_type": 2, "channel_id": "100"}),
    );
    assert_eq!(c.scheduled_events(Id(1)).len(), 1);
    let old = apply(
        &mut c,
        "STAGE_INSTANCE_DELETE",
        json!({"id": "70", "guild_id": "1", "channel_id": "100", "topic": "new", "privacy_level": 2}),
    )
    .expect("old");
    assert_eq!(old["topic"], "new");
}
