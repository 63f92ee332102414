//! Against an independent cache: twilight-cache-inmemory fed the same stream agrees with the
//! cache on every field both keep.
//!
//! Where twilight-cache-inmemory does not apply a rule of Discord's that the cache applies,
//! the comparison says so and compares what both can agree on:
//! - it keeps a deleted role in members' role lists: roles are compared among the roles
//!   that exist;
//! - it keeps the threads of a deleted channel, and those a THREAD_LIST_SYNC clears: its
//!   extra channels may only be such threads;
//! - it drops the permission bits it does not know: permissions are compared on the bits
//!   it knows;
//! - it keeps offline presences (with status `offline`): no presence and `offline` are the
//!   same answer; and it keeps the presence of a member who left: not compared until the
//!   user's next presence;
//! - its GUILD_MEMBER_UPDATE resets `nick`, `pending` and `communication_disabled_until`
//!   when the update leaves them out (Discord: absent means unchanged), a message's partial
//!   member resets `pending`, and GUILD_MEMBER_UPDATE never applies `premium_since` or
//!   `flags`: the first three are compared when the member's last payload carried them, the
//!   last two not at all (the proof against the fake's state covers every field).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use switchyard_cache::{Id, ShardCache};
use switchyard_sim::LiveState;
use twilight_cache_inmemory::{DefaultInMemoryCache, ResourceType};
use twilight_model::gateway::event::Event;
use twilight_model::guild::Permissions;
use twilight_model::id::Id as TId;

use crate::compare::{id, json, same_as};
use crate::divergence::{Carried, RESET};
use crate::models::model;

/// Fields of a JSON object, a missing one as `null` (twilight leaves out what is `None`).
fn fields(v: &Value, keys: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for k in keys {
        out.insert((*k).to_owned(), v.get(*k).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// The same list, each object reduced to `keys`, in the order of their ids.
fn set_of(list: impl IntoIterator<Item = Value>, keys: &[&str]) -> Vec<Value> {
    let mut out: Vec<Value> = list.into_iter().map(|v| fields(&v, keys)).collect();
    out.sort_by_key(|v| id(&v["id"]));
    out
}

const GUILD: &[&str] = &[
    "id",
    "name",
    "icon",
    "owner_id",
    "description",
    "afk_timeout",
    "verification_level",
    "member_count",
    "premium_subscription_count",
    "system_channel_id",
    "joined_at",
];
const CHANNEL: &[&str] = &[
    "id",
    "type",
    "name",
    "position",
    "parent_id",
    "topic",
    "nsfw",
    "rate_limit_per_user",
    "bitrate",
    "owner_id",
];
const ROLE: &[&str] = &[
    "id",
    "name",
    "color",
    "hoist",
    "position",
    "permissions",
    "mentionable",
];
const EMOJI: &[&str] = &[
    "id",
    "name",
    "animated",
    "available",
    "managed",
    "require_colons",
];
const STICKER: &[&str] = &[
    "id",
    "name",
    "description",
    "tags",
    "format_type",
    "available",
];

/// A permission set (a string of digits) reduced to the bits twilight-model knows: it
/// drops the others when it reads one.
fn known_bits(v: &Value) -> Value {
    let bits: u64 = v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    json!((bits & Permissions::all().bits()).to_string())
}

/// A channel's overwrites as a set.
fn overwrites(ch: &Value) -> Value {
    let mut list: Vec<Value> = ch["permission_overwrites"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|o| {
                    let mut o = fields(o, &["id", "type", "allow", "deny"]);
                    for key in ["allow", "deny"] {
                        o[key] = known_bits(&o[key]);
                    }
                    o
                })
                .collect()
        })
        .unwrap_or_default();
    list.sort_by_key(|o| id(&o["id"]));
    json!(list)
}

#[test]
fn twilight_cache_inmemory_fed_the_same_stream_agrees_on_every_field_both_keep() {
    twilight_agrees(14);
}

fn twilight_agrees(seed: u64) {
    let mut churn = crate::churn(seed);
    let ours = &mut crate::cache();
    let theirs = DefaultInMemoryCache::builder()
        .resource_types(ResourceType::all())
        .message_cache_size(switchyard_sim::RECENT_MESSAGES)
        .build();
    let mut payloads: Vec<(&'static str, Value)> = crate::start(&churn);
    payloads.extend(crate::stream(&mut churn).into_iter().map(|e| (e.name, e.d)));
    let mut carried = Carried::new();
    for (at, (name, d)) in payloads.iter().enumerate() {
        crate::apply(ours, at, name, d);
        let event = model(name, d).unwrap_or_else(|e| panic!("#{at} {name}: {e}"));
        theirs.update(&Event::from(event));
        carried.note(name, d);
    }
    for g in churn.state().guild_ids() {
        agree_on_guild(ours, &theirs, churn.state(), g, &carried);
    }
}

fn agree_on_guild(
    ours: &ShardCache,
    theirs: &DefaultInMemoryCache,
    state: &LiveState,
    g: u64,
    carried: &Carried,
) {
    let (gid, tg) = (Id(g), TId::new(g));
    let guild = theirs.guild(tg).map(|r| json(r.value()));
    agree(
        &format!("guild {g}"),
        &fields(&json!(guild), GUILD),
        &fields(&json!(ours.guild(gid).map(json)), GUILD),
    );

    let our_channels: Vec<Value> = ours.guild_channels(gid).into_iter().map(json).collect();
    let our_ids: BTreeSet<u64> = our_channels.iter().map(|c| id(&c["id"])).collect();
    let their_ids: BTreeSet<u64> = theirs
        .guild_channels(tg)
        .map(|r| r.value().iter().map(|c| c.get()).collect())
        .unwrap_or_default();
    let their_channels: Vec<Value> = our_ids
        .iter()
        .filter_map(|c| theirs.channel(TId::new(*c)).map(|r| json(r.value())))
        .collect();
    agree(
        &format!("guild {g}: channels"),
        &json!(set_of(their_channels.clone(), CHANNEL)),
        &json!(set_of(our_channels.clone(), CHANNEL)),
    );
    for (t, o) in set_of(their_channels, &["id", "permission_overwrites"])
        .iter()
        .zip(set_of(our_channels, &["id", "permission_overwrites"]))
    {
        agree(
            &format!("channel {}: overwrites", t["id"]),
            &overwrites(t),
            &overwrites(&o),
        );
    }
    for extra in their_ids.difference(&our_ids) {
        let kind = theirs
            .channel(TId::new(*extra))
            .map(|c| json(c.value())["type"].clone());
        assert!(
            matches!(kind.as_ref().and_then(Value::as_u64), Some(10..=12)),
            "guild {g}: twilight keeps channel {extra} ({kind:?}), not a thread whose channel went"
        );
    }

    let role_ids: BTreeSet<String> = theirs
        .guild_roles(tg)
        .map(|r| r.value().iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    let their_roles: Vec<Value> = role_ids
        .iter()
        .filter_map(|r| {
            theirs
                .role(TId::new(id(&json!(r))))
                .map(|x| json(x.resource()))
        })
        .collect();
    let our_roles: Vec<Value> = ours.guild_roles(gid).into_iter().map(json).collect();
    agree(
        &format!("guild {g}: roles"),
        &json!(set_of(their_roles, ROLE)),
        &json!(set_of(
            our_roles.into_iter().map(|mut r| {
                r["permissions"] = known_bits(&r["permissions"]);
                r
            }),
            ROLE
        )),
    );

    let mut their_members: Vec<u64> = theirs
        .guild_members(tg)
        .map(|r| r.value().iter().map(|u| u.get()).collect())
        .unwrap_or_default();
    their_members.sort_unstable();
    let mut our_members = state.member_ids(g);
    our_members.push(crate::bot().id);
    our_members.sort_unstable();
    assert_eq!(
        their_members, our_members,
        "guild {g}: members (twilight, then ours)"
    );
    for user in our_members {
        agree_on_member(ours, theirs, g, user, &role_ids, carried);
    }

    let emojis: Vec<Value> = theirs
        .guild_emojis(tg)
        .map(|r| {
            r.value()
                .iter()
                .filter_map(|e| theirs.emoji(*e).map(|x| json(x.resource())))
                .collect()
        })
        .unwrap_or_default();
    let our_emojis = json(&ours.emojis(gid).map(json));
    agree(
        &format!("guild {g}: emojis"),
        &json!(set_of(emojis, EMOJI)),
        &json!(set_of(
            our_emojis.as_array().cloned().unwrap_or_default(),
            EMOJI
        )),
    );
    let stickers: Vec<Value> = theirs
        .guild_stickers(tg)
        .map(|r| {
            r.value()
                .iter()
                .filter_map(|s| theirs.sticker(*s).map(|x| json(x.resource())))
                .collect()
        })
        .unwrap_or_default();
    let our_stickers = json(&ours.stickers(gid).map(json));
    agree(
        &format!("guild {g}: stickers"),
        &json!(set_of(stickers, STICKER)),
        &json!(set_of(
            our_stickers.as_array().cloned().unwrap_or_default(),
            STICKER
        )),
    );

    for ch in &our_ids {
        let mut theirs_msgs: Vec<Value> = theirs
            .channel_messages(TId::new(*ch))
            .map(|r| {
                r.value()
                    .iter()
                    .filter_map(|m| theirs.message(*m))
                    .map(|m| json!({"id": m.id().to_string(), "content": m.content()}))
                    .collect()
            })
            .unwrap_or_default();
        theirs_msgs.sort_by_key(|m| id(&m["id"]));
        let ours_msgs: Vec<Value> = ours
            .messages(Id(*ch))
            .into_iter()
            .map(|m| fields(&json(m), &["id", "content"]))
            .collect();
        agree(
            &format!("channel {ch}: messages"),
            &json!(theirs_msgs),
            &json!(ours_msgs),
        );
    }

    // what the cache does not keep yet, twilight against the fake's state
    let instances: Vec<Value> = theirs
        .guild_stage_instances(tg)
        .map(|r| {
            r.value()
                .iter()
                .filter_map(|s| theirs.stage_instance(*s).map(|x| json(x.resource())))
                .collect()
        })
        .unwrap_or_default();
    let keys = &["id", "channel_id", "topic"];
    same_as(
        &format!("guild {g}: stage instances"),
        ["twilight", "the fake's state"],
        &json!(set_of(instances, keys)),
        &json!(set_of(state.stage_instances(g), keys)),
    );
    let events: Vec<Value> = theirs
        .scheduled_events(tg)
        .map(|r| {
            r.value()
                .iter()
                .filter_map(|s| theirs.scheduled_event(*s).map(|x| json(x.resource())))
                .collect()
        })
        .unwrap_or_default();
    let keys = &["id", "name", "status", "creator_id"];
    same_as(
        &format!("guild {g}: scheduled events"),
        ["twilight", "the fake's state"],
        &json!(set_of(events, keys)),
        &json!(set_of(state.scheduled_events(g), keys)),
    );
}

fn agree_on_member(
    ours: &ShardCache,
    theirs: &DefaultInMemoryCache,
    g: u64,
    user: u64,
    roles: &BTreeSet<String>,
    carried: &Carried,
) {
    let (gid, tg, tu) = (Id(g), TId::new(g), TId::new(user));
    let ours_m = json(&ours.member(gid, Id(user)).map(|m| json(&m)));
    let Some(m) = theirs.member(tg, tu) else {
        panic!("guild {g}: twilight has no member {user}; ours: {ours_m}");
    };
    let stamp =
        |t: Option<twilight_model::util::Timestamp>| json!(t.map(|t| t.iso_8601().to_string()));
    let mut their_roles: Vec<String> = m.roles().iter().map(ToString::to_string).collect();
    their_roles.retain(|r| roles.contains(r));
    their_roles.sort();
    let mut our_roles: Vec<String> =
        serde_json::from_value(ours_m["roles"].clone()).unwrap_or_default();
    our_roles.sort();
    let user_json = theirs
        .user(tu)
        .map(|u| json(u.value()))
        .unwrap_or(Value::Null);
    let mut their = json!({
        "nick": m.nick(), "avatar": m.avatar().map(|a| a.to_string()), "roles": their_roles,
        "joined_at": stamp(m.joined_at()),
        "communication_disabled_until": stamp(m.communication_disabled_until()),
        "deaf": m.deaf(), "mute": m.mute(), "pending": m.pending(),
        "user": fields(&user_json, &["id", "username", "global_name", "avatar"]),
    });
    let mut our = fields(
        &ours_m,
        &[
            "nick",
            "avatar",
            "joined_at",
            "communication_disabled_until",
            "deaf",
            "mute",
            "pending",
        ],
    );
    for key in RESET {
        if !carried.has(g, user, key) {
            their.as_object_mut().map(|o| o.remove(*key));
            our.as_object_mut().map(|o| o.remove(*key));
        }
    }
    our["roles"] = json!(our_roles);
    our["user"] = fields(
        &ours_m["user"],
        &["id", "username", "global_name", "avatar"],
    );
    agree(&format!("guild {g}: member {user}"), &their, &our);

    let presence = |p: Option<Value>| {
        let p = p.unwrap_or(json!({"status": "offline"}));
        if p["status"] == "offline" {
            return json!({"status": "offline"});
        }
        let activities: Vec<Value> = p["activities"]
            .as_array()
            .map(|l| l.iter().map(|a| fields(a, &["type", "name"])).collect())
            .unwrap_or_default();
        json!({"status": p["status"], "client_status": p["client_status"], "activities": activities})
    };
    let ours_p = ours.presence(gid, Id(user)).as_deref().map(json);
    if ours_p.is_some() || !carried.presence_left_behind(g, user) {
        agree(
            &format!("guild {g}: presence of {user}"),
            &presence(theirs.presence(tg, tu).map(|p| json(p.value()))),
            &presence(ours_p),
        );
    }
    let in_voice = theirs
        .guild_voice_states(tg)
        .is_some_and(|v| v.value().contains(&tu));
    let their_channel = in_voice
        .then(|| {
            theirs
                .voice_state(tu, tg)
                .map(|v| v.channel_id().to_string())
        })
        .flatten();
    let our_channel = ours
        .voice_state(gid, Id(user))
        .map(json)
        .and_then(|v| v["channel_id"].as_str().map(str::to_owned));
    assert_eq!(
        their_channel, our_channel,
        "guild {g}: voice channel of {user} (twilight, ours)"
    );
}

/// Fails unless twilight's answer equals ours.
#[track_caller]
fn agree(what: &str, twilight: &Value, ours: &Value) {
    same_as(what, ["twilight", "switchyard"], twilight, ours);
}
