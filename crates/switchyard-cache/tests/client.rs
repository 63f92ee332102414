//! What a gateway client gets from the cache, by Discord's rules: GUILD_CREATE scoped by the
//! client's intents and `large_threshold`, READY's application kept (and through snapshots),
//! and op 8 member requests answered with what the cache holds.

use serde_json::{Value, json};
use switchyard_cache::{
    CacheConfig, GuildScope, Id, MemberRequest, Position, SNAPSHOT_VERSION, ShardCache,
};

const BOT: u64 = 1;
const GUILD: u64 = 2;
const VOICE: u64 = 20;

fn apply(cache: &mut ShardCache, event: &str, d: Value) {
    cache
        .apply(event, &d.to_string())
        .unwrap_or_else(|e| panic!("{event}: {e}"));
}

fn member(id: u64, name: &str, nick: Option<&str>) -> Value {
    json!({
        "user": {"id": id.to_string(), "username": name, "global_name": null, "discriminator": "0", "avatar": null},
        "nick": nick, "roles": [], "joined_at": "2021-01-01T00:00:00+00:00", "deaf": false, "mute": false,
    })
}

fn presence(id: u64, status: &str) -> Value {
    json!({"user": {"id": id.to_string()}, "status": status, "activities": [], "client_status": {"desktop": status}})
}

/// The bot (1) and five members: 10 online, 11 idle, 12 offline, 13 with no presence, and
/// 20 in a voice channel (offline); `member_count` as given.
fn cache(member_count: usize) -> ShardCache {
    let mut c = ShardCache::new(CacheConfig::all());
    apply(
        &mut c,
        "READY",
        json!({"user": {"id": BOT.to_string(), "username": "bot", "discriminator": "0", "avatar": null, "bot": true},
               "application": {"id": "99", "flags": 565248},
               "guilds": [{"id": GUILD.to_string(), "unavailable": true}, {"id": "3", "unavailable": true}]}),
    );
    apply(
        &mut c,
        "GUILD_CREATE",
        json!({
            "id": GUILD.to_string(), "name": "g", "owner_id": "10", "large": true,
            "member_count": member_count,
            "channels": [{"id": "200", "type": 2, "name": "voice"}],
            "members": [member(BOT, "bot", None), member(10, "Alice", None), member(11, "alfred", Some("Fred")),
                        member(12, "bob", None), member(13, "ALBERT", None), member(VOICE, "vic", None)],
            "presences": [presence(BOT, "online"), presence(10, "online"), presence(11, "idle"), presence(12, "offline")],
            "voice_states": [{"user_id": VOICE.to_string(), "channel_id": "200", "session_id": "s",
                              "deaf": false, "mute": false, "self_deaf": false, "self_mute": false,
                              "self_video": false, "suppress": false}],
        }),
    );
    c
}

fn scoped(c: &ShardCache, presences: bool, large_threshold: u32) -> Value {
    let scope = GuildScope {
        presences,
        large_threshold,
    };
    let raw = c.guild_create_for(Id(GUILD), scope).expect("known guild");
    serde_json::from_str(raw.get()).expect("json")
}

/// The user ids of a list of members (`/user/id`) or presences (`/user/id`), sorted.
fn users(list: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v["user"]["id"].as_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn without_presences_only_the_bot_and_members_in_voice() {
    let c = cache(6);
    let g = scoped(&c, false, 50);
    assert_eq!(users(&g["members"]), [BOT, VOICE]);
    assert_eq!(g["presences"], json!([]));
    assert_eq!(g["large"], false, "6 members, threshold 50");
    assert_eq!(g["voice_states"].as_array().map(Vec::len), Some(1));
    assert_eq!(g["channels"].as_array().map(Vec::len), Some(1));
    assert_eq!(g["name"], "g");
}

#[test]
fn with_presences_a_small_guild_has_every_member_and_presence() {
    let c = cache(6);
    let g = scoped(&c, true, 50);
    assert_eq!(users(&g["members"]), [BOT, 10, 11, 12, 13, VOICE]);
    assert_eq!(users(&g["presences"]), [BOT, 10, 11, 12]);
    assert_eq!(
        g["large"], false,
        "the cached `large: true` is the shard's, not the client's"
    );
    let whole: Value =
        serde_json::from_str(c.guild_create(Id(GUILD)).expect("guild").get()).expect("json");
    assert_eq!(
        whole["large"], true,
        "the unscoped guild is as Discord sent it"
    );
}

#[test]
fn with_presences_a_large_guild_has_those_not_offline_the_bot_and_voice() {
    let c = cache(6);
    let g = scoped(&c, true, 5);
    assert_eq!(g["large"], true, "6 members above threshold 5");
    assert_eq!(users(&g["members"]), [BOT, 10, 11, VOICE]);
    assert_eq!(
        users(&g["presences"]),
        [BOT, 10, 11],
        "the offline presence goes with its member; the voice member has none"
    );
}

#[test]
fn above_75000_members_no_presences_whatever_the_intents() {
    let c = cache(80_000);
    let g = scoped(&c, true, 250);
    assert_eq!(users(&g["members"]), [BOT, VOICE]);
    assert_eq!(g["presences"], json!([]));
    assert_eq!(g["large"], true);
}

#[test]
fn an_unavailable_guild_stays_a_stub_and_an_unknown_one_is_none() {
    let mut c = cache(6);
    let scope = GuildScope {
        presences: true,
        large_threshold: 50,
    };
    let stub = |c: &ShardCache, id: u64| {
        let raw = c.guild_create_for(Id(id), scope).expect("known");
        serde_json::from_str::<Value>(raw.get()).expect("json")
    };
    assert_eq!(
        stub(&c, 3),
        json!({"id": "3", "unavailable": true}),
        "named by READY only"
    );
    apply(
        &mut c,
        "GUILD_DELETE",
        json!({"id": GUILD.to_string(), "unavailable": true}),
    );
    assert_eq!(
        stub(&c, GUILD),
        json!({"id": GUILD.to_string(), "unavailable": true})
    );
    assert!(c.guild_create_for(Id(4), scope).is_none());
    assert_eq!(
        c.guild_list(),
        [(Id(GUILD), true), (Id(3), true)],
        "every guild with its outage"
    );
}

#[test]
fn readys_application_is_kept_and_survives_a_snapshot() {
    let c = cache(6);
    let app = |c: &ShardCache| {
        c.application()
            .map(|a| serde_json::from_str::<Value>(a.get()).expect("json"))
    };
    assert_eq!(app(&c), Some(json!({"id": "99", "flags": 565248})));
    let bytes = c.snapshot(&Position::default(), None).expect("snapshot");
    let restored = ShardCache::restore(CacheConfig::all(), &bytes).expect("restore");
    assert_eq!(app(&restored.cache), app(&c));

    // A snapshot written before the application was kept still loads, without it.
    let mut old: Value = serde_json::from_slice(&bytes).expect("json");
    old.as_object_mut().expect("object").remove("application");
    assert_eq!(old["v"], SNAPSHOT_VERSION);
    let restored = ShardCache::restore(CacheConfig::all(), old.to_string().as_bytes())
        .expect("an older snapshot loads");
    assert_eq!(app(&restored.cache), None);
    assert!(restored.cache.own_user().is_some());
}

fn request(c: &mut ShardCache, r: MemberRequest) -> (bool, Vec<u64>, Vec<u64>, Vec<u64>) {
    let a = c.request_members(Id(GUILD), &r).expect("known guild");
    let ids = |list: &[Box<serde_json::value::RawValue>]| {
        let v: Vec<Value> = list
            .iter()
            .map(|r| serde_json::from_str(r.get()).expect("json"))
            .collect();
        v.iter()
            .filter_map(|v| v["user"]["id"].as_str()?.parse().ok())
            .collect::<Vec<u64>>()
    };
    let not_found = a.not_found.iter().map(|id| id.0).collect();
    (a.complete, ids(&a.members), ids(&a.presences), not_found)
}

#[test]
fn a_query_is_a_name_prefix_in_any_case_up_to_the_limit() {
    let mut c = cache(6);
    let query = |q: &str, limit: usize| MemberRequest {
        query: Some(q.into()),
        limit,
        ..MemberRequest::default()
    };
    // alfred, Alice, ALBERT by username; "Fred" is alfred's nickname.
    let (complete, members, presences, _) = request(&mut c, query("AL", 0));
    assert!(complete);
    assert_eq!(members.len(), 3);
    assert!(
        members.iter().all(|m| [10, 11, 13].contains(m)),
        "{members:?}"
    );
    assert!(presences.is_empty(), "not asked for");
    assert_eq!(request(&mut c, query("al", 2)).1.len(), 2);
    assert_eq!(request(&mut c, query("fre", 0)).1, [11]);
    assert!(request(&mut c, query("zz", 0)).1.is_empty());
}

#[test]
fn an_empty_query_with_limit_0_is_every_member() {
    let mut c = cache(6);
    let all = MemberRequest {
        query: Some(String::new()),
        limit: 0,
        presences: true,
        ..MemberRequest::default()
    };
    let (complete, members, presences, not_found) = request(&mut c, all);
    assert!(complete);
    assert_eq!(members, [BOT, 10, 11, 12, 13, VOICE]);
    let mut presences = presences;
    presences.sort_unstable();
    assert_eq!(presences, [BOT, 10, 11, 12]);
    assert!(not_found.is_empty());
    let first = MemberRequest {
        query: Some(String::new()),
        limit: 2,
        ..MemberRequest::default()
    };
    assert_eq!(request(&mut c, first).1, [BOT, 10], "by id order");
}

#[test]
fn user_ids_are_those_members_and_the_rest_not_found() {
    let mut c = cache(6);
    let r = MemberRequest {
        user_ids: Some(vec![Id(12), Id(404), Id(10), Id(12)]),
        presences: true,
        ..MemberRequest::default()
    };
    let (complete, members, presences, not_found) = request(&mut c, r);
    assert!(complete);
    assert_eq!(members, [12, 10], "in the order asked, each once");
    assert_eq!(presences, [12, 10]);
    assert_eq!(not_found, [404]);
}

#[test]
fn a_cache_without_the_whole_member_list_says_so() {
    let mut c = cache(1000);
    let (complete, members, ..) = request(&mut c, MemberRequest::default());
    assert!(!complete, "6 of 1000 members cached");
    assert_eq!(members.len(), 6);
    assert!(
        c.request_members(Id(4), &MemberRequest::default())
            .is_none()
    );
}
