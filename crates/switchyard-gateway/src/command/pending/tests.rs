//! The runner's side of commands, without a shard: nonces, answers, the budget, ages.
use super::*;
use crate::config::DEFAULT_COMMAND_MAX_AGE;
use switchyard_core::parse_dispatch;

fn queued(command: serde_json::Value, reply_to: &str) -> Queued {
    Queued {
        command: serde_json::from_value(command).expect("command"),
        reply_to: Some(Topic::new(reply_to).expect("topic")),
        at_ms: now_ms(),
    }
}

fn to(r: &Reply) -> &str {
    r.topic.as_ref().map_or("", Topic::as_str)
}

fn frame(event: &str, d: &str) -> String {
    format!(r#"{{"op":0,"s":5,"t":"{event}","d":{d}}}"#)
}

#[tokio::test]
async fn chunks_go_to_their_requester_with_its_nonce() {
    let mut c = Commands::new(0, DEFAULT_COMMAND_MAX_AGE);
    let mut frames = Vec::new();
    let sent = c
        .send(
            queued(serde_json::json!({"command":"request_guild_members","guild_id":"7","query":"","limit":0,"nonce":"mine"}), "inbound.rest.a.1"),
            |f| frames.push(f),
        )
        .expect("sent answer");
    assert_eq!(to(&sent), "inbound.rest.a.1");
    let other = c
        .send(
            queued(serde_json::json!({"command":"request_guild_members","guild_id":"7","user_ids":["1"]}), "inbound.rest.b.1"),
            |f| frames.push(f),
        )
        .expect("sent answer");
    assert!(other.instead);
    let ours: Vec<String> = frames
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(f).expect("json");
            v["d"]["nonce"].as_str().expect("nonce").to_owned()
        })
        .collect();
    assert_ne!(ours[0], ours[1]);
    assert!(ours.iter().all(|n| n.len() <= MAX_NONCE_LEN && n != "mine"));

    let first = frame(
        "GUILD_MEMBERS_CHUNK",
        &format!(
            r#"{{"guild_id":"7","members":[],"chunk_index":0,"chunk_count":2,"nonce":"{}"}}"#,
            ours[0]
        ),
    );
    let d = parse_dispatch(&first).expect("dispatch");
    let r = c.answer(&d, None).expect("for a");
    assert!(r.instead);
    assert_eq!(to(&r), "inbound.rest.a.1");
    let a: Answer = serde_json::from_slice(&r.payload).expect("answer");
    assert_eq!(a.d.expect("d")["nonce"], "mine");
    let second = first.replace(r#""chunk_index":0"#, r#""chunk_index":1"#);
    assert!(
        c.answer(&parse_dispatch(&second).expect("d"), None)
            .is_some()
    );
    let after = c
        .answer(&parse_dispatch(&second).expect("d"), None)
        .expect("one of ours");
    assert!(
        after.topic.is_none(),
        "done after the last chunk: a repeat is dropped"
    );

    let b = frame(
        "GUILD_MEMBERS_CHUNK",
        &format!(
            r#"{{"guild_id":"7","members":[],"chunk_index":0,"chunk_count":1,"nonce":"{}"}}"#,
            ours[1]
        ),
    );
    let r = c
        .answer(&parse_dispatch(&b).expect("d"), None)
        .expect("for b");
    assert_eq!(to(&r), "inbound.rest.b.1");
    let a: Answer = serde_json::from_slice(&r.payload).expect("answer");
    assert!(a.d.expect("d").get("nonce").is_none(), "b sent no nonce");
    let stranger = frame(
        "GUILD_MEMBERS_CHUNK",
        r#"{"guild_id":"7","members":[],"chunk_index":0,"chunk_count":1,"nonce":"x"}"#,
    );
    assert!(
        c.answer(&parse_dispatch(&stranger).expect("d"), None)
            .is_none()
    );
    // one of ours that nobody waits for any more (the wait ran out, a replay after a
    // move) is dropped, not published to everyone
    let late = stranger.replace(r#""nonce":"x""#, &format!(r#""nonce":"{}""#, ours[0]));
    let r = c
        .answer(&parse_dispatch(&late).expect("d"), None)
        .expect("dropped");
    assert!(r.instead && r.topic.is_none());

    // without a reply_to the requester's nonce goes to Discord, and its chunks are
    // published as usual
    let mut frames = Vec::new();
    c.send(
        Queued {
            reply_to: None,
            ..queued(
                serde_json::json!({"command":"request_guild_members","guild_id":"7","user_ids":["1"],"nonce":"plain"}),
                "inbound.rest.unused.1",
            )
        },
        |f| frames.push(f),
    );
    let v: Value = serde_json::from_str(&frames[0]).expect("json");
    assert_eq!(v["d"]["nonce"], "plain");
}

#[tokio::test]
async fn rate_limits_voice_budget_and_age() {
    let mut c = Commands::new(1, DEFAULT_COMMAND_MAX_AGE);
    let mut frames = Vec::new();
    c.send(queued(serde_json::json!({"command":"request_guild_members","guild_id":"7","query":"","limit":0,"nonce":"n1"}), "inbound.rest.a.1"), |f| frames.push(f));
    let v: Value = serde_json::from_str(&frames[0]).expect("json");
    let ours = v["d"]["nonce"].as_str().expect("nonce");
    let limited = frame(
        "RATE_LIMITED",
        &format!(r#"{{"opcode":8,"retry_after":12.5,"meta":{{"guild_id":"7","nonce":"{ours}"}}}}"#),
    );
    let r = c
        .answer(&parse_dispatch(&limited).expect("d"), None)
        .expect("answer");
    let a: Answer = serde_json::from_slice(&r.payload).expect("answer");
    assert_eq!(
        (a.ok, a.kind, a.retry_after_ms),
        (false, Some(ErrorKind::RateLimited), Some(12_500))
    );
    assert_eq!(a.d.expect("d")["meta"]["nonce"], "n1");

    c.send(
        queued(
            serde_json::json!({"command":"update_voice_state","guild_id":"7","channel_id":"9"}),
            "inbound.rest.v.1",
        ),
        |_| {},
    );
    let other_user = frame(
        "VOICE_STATE_UPDATE",
        r#"{"guild_id":"7","channel_id":"9","user_id":"55","session_id":"s"}"#,
    );
    assert!(
        c.answer(&parse_dispatch(&other_user).expect("d"), Some(44))
            .is_none()
    );
    let mine = other_user.replace("55", "44");
    let r = c
        .answer(&parse_dispatch(&mine).expect("d"), Some(44))
        .expect("own state");
    assert!(!r.instead, "a voice state is still published as usual");
    let server = frame(
        "VOICE_SERVER_UPDATE",
        r#"{"guild_id":"7","token":"t","endpoint":"e"}"#,
    );
    assert!(
        c.answer(&parse_dispatch(&server).expect("d"), Some(44))
            .is_some()
    );
    assert!(
        c.answer(&parse_dispatch(&server).expect("d"), Some(44))
            .is_none()
    );
    // the other order: the server first, and the state (with its session id) still comes
    c.send(
        queued(
            serde_json::json!({"command":"update_voice_state","guild_id":"7","channel_id":"9"}),
            "inbound.rest.v.2",
        ),
        |_| {},
    );
    assert!(
        c.answer(&parse_dispatch(&server).expect("d"), Some(44))
            .is_some()
    );
    let r = c
        .answer(&parse_dispatch(&mine).expect("d"), Some(44))
        .expect("state after server");
    assert_eq!(to(&r), "inbound.rest.v.2");
    assert!(
        c.answer(&parse_dispatch(&mine).expect("d"), Some(44))
            .is_none(),
        "answered in full"
    );

    assert_eq!(c.sent.len(), 3, "three commands sent so far");
    for _ in 3..COMMANDS_PER_MINUTE {
        assert!(c.has_budget());
        c.sent.push_back(Instant::now());
    }
    assert!(!c.has_budget());
    assert!(c.budget_at() > Instant::now());

    let mut old = queued(
        serde_json::json!({"command":"update_presence","status":"idle"}),
        "inbound.rest.p.1",
    );
    old.at_ms -= DEFAULT_COMMAND_MAX_AGE.as_millis() as u64 + 1;
    let mut sent_any = false;
    let r = c.send(old, |_| sent_any = true).expect("expired answer");
    assert!(!sent_any);
    let a: Answer = serde_json::from_slice(&r.payload).expect("answer");
    assert_eq!(a.kind, Some(ErrorKind::Expired));
}
