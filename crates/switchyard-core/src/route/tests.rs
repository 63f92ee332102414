//! Extraction tests: decoys a substring scan would fall for, the A5 table, and a property test
//! against a full serde_json parse.

use super::*;
use proptest::prelude::*;
use serde_json::{Value, json};

fn ids(frame: &str) -> RoutingIds {
    parse_dispatch(frame).expect("routable").ids
}

fn frame(t: &str, d: Value) -> String {
    json!({"op": 0, "s": 1, "t": t, "d": d}).to_string()
}

fn r(guild: u64, channel: u64, user: u64) -> RoutingIds {
    let opt = |v: u64| if v == 0 { None } else { Some(v) };
    RoutingIds {
        guild: opt(guild),
        channel: opt(channel),
        user: opt(user),
    }
}

#[test]
fn nested_decoys_are_ignored() {
    // The reply's reference and the referenced message come first and carry other ids.
    let d = json!({
        "message_reference": {"guild_id": "900", "channel_id": "901", "message_id": "902"},
        "referenced_message": {"author": {"id": "903"}, "channel_id": "901", "guild_id": "900"},
        "mentions": [{"id": "904", "member": {"user": {"id": "905"}}}],
        "member": {"roles": [], "nick": "x"},
        "id": "10", "channel_id": "2", "guild_id": "1", "author": {"id": "3", "username": "u"}
    });
    assert_eq!(ids(&frame("MESSAGE_CREATE", d)), r(1, 2, 3));
}

#[test]
fn interaction_user_in_guild_and_in_dm() {
    let guild = json!({
        "id": "50", "application_id": "51", "type": 2,
        "data": {"resolved": {"users": {"777": {"id": "777"}}}, "target_id": "777"},
        "guild_id": "1", "channel_id": "2", "channel": {"id": "2", "guild_id": "1"},
        "member": {"user": {"id": "3"}, "roles": []}
    });
    assert_eq!(ids(&frame("INTERACTION_CREATE", guild)), r(1, 2, 3));
    let dm = json!({"id": "50", "type": 2, "channel_id": "2", "user": {"id": "4"}});
    assert_eq!(ids(&frame("INTERACTION_CREATE", dm)), r(0, 2, 4));
}

#[test]
fn keys_in_any_order_and_escaped_strings() {
    let text = r#"{"d":{"content":"\"guild_id\":\"666\" \\ \u00e9","author":{"id":"3"},"guild_id":"1","channel_id":"2"},"s":9,"op":0,"t":"MESSAGE_CREATE"}"#;
    let dispatch = parse_dispatch(text).expect("routable");
    assert_eq!(dispatch.ids, r(1, 2, 3));
    assert_eq!(dispatch.seq, Some(9));
    assert!(dispatch.data.starts_with("{\"content\""));
    assert!(matches!(dispatch.event, Cow::Borrowed("MESSAGE_CREATE")));
    let escaped =
        r#"{"op":0,"s":1,"t":"MESSAGE\u005fCREATE","d":{"channel_id":"2","author":{"id":"3"}}}"#;
    let dispatch = parse_dispatch(escaped).expect("routable");
    assert_eq!(dispatch.event, "MESSAGE_CREATE");
    assert_eq!(dispatch.ids, r(0, 2, 3));
}

#[test]
fn a5_table() {
    let cases: Vec<(&str, Value, RoutingIds)> = vec![
        (
            "MESSAGE_UPDATE",
            json!({"id":"9","channel_id":"2","guild_id":"1","author":{"id":"3"}}),
            r(1, 2, 3),
        ),
        (
            "MESSAGE_DELETE",
            json!({"id":"9","channel_id":"2","guild_id":"1"}),
            r(1, 2, 0),
        ),
        (
            "MESSAGE_DELETE_BULK",
            json!({"ids":["9"],"channel_id":"2"}),
            r(0, 2, 0),
        ),
        (
            "MESSAGE_REACTION_ADD",
            json!({"user_id":"3","channel_id":"2","message_id":"9","guild_id":"1","member":{"user":{"id":"3"}},"emoji":{"id":null,"name":"x"},"message_author_id":"8"}),
            r(1, 2, 3),
        ),
        (
            "MESSAGE_REACTION_REMOVE_ALL",
            json!({"channel_id":"2","message_id":"9","guild_id":"1"}),
            r(1, 2, 0),
        ),
        (
            "GUILD_CREATE",
            json!({"id":"1","channels":[{"id":"5","guild_id":"1"}],"members":[{"user":{"id":"6"}}],"unavailable":false}),
            r(1, 0, 0),
        ),
        (
            "GUILD_DELETE",
            json!({"id":"1","unavailable":true}),
            r(1, 0, 0),
        ),
        (
            "CHANNEL_CREATE",
            json!({"id":"2","guild_id":"1","parent_id":"7","type":0}),
            r(1, 2, 0),
        ),
        (
            "THREAD_DELETE",
            json!({"id":"2","guild_id":"1","parent_id":"7","type":11}),
            r(1, 2, 0),
        ),
        (
            "THREAD_MEMBERS_UPDATE",
            json!({"id":"2","guild_id":"1","member_count":3}),
            r(1, 2, 0),
        ),
        (
            "THREAD_LIST_SYNC",
            json!({"guild_id":"1","channel_ids":["2"],"threads":[]}),
            r(1, 0, 0),
        ),
        (
            "GUILD_MEMBER_ADD",
            json!({"guild_id":"1","user":{"id":"3"},"roles":[]}),
            r(1, 0, 3),
        ),
        (
            "GUILD_MEMBER_REMOVE",
            json!({"guild_id":"1","user":{"id":"3"}}),
            r(1, 0, 3),
        ),
        (
            "GUILD_BAN_ADD",
            json!({"guild_id":"1","user":{"id":"3"}}),
            r(1, 0, 3),
        ),
        (
            "PRESENCE_UPDATE",
            json!({"user":{"id":"3"},"guild_id":"1","status":"online"}),
            r(1, 0, 3),
        ),
        (
            "VOICE_STATE_UPDATE",
            json!({"guild_id":"1","channel_id":null,"user_id":"3","member":{"user":{"id":"3"}}}),
            r(1, 0, 3),
        ),
        (
            "TYPING_START",
            json!({"channel_id":"2","guild_id":"1","user_id":"3","timestamp":1}),
            r(1, 2, 3),
        ),
        (
            "GUILD_SCHEDULED_EVENT_USER_ADD",
            json!({"guild_scheduled_event_id":"9","user_id":"3","guild_id":"1"}),
            r(1, 0, 3),
        ),
        (
            "AUTO_MODERATION_ACTION_EXECUTION",
            json!({"guild_id":"1","user_id":"3","channel_id":"2","message_id":"9"}),
            r(1, 2, 3),
        ),
        (
            "MESSAGE_POLL_VOTE_ADD",
            json!({"user_id":"3","channel_id":"2","message_id":"9","guild_id":"1","answer_id":1}),
            r(1, 2, 3),
        ),
        (
            "GUILD_ROLE_UPDATE",
            json!({"guild_id":"1","role":{"id":"8"}}),
            r(1, 0, 0),
        ),
        (
            "GUILD_ROLE_DELETE",
            json!({"guild_id":"1","role_id":"8"}),
            r(1, 0, 0),
        ),
        (
            "VOICE_SERVER_UPDATE",
            json!({"token":"t","guild_id":"1","endpoint":null}),
            r(1, 0, 0),
        ),
        (
            "WEBHOOKS_UPDATE",
            json!({"guild_id":"1","channel_id":"2"}),
            r(1, 2, 0),
        ),
        (
            "INVITE_CREATE",
            json!({"channel_id":"2","guild_id":"1","code":"x","inviter":{"id":"3"}}),
            r(1, 2, 0),
        ),
        ("CHANNEL_PINS_UPDATE", json!({"channel_id":"2"}), r(0, 2, 0)),
        (
            "THREAD_MEMBER_UPDATE",
            json!({"id":"2","user_id":"3","guild_id":"1"}),
            r(1, 2, 3),
        ),
        (
            "READY",
            json!({"v":10,"user":{"id":"3"},"guilds":[{"id":"1","unavailable":true}],"session_id":"s"}),
            r(0, 0, 3),
        ),
        ("RESUMED", json!(null), r(0, 0, 0)),
        ("USER_UPDATE", json!({"id":"3","username":"u"}), r(0, 0, 3)),
        (
            "ENTITLEMENT_CREATE",
            json!({"id":"9","user_id":"3","guild_id":null}),
            r(0, 0, 3),
        ),
        (
            "MESSAGE_CREATE",
            json!({"id":"9","channel_id":"2","author":{"id":"3"}}),
            r(0, 2, 3),
        ),
    ];
    for (event, d, want) in cases {
        assert_eq!(ids(&frame(event, d)), want, "{event}");
    }
}

#[test]
fn null_and_odd_typed_fields_count_as_absent() {
    let d = json!({"guild_id": "1", "channel_id": "2", "member": null, "user": {"id": "3"}});
    assert_eq!(ids(&frame("INTERACTION_CREATE", d)), r(1, 2, 3));
    let d = json!({"channel_id": "2", "author": 5, "member": {"user": null}});
    assert_eq!(ids(&frame("MESSAGE_CREATE", d)), r(0, 2, 0));
    let dispatch = parse_dispatch(r#"{"op":0,"s":2,"t":"RESUMED","d":null}"#).expect("ok");
    assert_eq!(
        (dispatch.data, dispatch.ids),
        ("null", RoutingIds::default())
    );
}

#[test]
fn errors_name_the_problem() {
    assert!(matches!(parse_dispatch("{"), Err(RouteError::Json(_))));
    assert!(matches!(
        parse_dispatch(r#"{"op":11,"d":null}"#),
        Err(RouteError::NotDispatch(11))
    ));
    assert!(matches!(
        parse_dispatch(r#"{"op":0,"d":{}}"#),
        Err(RouteError::Missing("t"))
    ));
    assert!(matches!(
        parse_dispatch(r#"{"op":0,"t":"X"}"#),
        Err(RouteError::Missing("d"))
    ));
    let bad = parse_dispatch(r#"{"op":0,"t":"TYPING_START","d":{"guild_id":"abc"}}"#);
    assert!(
        matches!(
            bad,
            Err(RouteError::BadId {
                field: "guild_id",
                ..
            })
        ),
        "{bad:?}"
    );
}

#[test]
fn numbers_parse_as_std_does() {
    let mut cases = vec![
        String::new(),
        "+".into(),
        "+7".into(),
        "-1".into(),
        "1a".into(),
    ];
    for len in 1..=21 {
        cases.push("9".repeat(len));
        cases.push(format!("1{}", "0".repeat(len - 1)));
        cases.push(format!("{}x", "1".repeat(len - 1)));
        cases.push(format!("{}:", "2".repeat(len - 1)));
    }
    cases.extend(
        [
            "18446744073709551615",
            "18446744073709551616",
            "00000000000000000042",
        ]
        .map(String::from),
    );
    for case in cases {
        assert_eq!(
            parse_u64(case.as_bytes()),
            case.parse::<u64>().ok(),
            "{case:?}"
        );
    }
}

/// The reference: the same rules, applied to a full serde_json tree.
fn reference(event: &str, d: &Value) -> RoutingIds {
    let at = |path: &[&str]| -> Option<u64> {
        let mut v = d;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().and_then(|s| s.parse().ok())
    };
    match rule_for(event) {
        Rule::Guild => r(at(&["id"]).unwrap_or(0), 0, 0),
        Rule::Channel => RoutingIds {
            guild: at(&["guild_id"]),
            channel: at(&["id"]),
            user: at(&["user_id"]),
        },
        Rule::Message => RoutingIds {
            guild: at(&["guild_id"]),
            channel: at(&["channel_id"]),
            user: at(&["author", "id"]),
        },
        Rule::Interaction => RoutingIds {
            guild: at(&["guild_id"]),
            channel: at(&["channel_id"]),
            user: at(&["member", "user", "id"]).or(at(&["user", "id"])),
        },
        Rule::User => RoutingIds {
            guild: None,
            channel: None,
            user: at(&["id"]),
        },
        Rule::Ready => RoutingIds {
            guild: None,
            channel: None,
            user: at(&["user", "id"]),
        },
        Rule::Generic => RoutingIds {
            guild: at(&["guild_id"]),
            channel: at(&["channel_id"]),
            user: at(&["user_id"])
                .or(at(&["user", "id"]))
                .or(at(&["author", "id"]))
                .or(at(&["member", "user", "id"])),
        },
    }
}

/// Values of the wrong type where an object is expected.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::String),
        Just(json!([])),
    ]
}

fn snowflake_value() -> impl Strategy<Value = Value> {
    (1u64..u64::MAX).prop_map(|n| Value::String(n.to_string()))
}

/// Arbitrary JSON trees whose keys include the routing keys, so decoys appear at every depth.
fn json_tree() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("guild_id".to_owned()),
        Just("channel_id".to_owned()),
        Just("user_id".to_owned()),
        Just("id".to_owned()),
        Just("author".to_owned()),
        Just("user".to_owned()),
        Just("member".to_owned()),
        "[a-z_]{1,8}",
        "\\PC{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        snowflake_value(),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A `d` object whose routing fields, when present, are snowflakes or nested objects.
fn payload() -> impl Strategy<Value = Value> {
    let user_obj = || snowflake_value().prop_map(|id| json!({"id": id}));
    (
        prop::collection::vec(("[a-z_]{1,10}", json_tree()), 0..6).prop_map(|kv| {
            kv.into_iter()
                .filter(|(k, _)| !ROUTING_KEYS.contains(&k.as_str()))
                .collect::<Vec<_>>()
        }),
        prop::option::of(snowflake_value()),
        prop::option::of(snowflake_value()),
        prop::option::of(snowflake_value()),
        prop::option::of(snowflake_value()),
        prop::option::of(prop_oneof![4 => user_obj(), 1 => odd_value()]),
        prop::option::of(prop_oneof![4 => user_obj(), 1 => odd_value()]),
        prop::option::of(prop_oneof![
            4 => user_obj().prop_map(|u| json!({"user": u, "roles": []})),
            1 => odd_value(),
            1 => odd_value().prop_map(|u| json!({"user": u})),
        ]),
    )
        .prop_map(
            |(noise, guild, channel, id, user_id, author, user, member)| {
                let mut map = serde_json::Map::new();
                for (k, v) in noise {
                    map.insert(k, v);
                }
                let fields = [
                    ("guild_id", guild),
                    ("channel_id", channel),
                    ("id", id),
                    ("user_id", user_id),
                    ("author", author),
                    ("user", user),
                    ("member", member),
                ];
                for (k, v) in fields {
                    if let Some(v) = v {
                        map.insert(k.to_owned(), v);
                    }
                }
                Value::Object(map)
            },
        )
}

/// Top-level keys the property test sets itself (noise never reuses them).
const ROUTING_KEYS: &[&str] = &[
    "guild_id",
    "channel_id",
    "id",
    "user_id",
    "author",
    "user",
    "member",
];

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("MESSAGE_CREATE".to_owned()),
        Just("GUILD_CREATE".to_owned()),
        Just("CHANNEL_UPDATE".to_owned()),
        Just("INTERACTION_CREATE".to_owned()),
        Just("USER_UPDATE".to_owned()),
        Just("READY".to_owned()),
        Just("TYPING_START".to_owned()),
        "[A-Z_]{3,20}",
    ]
}

proptest! {
    #[test]
    fn extraction_agrees_with_a_full_parse(event in event_name(), d in payload(), seq in any::<u32>(), order in 0usize..24) {
        // Write the frame's four keys in one of the 24 orders.
        let mut keys = vec![
            ("op", json!(0)), ("s", json!(seq)), ("t", json!(event)), ("d", d.clone()),
        ];
        let mut idx = order;
        let mut ordered = Vec::new();
        while !keys.is_empty() {
            let n = keys.len();
            ordered.push(keys.remove(idx % n));
            idx /= n;
        }
        let body: Vec<String> = ordered.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let text = format!("{{{}}}", body.join(","));

        let dispatch = parse_dispatch(&text).expect("routable");
        prop_assert_eq!(dispatch.ids, reference(&event, &d));
        prop_assert_eq!(&*dispatch.event, event.as_str());
        prop_assert_eq!(dispatch.seq, Some(u64::from(seq)));
        let reparsed: Value = serde_json::from_str(dispatch.data).expect("raw d is JSON");
        prop_assert_eq!(reparsed, d);
    }
}

proptest! {
    /// A frame cut short anywhere is refused, never routed with a partial `d`.
    #[test]
    fn truncated_frames_are_refused(event in event_name(), d in payload(), cut in any::<prop::sample::Index>()) {
        let text = json!({"op": 0, "s": 1, "t": event, "d": d}).to_string();
        let end = cut.index(text.len());
        if let Some(prefix) = text.get(..end) {
            prop_assert!(parse_dispatch(prefix).is_err(), "prefix routed: {prefix}");
        }
    }
}
