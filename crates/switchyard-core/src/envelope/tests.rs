//! Tests of the parent module.

use super::*;
use crate::route::parse_dispatch;

const SOURCE: Source<'static> = Source {
    platform: "discord",
    bot: "echo",
    shard: 2,
    session: "abc",
    epoch: None,
};

#[test]
fn encode_splices_d_byte_for_byte_and_decodes() {
    let frame = r#"{"op":0,"s":41,"t":"MESSAGE_CREATE","d":{"content":"h\u00e9 \"x\"",  "id":"1", "channel_id":"2","author":{"id":"3"}}}"#;
    let dispatch = parse_dispatch(frame).expect("routable");
    let mut out = Vec::new();
    encode_into(&mut out, &SOURCE, &dispatch, 1_700_000_000_000, None);
    let env = Envelope::decode(&out).expect("decodes");
    assert_eq!(env.s, "discord/echo/2");
    assert_eq!(env.t, "MESSAGE_CREATE");
    assert_eq!(env.seq, Some(41));
    assert_eq!(env.shard, 2);
    assert_eq!(env.received_ms, 1_700_000_000_000);
    assert_eq!(env.d.get(), dispatch.data);
    assert!(env.old.is_none());
    assert_eq!(env.id.len(), 32);
    // Byte for byte, the layout the format has always had.
    let id = String::from_utf8(event_id(&SOURCE, 41).to_vec()).expect("hex");
    let want = format!(
        r#"{{"v":1,"id":"{id}","s":"discord/echo/2","t":"MESSAGE_CREATE","seq":41,"shard":2,"bot":"echo","received_ms":1700000000000,"d":{}}}"#,
        dispatch.data
    );
    assert_eq!(String::from_utf8(out).expect("utf-8"), want);
    let mut out = Vec::new();
    let resumed = Dispatch {
        seq: None,
        ..dispatch
    };
    encode_into(&mut out, &SOURCE, &resumed, 5, Some(r#"{"a":1}"#));
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains(r#""seq":null,"shard":2"#), "{text}");
    assert!(text.ends_with(r#","old":{"a":1}}"#), "{text}");
}

#[test]
fn a_made_up_event_says_so_and_has_an_id_of_its_own() {
    let frame =
        r#"{"op":0,"s":null,"t":"GUILD_MEMBER_REMOVE","d":{"guild_id":"1","user":{"id":"3"}}}"#;
    let dispatch = parse_dispatch(frame).expect("routable");
    let mut out = Vec::new();
    let id = encode_synthetic_into(
        &mut out,
        &SOURCE,
        &dispatch,
        5,
        Some(r#"{"nick":"n"}"#),
        ("rebuild", 41, 2),
    );
    let env = Envelope::decode(&out).expect("decodes");
    assert_eq!(env.synthetic.as_deref(), Some("rebuild"));
    assert_eq!(env.seq, None);
    assert_eq!(env.old.map(RawValue::get), Some(r#"{"nick":"n"}"#));
    assert_eq!(env.id.as_bytes(), id);
    assert_eq!(
        id,
        synthetic_id(&SOURCE, 41, 2),
        "the same events get the same ids"
    );
    assert_ne!(id, synthetic_id(&SOURCE, 41, 3));
    assert_ne!(id, event_id(&SOURCE, 41), "never the id of a real event");
    let mut plain = Vec::new();
    encode_into(&mut plain, &SOURCE, &dispatch, 5, None);
    assert!(
        Envelope::decode(&plain)
            .expect("decodes")
            .synthetic
            .is_none()
    );
}

#[test]
fn id_is_deterministic_and_distinguishes_sessions_and_seqs() {
    let a = event_id(&SOURCE, 5);
    assert_eq!(a, event_id(&SOURCE, 5));
    assert_ne!(a, event_id(&SOURCE, 6));
    let other = Source {
        session: "abd",
        ..SOURCE
    };
    assert_ne!(a, event_id(&other, 5));
}

/// The id as first defined: streamed into XXH3 piece by piece.
fn streamed_id(source: &Source<'_>, seq: u64) -> [u8; 32] {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(source.bot.as_bytes());
    hasher.update(&[0]);
    hasher.update(&source.shard.to_le_bytes());
    hasher.update(source.session.as_bytes());
    hasher.update(&[0]);
    hasher.update(&seq.to_le_bytes());
    hex32(hasher.digest128())
}

#[test]
fn id_is_stable_across_short_and_long_names() {
    let long = "x".repeat(300);
    for (bot, session) in [
        ("echo", "abc"),
        ("", ""),
        (long.as_str(), "s"),
        ("b", &long),
    ] {
        let source = Source {
            bot,
            session,
            ..SOURCE
        };
        for seq in [0, 1, u64::MAX] {
            assert_eq!(event_id(&source, seq), streamed_id(&source, seq));
        }
    }
    let hex = hex32(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
    assert_eq!(&hex, b"0123456789abcdeffedcba9876543210");
}

#[test]
fn names_are_escaped_only_when_needed() {
    for s in [
        "plain",
        "",
        "exactly8",
        "a\"quote",
        "back\\slash",
        "ctl\u{1}x",
        "long name with a \" at the end\"",
    ] {
        let mut out = Vec::new();
        escape_into(&mut out, s);
        let quoted = format!("\"{}\"", String::from_utf8(out).expect("utf-8"));
        assert_eq!(
            serde_json::from_str::<String>(&quoted).expect("valid JSON"),
            s
        );
    }
    assert!(!needs_escape("héllo wörld, no escapes".as_bytes()));
    // Every length and position, against the byte-at-a-time definition.
    for len in 0..20 {
        for at in 0..len {
            for special in [b'"', b'\\', 0x00, 0x1f, b' ', 0x7f, 0xc3] {
                let mut bytes = vec![b'a'; len];
                bytes[at] = special;
                let want = bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
                assert_eq!(needs_escape(&bytes), want, "{bytes:?}");
            }
        }
    }
    assert!(needs_escape(b"twelve bytes\x7f\x1f"));
}

#[test]
fn newer_versions_and_garbage_are_refused() {
    let newer =
        br#"{"v":99,"id":"x","s":"a","t":"T","seq":1,"shard":0,"bot":"b","received_ms":1,"d":{}}"#;
    assert!(matches!(
        Envelope::decode(newer),
        Err(EnvelopeError::UnsupportedVersion(99))
    ));
    assert!(matches!(
        Envelope::decode(b"{\"v\":1"),
        Err(EnvelopeError::Malformed(_))
    ));
}

#[test]
fn a_pool_s_epoch_is_written_last_and_leaves_the_id_alone() {
    let frame = r#"{"op":0,"s":41,"t":"TYPING_START","d":{"channel_id":"2"}}"#;
    let dispatch = parse_dispatch(frame).expect("routable");
    let pooled = Source {
        epoch: Some(1 << 30),
        ..SOURCE
    };
    let mut out = Vec::new();
    let id = encode_into(&mut out, &pooled, &dispatch, 1, None);
    assert_eq!(id, event_id(&SOURCE, 41));
    let text = std::str::from_utf8(&out).expect("utf-8");
    assert!(text.ends_with(r#","epoch":1073741824}"#), "{text}");
    assert_eq!(
        Envelope::decode(&out).expect("decodes").epoch,
        Some(1 << 30)
    );
}

#[test]
fn a_rescued_event_loses_its_epoch_and_nothing_else() {
    let frame = r#"{"op":0,"s":9,"t":"MESSAGE_CREATE","d":{"n":["epoch\":7}"],"epoch":5}}"#;
    let dispatch = parse_dispatch(frame).expect("routable");
    let mut source = SOURCE;
    source.epoch = Some(42);
    let mut with = Vec::new();
    encode_into(&mut with, &source, &dispatch, 7, None);
    source.epoch = None;
    let mut plain = Vec::new();
    encode_into(&mut plain, &source, &dispatch, 7, None);
    assert_eq!(without_epoch(&with).as_deref(), Some(&plain[..]));
    assert_eq!(Envelope::decode(&plain).expect("decodes").epoch, None);
    // an envelope without one, whatever its d ends with, is left alone
    assert_eq!(without_epoch(&plain), None);
    assert_eq!(without_epoch(br#"{"d":{"epoch":5}}"#), None);
    assert_eq!(without_epoch(b"not json"), None);
}
