//! The face's gateway as a client sees it: READY and GUILD_CREATE from the cache, virtual
//! shards, events in order with the session's own sequence, RESUME with replay, slow
//! clients, heartbeats, compression and Discord's close codes.

mod common;

use std::time::Duration;

use common::{Got, connect, face, guild, id, token};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

const GUILDS: u64 = 1;
const GUILD_MESSAGES: u64 = 1 << 9;
const MESSAGE_CONTENT: u64 = 1 << 15;
const INTENTS: u64 = super_intents();

const fn super_intents() -> u64 {
    GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT
}

#[tokio::test]
async fn ready_guilds_and_events_as_discord_sends_them() {
    let guilds = vec![guild(0), guild(1), guild(2), guild(3)];
    let face = face(guilds.clone(), |_| {}).await;
    let mut c = connect(&format!("{}/?v=10&encoding=json", face.url())).await;
    let (ready, got) = c.start(None, INTENTS).await;
    let d = &ready["d"];
    assert_eq!(d["v"], 10);
    assert_eq!(d["user"]["id"], common::BOT.to_string());
    assert_eq!(d["application"]["id"], common::BOT.to_string());
    assert_eq!(d["shard"], json!([0, 1]));
    assert_eq!(d["resume_gateway_url"], face.url());
    assert!(d["session_id"].as_str().is_some_and(|s| s.len() == 32));
    assert!(
        d["guilds"]
            .as_array()
            .expect("guilds")
            .iter()
            .all(|g| g["unavailable"] == true)
    );
    assert_eq!(ready["s"], 1);
    let mut want = guilds.clone();
    want.sort_unstable();
    assert_eq!(got, want);
    for n in 0..5 {
        face.message(guilds[(n % 4) as usize], n).await;
    }
    for n in 0..5u64 {
        let m = c.dispatch().await;
        assert_eq!(m["t"], "MESSAGE_CREATE");
        assert_eq!(m["d"]["content"], format!("message {n}"));
        assert_eq!(m["s"], 6 + n, "the session's own sequence");
    }
}

#[tokio::test]
async fn virtual_shards_see_exactly_their_guilds() {
    const INTENTS: u64 = super_intents() | (1 << 12);
    let guilds: Vec<u64> = (0..6).map(guild).collect();
    let face = face(guilds.clone(), |_| {}).await;
    let mut halves = Vec::new();
    for shard in 0..2u64 {
        let mut c = connect(&face.url()).await;
        let (ready, got) = c.start(Some([shard, 2]), INTENTS).await;
        assert_eq!(ready["d"]["shard"], json!([shard, 2]));
        let want: Vec<u64> = guilds
            .iter()
            .copied()
            .filter(|g| (g >> 22) % 2 == shard)
            .collect();
        assert_eq!(got, want);
        halves.push(c);
    }
    let mut whole = connect(&face.url()).await;
    let (_, all) = whole.start(Some([0, 1]), INTENTS).await;
    assert_eq!(all.len(), 6);
    for (n, g) in guilds.iter().enumerate() {
        face.message(*g, n as u64).await;
    }
    // a DM goes to shard 0 only
    face.publish("MESSAGE_CREATE", None, json!({"id": "9", "channel_id": "77", "author": {"id": "5", "username": "x", "discriminator": "0", "avatar": null}, "content": "dm", "timestamp": "2024-01-01T00:00:00.000000+00:00", "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0})).await;
    for (shard, c) in halves.iter_mut().enumerate() {
        let mut seen = Vec::new();
        let expected = 3 + usize::from(shard == 0);
        while seen.len() < expected {
            let m = c.dispatch().await;
            seen.push(
                m["d"]["guild_id"]
                    .as_str()
                    .map_or(0, |g| g.parse().unwrap_or(0)),
            );
        }
        for g in &seen {
            assert!(
                *g == 0 && shard == 0 || (g >> 22) % 2 == shard as u64,
                "{g} on shard {shard}"
            );
        }
    }
    for _ in 0..7 {
        whole.dispatch().await;
    }
}

#[tokio::test]
async fn a_dropped_client_resumes_and_misses_nothing() {
    let face = face(vec![guild(0)], |_| {}).await;
    let mut c = connect(&face.url()).await;
    let (ready, _) = c.start(None, INTENTS).await;
    let session = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    for n in 0..3 {
        face.message(guild(0), n).await;
    }
    for _ in 0..3 {
        c.dispatch().await;
    }
    let seen = c.last_seq.expect("a sequence");
    drop(c); // the TCP connection drops without a close frame
    for n in 3..10 {
        face.message(guild(0), n).await;
    }
    let mut c = connect(&face.url()).await;
    c.hello().await;
    c.send(json!({"op": 6, "d": {"token": token(), "session_id": session, "seq": seen}}))
        .await;
    for n in 3..10u64 {
        let m = c.dispatch().await;
        assert_eq!(m["d"]["content"], format!("message {n}"));
        assert_eq!(m["s"], seen + n - 2);
    }
    assert_eq!(c.dispatch().await["t"], "RESUMED");
    face.message(guild(0), 10).await;
    assert_eq!(c.dispatch().await["d"]["content"], "message 10");
    // a session nobody knows: INVALID_SESSION, not resumable
    let mut other = connect(&face.url()).await;
    other.hello().await;
    other
        .send(json!({"op": 6, "d": {"token": token(), "session_id": "nope", "seq": 1}}))
        .await;
    let v = other.frame().await;
    assert_eq!((v["op"].as_u64(), v["d"].as_bool()), (Some(9), Some(false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_resumes_from_its_buffer() {
    let face = face(vec![guild(0)], |o| {
        o.client_queue = 64;
        o.replay_events = 100_000;
        o.write_timeout = Duration::from_secs(1);
    })
    .await;
    let mut c = connect(&face.url()).await;
    let (ready, _) = c.start(None, INTENTS).await;
    let session = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    let seen = c.last_seq.expect("seq");
    // the client reads nothing while 4,000 messages of 4 KiB go out: far more than the
    // socket buffers hold, so the face's writes stall
    let body = "x".repeat(4096);
    for n in 0..4000u64 {
        if n % 128 == 0 {
            tokio::task::yield_now().await;
        }
        face.publish("MESSAGE_CREATE", Some(guild(0)), json!({"id": n.to_string(), "guild_id": guild(0).to_string(), "channel_id": "1", "author": {"id": "5", "username": "x", "discriminator": "0", "avatar": null}, "content": format!("{n} {body}"), "mentions": []})).await;
    }
    // what the client had in its buffers, then a resumable close; it resumes (again, if it
    // is still behind) until it has every message, each once, in order
    let mut next_message = 0u64;
    let mut last = seen;
    let mut resumes = 0;
    while next_message < 4000 {
        loop {
            match c.read().await {
                Got::Frame(v) if v["op"] == 0 => {
                    let s = v["s"].as_u64().expect("s");
                    assert_eq!(s, last + 1, "no gap, no repeat in the session's sequence");
                    last = s;
                    if v["t"] == "MESSAGE_CREATE" {
                        let n: u64 = v["d"]["id"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .expect("id");
                        assert_eq!(n, next_message, "every message once, in order");
                        next_message += 1;
                    }
                }
                Got::Frame(_) => {}
                Got::Closed(code, _) => {
                    assert!(code.is_none() || code == Some(4000), "closed with {code:?}");
                    break;
                }
            }
            if next_message == 4000 {
                break;
            }
        }
        if next_message == 4000 {
            break;
        }
        resumes += 1;
        assert!(resumes < 100, "resumes make progress");
        c = connect(&face.url()).await;
        c.hello().await;
        c.send(json!({"op": 6, "d": {"token": token(), "session_id": session, "seq": last}}))
            .await;
    }
    assert!(
        resumes >= 1,
        "the client was closed for being slow at least once"
    );
}

#[tokio::test]
async fn heartbeats_are_acknowledged_asked_for_and_required() {
    let face = face(vec![guild(0)], |o| {
        o.heartbeat_interval = Duration::from_millis(300)
    })
    .await;
    let mut c = connect(&face.url()).await;
    let hello = c.hello().await;
    assert_eq!(hello["d"]["heartbeat_interval"], 300);
    c.send(json!({"op": 1, "d": null})).await;
    assert_eq!(c.frame().await["op"], 11);
    // silence: the face asks for a heartbeat, then closes with 4009
    assert_eq!(c.frame().await["op"], 1);
    assert_eq!(c.closed().await.0, Some(4009));
}

#[tokio::test]
async fn zlib_stream_and_payload_compression() {
    let face = face(vec![guild(0), guild(1)], |_| {}).await;
    let mut c = connect(&format!(
        "{}/?v=10&encoding=json&compress=zlib-stream",
        face.url()
    ))
    .await;
    let (_, guilds) = c.start(None, INTENTS).await;
    assert_eq!(guilds.len(), 2);
    face.message(guild(1), 1).await;
    assert_eq!(c.dispatch().await["d"]["content"], "message 1");
}

#[tokio::test]
async fn member_requests_are_answered_from_the_cache_to_the_requester_only() {
    let face = face(vec![guild(0)], |_| {}).await;
    let mut a = connect(&face.url()).await;
    a.start(None, INTENTS | (1 << 1)).await;
    let mut b = connect(&face.url()).await;
    b.start(None, INTENTS | (1 << 1)).await;
    a.send(json!({"op": 8, "d": {"guild_id": guild(0).to_string(), "query": "", "limit": 0, "nonce": "mine"}})).await;
    let chunk = a.dispatch().await;
    assert_eq!(chunk["t"], "GUILD_MEMBERS_CHUNK");
    assert_eq!(chunk["d"]["nonce"], "mine");
    assert_eq!(chunk["d"]["members"].as_array().map(Vec::len), Some(3));
    a.send(json!({"op": 8, "d": {"guild_id": guild(0).to_string(), "user_ids": ["1", "999"]}}))
        .await;
    let chunk = a.dispatch().await;
    assert_eq!(chunk["d"]["not_found"], json!(["999"]));
    // b got none of it: its next dispatch is the message after
    face.message(guild(0), 1).await;
    assert_eq!(b.dispatch().await["t"], "MESSAGE_CREATE");
    let _ = id(&chunk["d"]["guild_id"]);
}

/// One case of Discord's close codes: what the client does after HELLO, and the code.
async fn closes_with(
    face: &common::Face,
    url_tail: &str,
    act: impl AsyncFnOnce(&mut common::Client),
    code: u16,
) {
    let mut c = connect(&format!("{}{url_tail}", face.url())).await;
    let (got, reason) = match c.read().await {
        Got::Frame(v) => {
            assert_eq!(v["op"], 10);
            act(&mut c).await;
            c.closed().await
        }
        Got::Closed(code, reason) => (code, reason),
    };
    assert_eq!(got, Some(code), "reason: {reason}");
}

#[tokio::test]
async fn discords_close_codes() {
    // one face for every case, and a client that is there throughout: none of it reaches it
    let face = face(vec![guild(0), guild(1)], |o| o.max_guilds_per_shard = 1).await;
    let mut bystander = connect(&face.url()).await;
    bystander.start(Some([0, 2]), INTENTS).await;
    let identify = |token: String, intents: u64, shard: Option<[u64; 2]>| {
        let mut d = json!({"token": token, "intents": intents, "properties": {"os": "linux"}});
        if let Some(s) = shard {
            d["shard"] = json!(s);
        }
        json!({"op": 2, "d": d})
    };
    closes_with(
        &face,
        "",
        async |c| c.send(json!({"op": 99, "d": null})).await,
        4001,
    )
    .await;
    closes_with(
        &face,
        "",
        async |c| c.send_text("{not json".into()).await,
        4002,
    )
    .await;
    closes_with(
        &face,
        "",
        async |c| {
            c.send_text(format!(r#"{{"op":1,"d":null,"x":"{}"}}"#, "a".repeat(5000)))
                .await
        },
        4002,
    )
    .await;
    closes_with(&face, "", async |c| c.send(json!({"op": 3, "d": {"since": null, "activities": [], "status": "online", "afk": false}})).await, 4003).await;
    closes_with(
        &face,
        "",
        async |c| {
            c.send(identify(
                "ODAzNTExMTAyMjQ2Nzg5MTI.wrong-wrong-wrong-wrong".into(),
                INTENTS,
                None,
            ))
            .await
        },
        4004,
    )
    .await;
    closes_with(
        &face,
        "",
        async |c| {
            c.send(identify(token(), INTENTS, Some([0, 2]))).await;
            c.dispatch().await;
            c.send(identify(token(), INTENTS, Some([0, 2]))).await;
        },
        4005,
    )
    .await;
    closes_with(&face, "/?v=10&encoding=etf", async |_| {}, 4002).await;
    closes_with(
        &face,
        "",
        async |c| {
            for _ in 0..121 {
                c.send(json!({"op": 1, "d": null})).await;
            }
        },
        4008,
    )
    .await;
    closes_with(
        &face,
        "",
        async |c| c.send(identify(token(), INTENTS, Some([2, 2]))).await,
        4010,
    )
    .await;
    closes_with(
        &face,
        "",
        async |c| c.send(identify(token(), INTENTS, None)).await,
        4011,
    )
    .await;
    closes_with(&face, "/?v=9", async |_| {}, 4012).await;
    closes_with(
        &face,
        "",
        async |c| c.send(identify(token(), 1 << 30, None)).await,
        4013,
    )
    .await;
    closes_with(
        &face,
        "",
        async |c| c.send(identify(token(), INTENTS | (1 << 8), None)).await,
        4014,
    )
    .await;
    face.message(guild(0), 1).await;
    let m = bystander.dispatch().await;
    assert_eq!(
        (m["t"].as_str(), m["d"]["content"].as_str()),
        (Some("MESSAGE_CREATE"), Some("message 1"))
    );
}

#[tokio::test]
async fn etf_is_refused_with_a_reason_that_says_so() {
    let face = face(vec![guild(0)], |_| {}).await;
    let mut c = connect(&format!("{}/?v=10&encoding=etf", face.url())).await;
    let (code, reason) = c.closed().await;
    assert_eq!(code, Some(4002));
    assert!(reason.contains("ETF"), "{reason}");
}

#[tokio::test]
async fn a_clients_close_is_answered_and_only_4000_keeps_the_session() {
    let face = face(vec![guild(0)], |_| {}).await;
    let close = async |c: &mut common::Client, code: u16| {
        let frame = CloseFrame {
            code: code.into(),
            reason: "bye".into(),
        };
        c.ws.close(Some(frame)).await.expect("close sent");
        // the echo, as Discord answers (a face that only dropped the socket gave None)
        assert_eq!(c.closed().await.0, Some(code), "the close handshake");
    };
    let resume = async |session: &str, seq: u64| {
        let mut c = connect(&face.url()).await;
        c.hello().await;
        c.send(json!({"op": 6, "d": {"token": token(), "session_id": session, "seq": seq}}))
            .await;
        c
    };
    for (code, resumable) in [(4000, true), (1000, false)] {
        let mut c = connect(&face.url()).await;
        let (ready, _) = c.start(None, INTENTS).await;
        let session = ready["d"]["session_id"]
            .as_str()
            .expect("session")
            .to_owned();
        close(&mut c, code).await;
        let mut c = resume(&session, c.last_seq.expect("a sequence")).await;
        let v = c.frame().await;
        if resumable {
            assert_eq!(v["t"], "RESUMED", "{v}");
        } else {
            assert_eq!((v["op"].as_u64(), v["d"].as_bool()), (Some(9), Some(false)));
        }
    }
}

#[tokio::test]
async fn a_resume_past_what_the_session_sent_is_4007() {
    let face = face(vec![guild(0)], |_| {}).await;
    let mut c = connect(&face.url()).await;
    let (ready, _) = c.start(None, INTENTS).await;
    let session = ready["d"]["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    drop(c);
    let mut c = connect(&face.url()).await;
    c.hello().await;
    c.send(json!({"op": 6, "d": {"token": token(), "session_id": session, "seq": 1000}}))
        .await;
    assert_eq!(c.closed().await.0, Some(4007));
}

#[tokio::test]
async fn a_rebuild_that_cannot_describe_the_gap_invalidates_only_its_clients() {
    use bytes::Bytes;
    use switchyard_broker::Topic;
    // two upstream shards: guild(0) on shard 0, guild(1) on shard 1
    let source = common::FixedSource {
        guilds: vec![guild(0), guild(1)],
        seq: Default::default(),
        members: 3,
        complete: true,
        shards: 2,
    };
    let face = common::face_with(source, |_| {}).await;
    let mut holder = connect(&face.url()).await;
    holder.start(Some([0, 2]), INTENTS).await;
    let mut other = connect(&face.url()).await;
    other.start(Some([1, 2]), INTENTS).await;
    let topic = Topic::new("control.gateway.rebuild").expect("topic");
    let report = |threads: &str| {
        Bytes::from(format!(
            r#"{{"bot":"bot","shard":0,"complete":true,"pending_guilds":[],"threads_gone":[{threads}],"members_unverified":0}}"#
        ))
    };
    // everything described: nobody is disturbed
    face.broker
        .publish(&topic, report(""))
        .await
        .expect("publish");
    face.message(guild(0), 1).await;
    assert_eq!(holder.dispatch().await["t"], "MESSAGE_CREATE");
    // a thread gone that no event can describe: shard 0's client starts again
    face.broker
        .publish(&topic, report(r#""55""#))
        .await
        .expect("publish");
    let v = next_op(&mut holder).await;
    assert_eq!(
        (v["op"].as_u64(), v["d"].as_bool()),
        (Some(9), Some(false)),
        "{v}"
    );
    // on the same connection it identifies again and gets a true READY
    holder.identify(Some([0, 2]), INTENTS).await;
    assert_eq!(holder.dispatch().await["t"], "READY");
    assert_eq!(holder.dispatch().await["t"], "GUILD_CREATE");
    // shard 1's client saw nothing of it: its next frame is the next event
    face.message(guild(1), 2).await;
    let v = next_op(&mut other).await;
    assert_eq!(
        (v["op"].as_u64(), v["t"].as_str()),
        (Some(0), Some("MESSAGE_CREATE")),
        "{v}"
    );
}

/// The next frame that is not a heartbeat ACK.
async fn next_op(c: &mut common::Client) -> serde_json::Value {
    loop {
        let v = c.frame().await;
        if v["op"] != 11 {
            return v;
        }
    }
}

#[tokio::test]
async fn commands_go_upstream_through_the_command_topics() {
    use switchyard_broker::Pattern;
    let face = face(vec![guild(0)], |_| {}).await;
    let mut outbound = face
        .broker
        .subscribe(&Pattern::new("outbound.discord.>").expect("pattern"))
        .await
        .expect("subscribe");
    let mut c = connect(&face.url()).await;
    c.hello().await;
    // a presence given at IDENTIFY is applied upstream, as Discord applies it
    c.send(json!({"op": 2, "d": {"token": token(), "intents": INTENTS, "properties": {"os": "linux"},
        "presence": {"since": null, "activities": [{"name": "tests", "type": 0}], "status": "dnd", "afk": false}}})).await;
    let mut next = async || {
        let msg = tokio::time::timeout(Duration::from_secs(10), outbound.recv())
            .await
            .expect("a command in time")
            .expect("subscription open");
        let v: serde_json::Value = serde_json::from_slice(&msg.payload).expect("json");
        (msg.topic.to_string(), v)
    };
    let (_, presence) = next().await;
    assert_eq!(presence["command"], "update_presence");
    assert_eq!(presence["status"], "dnd");
    assert!(
        presence["reply_to"]
            .as_str()
            .is_some_and(|r| r.starts_with("inbound.rest.face."))
    );
    c.dispatch().await; // READY
    // op 3 as discord.py (a fractional `since`) and hikari (the older `game`) send it goes
    // upstream as a command the gateway takes
    for d in [
        json!({"since": 0.0, "activities": [{"name": "py", "type": 0}], "status": "idle", "afk": false}),
        json!({"since": null, "afk": false, "game": {"name": "hk", "type": 0}, "status": "dnd"}),
    ] {
        c.send(json!({"op": 3, "d": d})).await;
        let (topic, presence) = next().await;
        let parsed = switchyard_core::outbound::parse(&topic, presence.to_string().as_bytes());
        assert!(parsed.is_ok(), "{presence}: {parsed:?}");
        let name = presence["activities"][0]["name"].as_str();
        assert!(matches!(name, Some("py" | "hk")), "{presence}");
    }
    c.send(json!({"op": 4, "d": {"guild_id": guild(0).to_string(), "channel_id": "42", "self_mute": false, "self_deaf": true}})).await;
    let (topic, voice) = next().await;
    assert_eq!(topic, format!("outbound.discord.{}.0.0", guild(0)));
    assert_eq!(
        (voice["command"].as_str(), voice["channel_id"].as_str()),
        (Some("update_voice_state"), Some("42"))
    );
    // a member request the cache cannot answer goes to Discord, and its chunks come back to
    // the requester with its nonce
    drop(c);
    let partial = common::FixedSource {
        guilds: vec![guild(0)],
        seq: Default::default(),
        members: 3,
        complete: false,
        shards: 1,
    };
    let face = common::face_with(partial, |_| {}).await;
    let mut outbound = face
        .broker
        .subscribe(&Pattern::new("outbound.discord.>").expect("pattern"))
        .await
        .expect("subscribe");
    let mut c = connect(&face.url()).await;
    c.start(None, INTENTS | (1 << 1)).await;
    c.send(json!({"op": 8, "d": {"guild_id": guild(0).to_string(), "query": "us", "limit": 5, "nonce": "n1"}})).await;
    let msg = tokio::time::timeout(Duration::from_secs(10), outbound.recv())
        .await
        .expect("in time")
        .expect("open");
    let request: serde_json::Value = serde_json::from_slice(&msg.payload).expect("json");
    assert_eq!(request["command"], "request_guild_members");
    assert_eq!(
        (request["query"].as_str(), request["limit"].as_u64()),
        (Some("us"), Some(5))
    );
    let reply_to = request["reply_to"].as_str().expect("reply_to").to_owned();
    let chunk = json!({"ok": true, "shard": 0, "event": "GUILD_MEMBERS_CHUNK",
        "d": {"guild_id": guild(0).to_string(), "members": [], "chunk_index": 0, "chunk_count": 1, "nonce": "n1"}});
    face.broker
        .publish(
            &switchyard_broker::Topic::new(&reply_to).expect("topic"),
            bytes::Bytes::from(chunk.to_string()),
        )
        .await
        .expect("publish");
    let got = c.dispatch().await;
    assert_eq!(
        (got["t"].as_str(), got["d"]["nonce"].as_str()),
        (Some("GUILD_MEMBERS_CHUNK"), Some("n1"))
    );
}

#[tokio::test]
async fn member_searches_are_capped_as_discord_caps_them() {
    let source = common::FixedSource {
        guilds: vec![guild(0)],
        seq: Default::default(),
        members: 150,
        complete: true,
        shards: 1,
    };
    let face = common::face_with(source, |_| {}).await;
    let mut c = connect(&face.url()).await;
    c.start(None, INTENTS | (1 << 1)).await;
    for (query, limit, want) in [
        ("", 0, 150),
        ("user", 0, 100),
        ("user", 500, 100),
        ("user", 7, 7),
    ] {
        c.send(json!({"op": 8, "d": {"guild_id": guild(0).to_string(), "query": query, "limit": limit}})).await;
        let chunk = c.dispatch().await;
        assert_eq!(
            chunk["d"]["members"].as_array().map(Vec::len),
            Some(want),
            "{query:?} {limit}"
        );
    }
}

#[tokio::test]
async fn payload_compression_and_json_in_binary_frames() {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let face = face(vec![guild(0)], |_| {}).await;
    let mut c = connect(&face.url()).await;
    c.hello().await;
    // IDENTIFY as JSON in a binary frame, asking for payload compression
    let identify = json!({"op": 2, "d": {"token": token(), "intents": INTENTS, "compress": true, "properties": {"os": "linux"}}});
    c.ws.send(Message::binary(identify.to_string().into_bytes()))
        .await
        .expect("send");
    assert_eq!(c.dispatch().await["t"], "READY");
    // a GUILD_CREATE is over 1 KiB: it comes as a whole zlib message
    assert_eq!(c.dispatch().await["t"], "GUILD_CREATE");
    assert!(c.payload_compressed >= 1, "large payloads are compressed");
    face.message(guild(0), 1).await;
    assert_eq!(c.dispatch().await["d"]["content"], "message 1");
}
