//! Each kind of event against the cache: what it keeps, and the `old` an update or delete
//! gives back (the object as it was, never the updated one).

use serde_json::{Value, json};
use switchyard_cache::{CacheConfig, Id, ShardCache};

fn cache() -> ShardCache {
    ShardCache::new(CacheConfig::all())
}

fn apply(cache: &mut ShardCache, event: &str, d: Value) -> Option<Value> {
    cache
        .apply(event, &d.to_string())
        .unwrap_or_else(|e| panic!("{event}: {e}"))
        .map(|raw| serde_json::from_str(raw.get()).expect("old is JSON"))
}

fn user(id: &str, name: &str) -> Value {
    json!({"id": id, "username": name, "global_name": null, "discriminator": "0", "avatar": null})
}

fn guild_create() -> Value {
    json!({
        "id": "1", "name": "Guild", "owner_id": "10", "icon": null, "member_count": 2,
        "channels": [{"id": "100", "type": 0, "name": "general", "position": 0}],
        "threads": [{"id": "101", "type": 11, "name": "a thread", "parent_id": "100"}],
        "roles": [{"id": "1", "name": "@everyone", "permissions": "1024", "position": 0}],
        "members": [
            {"user": user("10", "owner"), "nick": null, "roles": [], "joined_at": "2020-01-01T00:00:00+00:00", "deaf": false, "mute": false},
            {"user": user("11", "other"), "nick": "o", "roles": ["1"], "joined_at": "2021-01-01T00:00:00+00:00", "deaf": false, "mute": false}
        ],
        "presences": [], "voice_states": [], "emojis": [], "stickers": []
    })
}

#[test]
fn guild_create_fills_the_guild_and_keeps_its_lists_apart() {
    let mut c = cache();
    assert_eq!(apply(&mut c, "GUILD_CREATE", guild_create()), None);
    let counts = c.counts();
    assert_eq!(
        (
            counts.guilds,
            counts.channels,
            counts.roles,
            counts.members,
            counts.users
        ),
        (1, 2, 1, 2, 2)
    );
    let guild: Value = serde_json::from_str(c.guild(Id(1)).expect("guild").get()).expect("json");
    assert_eq!(guild["name"], "Guild");
    assert!(guild.get("channels").is_none() && guild.get("members").is_none());
    let thread: Value =
        serde_json::from_str(c.channel(Id(101)).expect("thread").get()).expect("json");
    assert_eq!(
        thread["guild_id"], "1",
        "threads in GUILD_CREATE get their guild"
    );
    let member: Value =
        serde_json::from_str(c.member(Id(1), Id(11)).expect("member").get()).expect("json");
    assert_eq!(member["nick"], "o");
    assert_eq!(member["user"]["username"], "other");
}

#[test]
fn updates_and_deletes_give_back_the_object_as_it_was() {
    let mut c = cache();
    apply(&mut c, "GUILD_CREATE", guild_create());

    let old = apply(
        &mut c,
        "GUILD_UPDATE",
        json!({"id": "1", "name": "Renamed", "owner_id": "10", "roles": []}),
    )
    .expect("old guild");
    assert_eq!(old["name"], "Guild");
    assert_eq!(c.counts().roles, 0, "GUILD_UPDATE carries the roles");

    let old = apply(
        &mut c,
        "THREAD_DELETE",
        json!({"id": "101", "guild_id": "1", "parent_id": "100", "type": 11}),
    )
    .expect("deleted thread");
    assert_eq!(old["name"], "a thread");

    let old = apply(
        &mut c,
        "CHANNEL_UPDATE",
        json!({"id": "100", "guild_id": "1", "type": 0, "name": "renamed"}),
    )
    .expect("old channel");
    assert_eq!(old["name"], "general");
    let old = apply(
        &mut c,
        "CHANNEL_DELETE",
        json!({"id": "100", "guild_id": "1", "type": 0}),
    )
    .expect("deleted channel");
    assert_eq!(old["name"], "renamed");
    assert_eq!(
        apply(&mut c, "CHANNEL_DELETE", json!({"id": "100", "type": 0})),
        None
    );

    apply(
        &mut c,
        "GUILD_ROLE_CREATE",
        json!({"guild_id": "1", "role": {"id": "5", "name": "mods", "permissions": "8"}}),
    );
    let old = apply(
        &mut c,
        "GUILD_ROLE_UPDATE",
        json!({"guild_id": "1", "role": {"id": "5", "name": "admins", "permissions": "8"}}),
    )
    .expect("old role");
    assert_eq!(old["name"], "mods");
    let old = apply(
        &mut c,
        "GUILD_ROLE_DELETE",
        json!({"guild_id": "1", "role_id": "5"}),
    )
    .expect("deleted role");
    assert_eq!(old["name"], "admins");
}

#[test]
fn a_member_update_keeps_what_it_does_not_carry() {
    let mut c = cache();
    apply(&mut c, "GUILD_CREATE", guild_create());
    let old = apply(
        &mut c,
        "GUILD_MEMBER_UPDATE",
        json!({"guild_id": "1", "user": user("11", "other"), "roles": [], "nick": "new"}),
    )
    .expect("old member");
    assert_eq!(
        (old["nick"].as_str(), old["roles"][0].as_str()),
        (Some("o"), Some("1"))
    );
    let now: Value =
        serde_json::from_str(c.member(Id(1), Id(11)).expect("member").get()).expect("json");
    assert_eq!(now["nick"], "new");
    assert_eq!(
        now["joined_at"], "2021-01-01T00:00:00+00:00",
        "absent, kept"
    );

    let old = apply(
        &mut c,
        "GUILD_MEMBER_REMOVE",
        json!({"guild_id": "1", "user": user("11", "other")}),
    )
    .expect("removed member");
    assert_eq!(old["nick"], "new");
    assert_eq!(
        c.counts().users,
        1,
        "the user left with its only membership"
    );
}

#[test]
fn users_are_kept_once_across_guilds() {
    let mut c = cache();
    apply(&mut c, "GUILD_CREATE", guild_create());
    let mut second = guild_create();
    second["id"] = json!("2");
    second["channels"] = json!([]);
    second["threads"] = json!([]);
    apply(&mut c, "GUILD_CREATE", second);
    assert_eq!((c.counts().members, c.counts().users), (4, 2));
    apply(&mut c, "GUILD_DELETE", json!({"id": "2"}));
    assert_eq!(
        (c.counts().guilds, c.counts().members, c.counts().users),
        (1, 2, 2)
    );
    apply(&mut c, "GUILD_DELETE", json!({"id": "1"}));
    assert_eq!(c.counts().users, 0);
}

#[test]
fn an_unavailable_guild_keeps_its_state_until_deleted() {
    let mut c = cache();
    apply(&mut c, "GUILD_CREATE", guild_create());
    let old = apply(
        &mut c,
        "GUILD_DELETE",
        json!({"id": "1", "unavailable": true}),
    )
    .expect("old");
    assert_eq!(old["name"], "Guild");
    assert_eq!(c.guild_unavailable(Id(1)), Some(true));
    assert_eq!(c.counts().members, 2, "kept in the outage");
    apply(&mut c, "GUILD_CREATE", guild_create());
    assert_eq!(c.guild_unavailable(Id(1)), Some(false));
    assert_eq!(c.counts().members, 2);
}

#[test]
fn messages_keep_the_last_n_and_merge_partial_updates() {
    let mut c = ShardCache::new(CacheConfig {
        messages: 2,
        ..CacheConfig::all()
    });
    for id in ["1", "2", "3"] {
        apply(
            &mut c,
            "MESSAGE_CREATE",
            json!({"id": id, "channel_id": "9", "content": format!("m{id}"), "author": user("10", "a")}),
        );
    }
    assert_eq!(c.messages(Id(9)).len(), 2, "the oldest went");
    apply(
        &mut c,
        "MESSAGE_CREATE",
        json!({"id": "3", "channel_id": "9", "content": "m3", "author": user("10", "a")}),
    );
    assert_eq!(
        c.messages(Id(9)).len(),
        2,
        "a replayed message replaces itself"
    );
    assert_eq!(
        apply(
            &mut c,
            "MESSAGE_UPDATE",
            json!({"id": "1", "channel_id": "9", "content": "x"})
        ),
        None
    );
    let old = apply(
        &mut c,
        "MESSAGE_UPDATE",
        json!({"id": "3", "channel_id": "9", "content": "edited"}),
    )
    .expect("old message");
    assert_eq!(old["content"], "m3");
    let now: Value = serde_json::from_str(c.messages(Id(9))[1].get()).expect("json");
    assert_eq!(
        (now["content"].as_str(), now["author"]["username"].as_str()),
        (Some("edited"), Some("a"))
    );
    let old = apply(
        &mut c,
        "MESSAGE_DELETE_BULK",
        json!({"ids": ["2", "3", "404"], "channel_id": "9"}),
    )
    .expect("old list");
    assert_eq!(old.as_array().map(Vec::len), Some(2));
    assert!(c.messages(Id(9)).is_empty());
}

#[test]
fn user_update_concerns_the_bots_own_user() {
    let mut c = cache();
    apply(
        &mut c,
        "READY",
        json!({"v": 10, "user": user("99", "bot"), "guilds": [{"id": "1", "unavailable": true}], "session_id": "s"}),
    );
    assert_eq!(c.guild_unavailable(Id(1)), Some(true));
    let old = apply(&mut c, "USER_UPDATE", user("99", "renamed")).expect("old user");
    assert_eq!(old["username"], "bot");
}

#[test]
fn a_payload_of_an_unexpected_shape_is_an_error_and_changes_nothing() {
    let mut c = cache();
    apply(&mut c, "GUILD_CREATE", guild_create());
    let before = c.counts();
    let e = c
        .apply(
            "GUILD_MEMBER_UPDATE",
            r#"{"guild_id":"1","user":{"id":"x"}}"#,
        )
        .expect_err("bad shape");
    assert!(e.to_string().starts_with("GUILD_MEMBER_UPDATE: "), "{e}");
    assert_eq!(c.counts(), before);
    assert!(!c.wants("TYPING_START"), "other events pass unparsed");
    let off = ShardCache::new(CacheConfig::default());
    assert!(!off.wants("GUILD_CREATE"), "off by default");
}

#[test]
fn messages_without_ids_are_errors_and_broken_ones_are_never_read_back() {
    let mut c = cache();
    apply(&mut c, "GUILD_CREATE", guild_create());
    for bad in [
        r#"{"channel_id":"100","content":"no id"}"#,
        r#"{"id":"x","channel_id":"100"}"#,
        r#"["not", "an", "object"]"#,
    ] {
        let e = c.apply("MESSAGE_CREATE", bad).expect_err(bad);
        assert!(e.to_string().starts_with("MESSAGE_CREATE: "), "{e}");
    }
    assert_eq!(c.counts().messages, 0);
    // Its ids are read with a quick look that does not check the rest: a payload broken
    // after them is kept, and reads (and `old`) skip it rather than return broken JSON.
    let broken = r#"{"id":"5","channel_id":"100","content": oops}"#;
    assert!(matches!(c.apply("MESSAGE_CREATE", broken), Ok(None)));
    assert!(c.messages(Id(100)).is_empty());
    let old = c
        .apply("MESSAGE_DELETE", r#"{"id":"5","channel_id":"100"}"#)
        .expect("delete");
    assert!(old.is_none());
    assert_eq!(c.counts().messages, 0);
}

#[test]
fn emoji_and_sticker_lists_are_replaced_whole() {
    let mut c = cache();
    let mut g = guild_create();
    g["emojis"] = json!([{"id": "7", "name": "old_emoji"}]);
    g["stickers"] = json!([{"id": "8", "name": "old_sticker"}]);
    apply(&mut c, "GUILD_CREATE", g);
    let old = apply(
        &mut c,
        "GUILD_EMOJIS_UPDATE",
        json!({"guild_id": "1", "emojis": [{"id": "9", "name": "new"}]}),
    )
    .expect("old emojis");
    assert_eq!(old, json!([{"id": "7", "name": "old_emoji"}]));
    let now: Value = serde_json::from_str(c.emojis(Id(1)).expect("emojis").get()).expect("json");
    assert_eq!(now[0]["name"], "new");
    let old = apply(
        &mut c,
        "GUILD_STICKERS_UPDATE",
        json!({"guild_id": "1", "stickers": []}),
    )
    .expect("old stickers");
    assert_eq!(old[0]["name"], "old_sticker");
}

#[test]
fn presences_and_voice_states_carry_what_they_replace() {
    let mut c = cache();
    let mut g = guild_create();
    g["presences"] = json!([{"user": {"id": "11"}, "status": "online", "activities": []}]);
    g["voice_states"] = json!([{"user_id": "10", "channel_id": "100", "session_id": "v", "deaf": false, "mute": false}]);
    apply(&mut c, "GUILD_CREATE", g);
    assert_eq!((c.counts().presences, c.counts().voice_states), (1, 1));
    let voice: Value =
        serde_json::from_str(c.voice_state(Id(1), Id(10)).expect("voice").get()).expect("json");
    assert_eq!(
        voice["guild_id"], "1",
        "voice states in GUILD_CREATE get their guild"
    );

    let old = apply(
        &mut c,
        "PRESENCE_UPDATE",
        json!({"user": {"id": "11"}, "guild_id": "1", "status": "idle", "activities": []}),
    )
    .expect("old presence");
    assert_eq!(old["status"], "online");
    let old = apply(
        &mut c,
        "PRESENCE_UPDATE",
        json!({"user": {"id": "11"}, "guild_id": "1", "status": "offline", "activities": []}),
    )
    .expect("old presence");
    assert_eq!(old["status"], "idle");
    assert!(c.presence(Id(1), Id(11)).is_none(), "offline: no presence");

    let old = apply(
        &mut c,
        "VOICE_STATE_UPDATE",
        json!({"guild_id": "1", "user_id": "10", "channel_id": "101", "session_id": "v"}),
    )
    .expect("old voice state");
    assert_eq!(old["channel_id"], "100", "moved from");
    let old = apply(
        &mut c,
        "VOICE_STATE_UPDATE",
        json!({"guild_id": "1", "user_id": "10", "channel_id": null, "session_id": "v"}),
    )
    .expect("old voice state");
    assert_eq!(old["channel_id"], "101", "left from");
    assert!(c.voice_state(Id(1), Id(10)).is_none());
}

#[test]
fn a_member_who_leaves_has_no_presence_there_any_more() {
    let mut c = cache();
    let mut g = guild_create();
    g["presences"] = json!([
        {"user": {"id": "10"}, "status": "online", "activities": []},
        {"user": {"id": "11"}, "status": "dnd", "client_status": {"mobile": "dnd"}, "activities": []}
    ]);
    apply(&mut c, "GUILD_CREATE", g);
    apply(
        &mut c,
        "GUILD_CREATE",
        json!({"id": "2", "name": "Other", "members": [],
        "presences": [{"user": {"id": "11"}, "status": "dnd", "activities": []}]}),
    );
    assert_eq!(c.counts().presences, 3);
    let old = apply(
        &mut c,
        "GUILD_MEMBER_REMOVE",
        json!({"guild_id": "1", "user": user("11", "other")}),
    )
    .expect("old member");
    assert_eq!(old["nick"], "o");
    assert!(c.presence(Id(1), Id(11)).is_none(), "gone with the member");
    assert!(c.presence(Id(1), Id(10)).is_some(), "others stay");
    assert!(
        c.presence(Id(2), Id(11)).is_some(),
        "other guilds keep theirs"
    );
    // A member the cache does not hold (GUILD_CREATE's members of a large guild are the
    // online ones only) loses its presence too.
    apply(
        &mut c,
        "GUILD_MEMBER_REMOVE",
        json!({"guild_id": "2", "user": user("11", "other")}),
    );
    assert!(c.presence(Id(2), Id(11)).is_none());
    assert_eq!(c.counts().presences, 1);
}

#[test]
fn a_guild_create_that_cannot_be_read_leaves_the_cache_as_it_was() {
    let mut c = cache();
    apply(&mut c, "GUILD_CREATE", guild_create());
    let before = c.counts();
    let mut bad = guild_create();
    bad["name"] = json!("changed");
    bad["members"] = json!([{"user": {"id": "12"}}]);
    assert!(
        c.apply("GUILD_CREATE", &bad.to_string()).is_err(),
        "a member without username"
    );
    assert_eq!(c.counts(), before);
    let guild: Value = serde_json::from_str(c.guild(Id(1)).expect("guild").get()).expect("json");
    assert_eq!(guild["name"], "Guild");
}
