//! Property tests: pattern matching against a simple reference matcher, glob translation,
//! and envelope and control round trips.

use proptest::prelude::*;
use switchyard_core::control::{ControlMessage, ControlOp};
use switchyard_core::envelope::{Envelope, Source, encode_into};
use switchyard_core::{Pattern, Topic, parse_dispatch};

/// The reference: recursive matching over segment lists, as NATS defines it.
fn reference(pattern: &[&str], topic: &[&str]) -> bool {
    match (pattern.split_first(), topic.split_first()) {
        (None, None) => true,
        (Some((&">", [])), Some(_)) => true,
        (Some((&"*", prest)), Some((_, trest))) => reference(prest, trest),
        (Some((p, prest)), Some((t, trest))) => p == t && reference(prest, trest),
        _ => false,
    }
}

/// A small alphabet so that patterns and topics often overlap.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab]",
        "[ab]{2}",
        Just("x?".to_owned()),
        Just("[c]".to_owned())
    ]
}

fn topic_segments() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(segment(), 1..6)
}

fn pattern_segments() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(prop_oneof![3 => segment(), 1 => Just("*".to_owned())], 1..6),
        any::<bool>(),
    )
        .prop_map(|(mut segs, tail)| {
            if tail {
                *segs.last_mut().expect("non-empty") = ">".to_owned();
            }
            segs
        })
}

/// Redis's glob semantics for the characters our translation emits (`*` and `\` escapes).
fn redis_glob_matches(glob: &[u8], s: &[u8]) -> bool {
    match glob.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| redis_glob_matches(rest, &s[i..])),
        Some((b'\\', rest)) => match (rest.split_first(), s.split_first()) {
            (Some((g, grest)), Some((c, srest))) => g == c && redis_glob_matches(grest, srest),
            _ => false,
        },
        Some((g, rest)) => s
            .split_first()
            .is_some_and(|(c, srest)| g == c && redis_glob_matches(rest, srest)),
    }
}

proptest! {
    #[test]
    fn matching_agrees_with_reference(p in pattern_segments(), t in topic_segments()) {
        let pattern = Pattern::new(&p.join(".")).expect("generated patterns are valid");
        let topic = Topic::new(&t.join(".")).expect("generated topics are valid");
        let p_refs: Vec<&str> = p.iter().map(String::as_str).collect();
        let t_refs: Vec<&str> = t.iter().map(String::as_str).collect();
        prop_assert_eq!(pattern.matches(topic.as_str()), reference(&p_refs, &t_refs));
    }

    #[test]
    fn redis_glob_is_a_superset(p in pattern_segments(), t in topic_segments()) {
        let pattern = Pattern::new(&p.join(".")).expect("valid");
        let topic = t.join(".");
        if pattern.matches(&topic) {
            prop_assert!(redis_glob_matches(pattern.to_redis_glob().as_bytes(), topic.as_bytes()),
                "glob {} must match {}", pattern.to_redis_glob(), topic);
        }
    }

    #[test]
    fn topic_parse_display_round_trip(t in topic_segments()) {
        let text = t.join(".");
        let topic = Topic::new(&text).expect("valid");
        prop_assert_eq!(topic.to_string(), text.clone());
        let as_pattern = Pattern::from(&topic);
        prop_assert_eq!(as_pattern.as_str(), text.as_str());
        prop_assert!(Pattern::from(&topic).matches(&text));
    }

    #[test]
    fn envelope_round_trip(
        bot in "[a-z]{1,8}|\\PC{1,6}",
        shard in any::<u32>(),
        session in "[a-f0-9]{8}",
        seq in any::<u64>(),
        received in any::<u64>(),
        content in "\\PC{0,40}",
        old in prop::option::of("\\PC{0,10}"),
    ) {
        let d = serde_json::json!({"content": content, "channel_id": "2", "author": {"id": "3"}});
        let frame = serde_json::json!({"op": 0, "t": "MESSAGE_CREATE", "s": seq, "d": d}).to_string();
        let dispatch = parse_dispatch(&frame).expect("routable");
        let source = Source { platform: "discord", bot: &bot, shard, session: &session, epoch: None };
        let old_json = old.map(|o| serde_json::Value::String(o).to_string());
        let mut out = Vec::new();
        encode_into(&mut out, &source, &dispatch, received, old_json.as_deref());
        let env = Envelope::decode(&out).expect("decodes");
        prop_assert_eq!(&*env.bot, bot.as_str());
        prop_assert_eq!(env.s.to_string(), format!("discord/{bot}/{shard}"));
        prop_assert_eq!(env.seq, Some(seq));
        prop_assert_eq!(env.shard, shard);
        prop_assert_eq!(env.received_ms, received);
        prop_assert_eq!(env.d.get(), dispatch.data);
        prop_assert_eq!(env.old.map(|o| o.get().to_owned()), old_json);
        // Re-encoding the decoded envelope with serde gives the same JSON value.
        let again: serde_json::Value = serde_json::from_slice(&serde_json::to_vec(&env).expect("ser")).expect("json");
        let first: serde_json::Value = serde_json::from_slice(&out).expect("json");
        prop_assert_eq!(again, first);
    }

    #[test]
    fn control_round_trip(code in prop::sample::select(vec![0u8, 1, 2, 10, 11, 12]), source in "\\PC{0,12}", n in any::<i64>()) {
        let op = ControlOp::from_code(u64::from(code)).expect("known");
        let msg = ControlMessage::new(source, op, &serde_json::json!({"n": n})).expect("object");
        prop_assert_eq!(ControlMessage::decode(&msg.encode()).expect("decodes"), msg);
    }
}
