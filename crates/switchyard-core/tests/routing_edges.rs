//! Routing on the skimmer's edges: strings and escape runs crossing 64-byte blocks at every
//! offset, frames larger than the on-stack index (4 KiB), deep nesting, whitespace anywhere,
//! and malformed skipped values, each checked against serde_json.

use proptest::prelude::*;
use serde_json::{Value, json};
use switchyard_core::{RoutingIds, parse_dispatch};

/// The ids a MESSAGE_CREATE routes by, read from a full serde_json tree.
fn reference(d: &Value) -> RoutingIds {
    let at = |path: &[&str]| -> Option<u64> {
        let mut v = d;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().and_then(|s| s.parse().ok())
    };
    RoutingIds {
        guild: at(&["guild_id"]),
        channel: at(&["channel_id"]),
        user: at(&["author", "id"]),
    }
}

fn message(d: &Value) -> String {
    json!({"t": "MESSAGE_CREATE", "s": 3, "op": 0, "d": d}).to_string()
}

/// Routes `text` and checks ids and the raw `d` against serde_json.
fn check(text: &str) {
    let tree: Value = serde_json::from_str(text).expect("test frames are JSON");
    let d = &tree["d"];
    let dispatch = parse_dispatch(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(dispatch.ids, reference(d), "{text}");
    let raw: Value = serde_json::from_str(dispatch.data).expect("raw d is JSON");
    assert_eq!(&raw, d);
}

#[test]
fn strings_and_escape_runs_cross_block_boundaries_at_every_offset() {
    for offset in 0..140 {
        for run in 0..5 {
            // A decoy key inside a string whose escapes end on or across a block boundary.
            let content = format!(
                "{}{}\"guild_id\":\"666\"",
                "a".repeat(offset),
                "\\".repeat(2 * run)
            );
            let d = json!({
                "content": content,
                "nested": {"guild_id": "7", "s": [content.clone(), {"author": {"id": "8"}}]},
                "guild_id": "1", "channel_id": "2", "author": {"id": "3", "name": content},
            });
            check(&message(&d));
        }
    }
}

#[test]
fn frames_larger_than_the_stack_index() {
    for size in [4000, 4096, 4097, 5000, 70_000] {
        let d = json!({
            "referenced_message": {"content": "x\"]}".repeat(size / 4), "guild_id": "9"},
            "mentions": vec![json!({"id": "5", "member": {"user": {"id": "6"}}}); size / 100],
            "guild_id": "1", "channel_id": "2", "author": {"id": "3"},
        });
        check(&message(&d));
    }
}

#[test]
fn deep_nesting_up_to_the_limit() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let frame = |depth: usize| {
        format!(
            r#"{{"t":"MESSAGE_CREATE","op":0,"d":{{"x":{},"guild_id":"1"}}}}"#,
            nested(depth)
        )
    };
    let deepest = frame(128);
    let ok = parse_dispatch(&deepest).expect("128 levels are fine");
    assert_eq!(ok.ids.guild, Some(1));
    assert!(parse_dispatch(&frame(129)).is_err());
    let objects = format!("{}1{}", r#"{"a":"#.repeat(100), "}".repeat(100));
    check(&message(
        &json!({"deep": serde_json::from_str::<Value>(&objects).expect("json"),
        "author": {"id": "3"}, "guild_id": "1"}),
    ));
}

#[test]
fn whitespace_anywhere() {
    let d = json!({
        "message_reference": {"guild_id": "900"},
        "member": {"user": {"id": "5"}, "roles": [1, 2]},
        "channel_id": "2", "guild_id": "1", "author": {"id": "3", "bot": true}, "n": null,
        "f": -1.5e3,
    });
    let frame = json!({"op": 0, "t": "MESSAGE_CREATE", "s": 1, "d": d});
    check(&serde_json::to_string_pretty(&frame).expect("json"));
    let spaced = message(&d).replace(':', " \t: \r\n").replace(',', " ,\n ");
    check(&format!("  {spaced}  "));
}

#[test]
fn malformed_skipped_values_are_refused() {
    for bad in [
        r#"[}"#,
        r#"{"a":1]"#,
        r#"[1,_]"#,
        r#"[y]"#,
        r#"[1]]"#,
        r#"[\"a"]"#,
        r#""open"#,
        r#"[1,"x\"]"#,
        r#"tru"#,
        r#"nul"#,
        r#"+1"#,
    ] {
        let text = format!(r#"{{"t":"MESSAGE_CREATE","op":0,"d":{{"x":{bad},"guild_id":"1"}}}}"#);
        assert!(parse_dispatch(&text).is_err(), "routed: {text}");
    }
}

/// Strings full of the characters that matter to the skimmer.
fn tricky() -> impl Strategy<Value = String> {
    "[a\"\\\\{}\\[\\]:, é]{0,90}"
}

proptest! {
    /// Arbitrary padding shifts every key and value across block boundaries.
    #[test]
    fn agrees_with_serde_json_wherever_blocks_fall(
        pad in tricky(),
        text in tricky(),
        guild in 1u64..u64::MAX,
        author in 1u64..u64::MAX,
        pretty in any::<bool>(),
    ) {
        let d = json!({
            "pad": pad,
            "referenced_message": {"content": text, "guild_id": "7", "author": {"id": "8"}},
            "mentions": [{"id": "9", "tags": [text, pad]}],
            "guild_id": guild.to_string(),
            "author": {"name": text, "id": author.to_string()},
            "channel_id": "2",
        });
        let frame = json!({"t": "MESSAGE_CREATE", "s": 5, "op": 0, "d": d});
        let text = if pretty {
            serde_json::to_string_pretty(&frame).expect("json")
        } else {
            frame.to_string()
        };
        let dispatch = parse_dispatch(&text).expect("routable");
        prop_assert_eq!(dispatch.ids, reference(&d));
        prop_assert_eq!(dispatch.seq, Some(5));
    }
}
