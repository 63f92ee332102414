//! Discord's rules the churn proofs (`tests/churn`) found the cache breaking, one small case
//! each, so that a regression names the rule.

use serde_json::{Value, json};
use switchyard_cache::{CacheConfig, Id, ShardCache};

fn apply(cache: &mut ShardCache, event: &str, d: Value) -> Option<Value> {
    cache
        .apply(event, &d.to_string())
        .unwrap_or_else(|e| panic!("{event}: {e}"))
        .map(|raw| serde_json::from_str(raw.get()).expect("old is JSON"))
}

fn value<T: serde::Serialize>(raw: T) -> Value {
    serde_json::from_str(&serde_json::to_string(&raw).expect("json")).expect("json")
}

fn user(id: &str) -> Value {
    json!({"id": id, "username": format!("u{id}"), "global_name": null, "discriminator": "0", "avatar": null})
}

fn member(id: &str, roles: &[&str]) -> Value {
    json!({"user": user(id), "nick": null, "roles": roles, "joined_at": "2020-01-01T00:00:00+00:00", "deaf": false, "mute": false})
}

/// A guild with a text channel (100) and its thread (101), a role (5), two members (10 with
/// role 5, 11) and 11's presence.
fn cache() -> ShardCache {
    let mut c = ShardCache::new(CacheConfig::all());
    apply(
        &mut c,
        "GUILD_CREATE",
        json!({
            "id": "1", "name": "Guild", "owner_id": "10", "joined_at": "2021-01-01T00:00:00+00:00",
            "large": false, "member_count": 2, "unavailable": false,
            "channels": [{"id": "100", "type": 0, "name": "general"}],
            "threads": [{"id": "101", "type": 11, "name": "a thread", "parent_id": "100", "guild_id": "1"}],
            "roles": [{"id": "1", "name": "@everyone"}, {"id": "5", "name": "mods"}],
            "members": [member("10", &["5"]), member("11", &[])],
            "presences": [{"user": {"id": "11"}, "status": "online", "activities": [], "client_status": {"web": "online"}}],
            "voice_states": [], "emojis": [], "stickers": [],
        }),
    );
    c
}

fn guild(c: &ShardCache) -> Value {
    value(c.guild(Id(1)).expect("guild"))
}

#[test]
fn a_guild_update_keeps_the_fields_only_guild_create_carries() {
    let mut c = cache();
    apply(
        &mut c,
        "GUILD_UPDATE",
        json!({"id": "1", "name": "Renamed", "owner_id": "10", "roles": []}),
    );
    let g = guild(&c);
    assert_eq!(g["name"], "Renamed");
    assert_eq!(
        (&g["joined_at"], &g["member_count"], &g["large"]),
        (
            &json!("2021-01-01T00:00:00+00:00"),
            &json!(2),
            &json!(false)
        )
    );
}

#[test]
fn joins_and_leaves_change_the_member_count() {
    let mut c = cache();
    let add = |id: &str| {
        let mut m = member(id, &[]);
        m["guild_id"] = json!("1");
        m
    };
    apply(&mut c, "GUILD_MEMBER_ADD", add("12"));
    apply(&mut c, "GUILD_MEMBER_ADD", add("12")); // sent again for a member: no count
    assert_eq!(guild(&c)["member_count"], 3);
    for id in ["10", "99"] {
        // a member the cache does not hold leaves the guild all the same
        apply(
            &mut c,
            "GUILD_MEMBER_REMOVE",
            json!({"guild_id": "1", "user": user(id)}),
        );
    }
    assert_eq!(guild(&c)["member_count"], 1);
}

#[test]
fn a_thread_is_kept_without_the_newly_created_of_its_event() {
    let mut c = cache();
    let thread =
        json!({"id": "102", "guild_id": "1", "parent_id": "100", "type": 11, "name": "new"});
    let mut d = thread.clone();
    d["newly_created"] = json!(true);
    apply(&mut c, "THREAD_CREATE", d);
    assert_eq!(value(c.channel(Id(102)).expect("thread")), thread);
}

#[test]
fn a_deleted_role_leaves_every_members_role_list() {
    let mut c = cache();
    apply(
        &mut c,
        "GUILD_ROLE_DELETE",
        json!({"guild_id": "1", "role_id": "5"}),
    );
    let member = value(c.member(Id(1), Id(10)).expect("member"));
    assert_eq!(member["roles"], json!([]));
}

#[test]
fn a_guild_available_again_keeps_the_messages_of_its_channels() {
    let mut c = cache();
    for (id, channel) in [("500", "100"), ("501", "101")] {
        let d = json!({"id": id, "channel_id": channel, "guild_id": "1", "content": "kept?", "author": user("10")});
        apply(&mut c, "MESSAGE_CREATE", d);
    }
    apply(
        &mut c,
        "GUILD_DELETE",
        json!({"id": "1", "unavailable": true}),
    );
    // back, without the thread (deleted meanwhile)
    apply(
        &mut c,
        "GUILD_CREATE",
        json!({
            "id": "1", "name": "Guild", "owner_id": "10",
            "channels": [{"id": "100", "type": 0, "name": "general"}], "threads": [],
            "roles": [], "members": [member("10", &[])],
        }),
    );
    assert_eq!(
        c.messages(Id(100)).len(),
        1,
        "the channel's message is still there"
    );
    assert!(
        c.messages(Id(101)).is_empty(),
        "the thread is gone with its message"
    );
    assert_eq!(c.counts().messages, 1);
}

#[test]
fn a_presence_from_guild_create_reads_like_one_from_presence_update() {
    let c = cache();
    let presence = value(c.presence(Id(1), Id(11)).expect("presence"));
    assert_eq!(presence["guild_id"], "1");
}

#[test]
fn a_deleted_channel_takes_its_threads_and_their_messages() {
    let mut c = cache();
    let d = json!({"id": "501", "channel_id": "101", "guild_id": "1", "content": "in the thread", "author": user("10")});
    apply(&mut c, "MESSAGE_CREATE", d);
    apply(
        &mut c,
        "CHANNEL_DELETE",
        json!({"id": "100", "guild_id": "1", "type": 0, "name": "general"}),
    );
    assert!(
        c.channel(Id(101)).is_none(),
        "the thread went with its channel"
    );
    assert_eq!((c.counts().channels, c.counts().messages), (0, 0));
}

#[test]
fn a_thread_list_sync_clears_the_threads_of_its_channels_first() {
    let mut c = cache();
    let new = json!({"id": "102", "guild_id": "1", "parent_id": "100", "type": 11, "name": "still active"});
    let d = json!({"guild_id": "1", "channel_ids": ["100"], "threads": [new], "members": []});
    apply(&mut c, "THREAD_LIST_SYNC", d);
    assert!(
        c.channel(Id(101)).is_none(),
        "101 is no longer an active thread of 100"
    );
    assert!(c.channel(Id(102)).is_some());
    assert!(c.channel(Id(100)).is_some(), "the channel itself stays");
}

#[test]
fn a_member_who_leaves_has_no_presence_in_the_guild() {
    let mut c = cache();
    apply(
        &mut c,
        "GUILD_MEMBER_REMOVE",
        json!({"guild_id": "1", "user": user("11")}),
    );
    assert!(c.presence(Id(1), Id(11)).is_none());
    assert_eq!(c.counts().presences, 0);
}
