//! The session's rules, without a connection: what waits, what follows a GUILD_CREATE, what
//! a slow client and a RESUME get.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;

use super::*;
use crate::event::Decoder;
use crate::source::GuildSnapshot;

const BOT: u64 = 99;
/// Two guilds of virtual shard 0 of 2, and one of shard 1.
const G0: u64 = 0;
const G0B: u64 = 2 << 22;
const G1: u64 = 1 << 22;

fn session(queue: usize) -> Session {
    Session::new(
        "s".into(),
        Wants {
            shard: [0, 2],
            intents: (1 << 11) | (1 << 9) | 1,
            large_threshold: 50,
            bot: BOT,
        },
        Limits {
            replay_events: 100,
            replay_window: Duration::from_secs(60),
            client_queue: queue,
        },
        1,
    )
}

fn event(
    dec: &mut Decoder,
    t: &str,
    seq: Option<u64>,
    guild: u64,
    synthetic: bool,
) -> Arc<FaceEvent> {
    let seq_text = seq.map_or("null".to_owned(), |s| s.to_string());
    let syn = if synthetic {
        r#","synthetic":"rebuild""#
    } else {
        ""
    };
    let d = if t.starts_with("GUILD_") && !t.starts_with("GUILD_ROLE") {
        format!(r#"{{"id":"{guild}"}}"#)
    } else {
        format!(r#"{{"guild_id":"{guild}","channel_id":"5","user_id":"6"}}"#)
    };
    let text = format!(
        r#"{{"v":1,"id":"x","s":"discord/b/0","t":"{t}","seq":{seq_text},"shard":0,"bot":"b","received_ms":1,"d":{d}{syn}}}"#
    );
    Arc::new(dec.decode(text.as_bytes()).expect("decodes").expect("ours"))
}

fn names(s: &Session) -> Vec<String> {
    s.frames_after(0, 1000)
        .expect("frames")
        .iter()
        .map(|f| {
            let v: serde_json::Value = serde_json::from_str(f.text.as_str()).expect("json");
            format!("{}@{}", v["t"].as_str().unwrap_or(""), v["s"])
        })
        .collect()
}

fn snapshot(seq: u64, guild: u64) -> GuildSnapshot {
    GuildSnapshot {
        shard: 0,
        seq: Some(seq),
        payload: RawValue::from_string(format!(r#"{{"id":"{guild}"}}"#)).expect("json"),
    }
}

#[test]
fn events_wait_for_ready_then_for_their_guild_and_skip_what_the_cache_read() {
    let mut dec = Decoder::new("b");
    let s = session(1000);
    s.offer(&event(&mut dec, "TYPING_START", Some(10), G0, false));
    s.offer(&event(&mut dec, "TYPING_START", Some(11), G1, false)); // not this shard's
    assert!(names(&s).is_empty(), "nothing before READY");
    s.ready("{}", &[G0, G0B]);
    s.offer(&event(&mut dec, "TYPING_START", Some(12), G0B, false));
    s.offer(&event(&mut dec, "TYPING_START", Some(13), G0, false));
    assert_eq!(names(&s), ["READY@1"]);
    // the cache had read G0 up to 12: the event at 10 is in its state, 13 is not
    s.guild_ready(G0, Some(&snapshot(12, G0)));
    assert_eq!(names(&s), ["READY@1", "GUILD_CREATE@2", "TYPING_START@3"]);
    s.guild_ready(G0B, Some(&snapshot(11, G0B)));
    assert_eq!(
        names(&s),
        [
            "READY@1",
            "GUILD_CREATE@2",
            "TYPING_START@3",
            "GUILD_CREATE@4",
            "TYPING_START@5"
        ]
    );
    // from now on events go straight out
    s.offer(&event(&mut dec, "TYPING_START", Some(14), G0, false));
    assert_eq!(names(&s).len(), 6);
}

#[test]
fn a_rebuilds_events_follow_the_snapshot_that_lacks_them() {
    let mut dec = Decoder::new("b");
    for (snapshot_seq, delivered) in [(20, true), (21, false)] {
        let s = session(1000);
        s.ready("{}", &[G0]);
        s.offer(&event(&mut dec, "TYPING_START", Some(20), G0, false));
        // made up after 20, before the GUILD_CREATE at 21 that led to it
        s.offer(&event(&mut dec, "GUILD_ROLE_UPDATE", None, G0, true));
        s.offer(&event(&mut dec, "GUILD_CREATE", Some(21), G0, false));
        s.guild_ready(G0, Some(&snapshot(snapshot_seq, G0)));
        let got = names(&s);
        assert_eq!(
            got.iter().any(|n| n.starts_with("GUILD_ROLE_UPDATE")),
            delivered,
            "{got:?}"
        );
        // the GUILD_CREATE of a guild the client has is never sent twice
        assert_eq!(
            got.iter().filter(|n| n.starts_with("GUILD_CREATE")).count(),
            1,
            "{got:?}"
        );
    }
}

#[test]
fn a_guild_deleted_and_back_gets_its_guild_create() {
    let mut dec = Decoder::new("b");
    let s = session(1000);
    s.ready("{}", &[]);
    s.offer(&event(&mut dec, "GUILD_CREATE", Some(1), G0, false));
    s.offer(&event(&mut dec, "GUILD_CREATE", Some(2), G0, false));
    s.offer(&event(&mut dec, "GUILD_DELETE", Some(3), G0, false));
    s.offer(&event(&mut dec, "GUILD_CREATE", Some(4), G0, false));
    assert_eq!(
        names(&s),
        [
            "READY@1",
            "GUILD_CREATE@2",
            "GUILD_DELETE@3",
            "GUILD_CREATE@4"
        ]
    );
}

#[test]
fn a_slow_client_is_told_to_resume_and_can() {
    let mut dec = Decoder::new("b");
    let s = session(4);
    s.ready("{}", &[]);
    for seq in 0..3 {
        s.offer(&event(&mut dec, "TYPING_START", Some(seq), G0, false));
    }
    assert!(s.frames_after(0, 10).is_ok(), "within its queue");
    s.offer(&event(&mut dec, "TYPING_START", Some(3), G0, false));
    let order = s.frames_after(0, 10).expect_err("too slow");
    assert!(
        matches!(
            order,
            Order::Close(CloseOrder {
                code: 4000,
                ends: false,
                ..
            })
        ),
        "{order:?}"
    );
    s.detach(1, false);
    // a new connection resumes from what the client saw
    assert_eq!(s.resume(2, 1), Ok(1));
    let frames = s.frames_after(1, 100).expect("replayed");
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(seqs, [2, 3, 4, 5, 6]);
    assert!(frames[4].text.as_str().contains("RESUMED"));
    assert_eq!(s.resume(3, 50), Err(Some(4007)));
}

#[test]
fn a_resume_past_the_buffer_is_an_invalid_session() {
    let mut dec = Decoder::new("b");
    let s = session(1000);
    s.ready("{}", &[]);
    s.detach(1, false);
    for seq in 0..150 {
        s.offer(&event(&mut dec, "TYPING_START", Some(seq), G0, false));
    }
    assert_eq!(s.resume(2, 1), Err(None));
    assert_eq!(
        s.resume(2, 140),
        Err(None),
        "the session ended with the refusal"
    );
    assert!(s.expired(std::time::Instant::now()));
}

#[test]
fn a_resume_on_another_connection_takes_the_session_over() {
    let s = session(10);
    s.ready("{}", &[]);
    assert!(s.held_by(1));
    // connection 1 lingers, silent; the client resumes on connection 2
    assert_eq!(s.resume(2, 1), Ok(1));
    assert!(s.held_by(2) && !s.held_by(1));
    // the old connection going away later leaves the session with the new one
    s.detach(1, true);
    assert!(s.held_by(2));
    assert!(!s.expired(std::time::Instant::now()));
}
