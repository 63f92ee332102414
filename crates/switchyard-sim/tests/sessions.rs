//! Session life as a client sees it: RESUME and replay, INVALID_SESSION, heartbeat timeout
//! and ACK loss, identify rate limits and the client send limit.

mod common;

use common::{Client, TOKEN, fast_sim, first_text_channel, sim};
use serde_json::json;
use switchyard_sim::{Fault, Inject, SimConfig};
use tokio_tungstenite::tungstenite::Message;

const GUILDS_AND_MESSAGES: u64 = 1 | (1 << 9) | (1 << 12) | (1 << 15);

async fn sim_with(f: impl FnOnce(&mut SimConfig)) -> switchyard_sim::SimHandle {
    let mut cfg = SimConfig::fast();
    f(&mut cfg);
    sim(cfg).await
}

#[tokio::test]
async fn resume_replays_missed_events_then_resumed() {
    let sim = fast_sim().await;
    let (mut c, ready) = Client::ready(&sim, TOKEN, GUILDS_AND_MESSAGES, None).await;
    let session = ready["session_id"].as_str().expect("sid").to_owned();
    for _ in 0..sim.world().guilds.len() {
        c.dispatch("GUILD_CREATE").await;
    }
    let seen = c.last_seq.expect("seq");
    assert_eq!(
        sim.fault(&Fault::Drop {
            session_id: Some(session.clone())
        })
        .expect("fault"),
        1
    );
    assert_eq!(c.close_code().await, 1006);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let ch = first_text_channel(&sim, 0);
    for i in 0..5 {
        sim.inject(&Inject::Message {
            channel_id: switchyard_sim::Snowflake(ch),
            content: format!("m{i}"),
            author_id: None,
        })
        .expect("inject");
    }
    let counters = sim.counters();
    let s = counters.session(&session).expect("session");
    assert_eq!(s.buffered_while_disconnected, 5);
    assert!(!s.connected && !s.ended);

    let mut r = Client::connect(ready["resume_gateway_url"].as_str().expect("url")).await;
    r.hello().await;
    r.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": session, "seq": seen}}))
        .await;
    let mut got = Vec::new();
    loop {
        let p = r.payload().await;
        got.push(p["s"].as_u64().expect("seq"));
        if p["t"] == "RESUMED" {
            break;
        }
        assert_eq!(p["t"], "MESSAGE_CREATE");
    }
    assert_eq!(got, ((seen + 1)..=(seen + 6)).collect::<Vec<_>>());
    let s2 = sim.counters();
    let s2 = s2.session(&session).expect("session");
    assert_eq!(s2.last_seq, seen + 6);
    assert_eq!((s2.resumes, s2.replayed), (1, 5));
}

#[tokio::test]
async fn invalid_session_rules() {
    let sim = fast_sim().await;
    // unknown session
    let mut c = Client::gateway(&sim, "v=10").await;
    c.hello().await;
    c.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": "nope", "seq": 1}}))
        .await;
    let p = c.payload().await;
    assert_eq!((p["op"].as_u64(), p["d"].as_bool()), (Some(9), Some(false)));
    // closing with 1000 ends the session
    let (mut a, ready) = Client::ready(&sim, TOKEN, 1, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    let normal = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1000.into(),
        reason: "".into(),
    };
    a.ws.close(Some(normal)).await.expect("close");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(sim.counters().session(&sid).expect("s").ended);
    let mut r = Client::gateway(&sim, "v=10").await;
    r.hello().await;
    r.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": sid, "seq": 1}}))
        .await;
    assert_eq!(r.payload().await["op"], 9);
    // a seq from the future is 4007
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let (mut b, ready) = Client::ready(&sim, TOKEN, 1, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    sim.fault(&Fault::Close {
        code: 4000,
        session_id: Some(sid.clone()),
    })
    .expect("fault");
    assert_eq!(b.close_code().await, 4000);
    let mut r = Client::gateway(&sim, "v=10").await;
    r.hello().await;
    r.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": sid, "seq": 999}}))
        .await;
    assert_eq!(r.close_code().await, 4007);
    // injected INVALID_SESSION
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let (mut d, _) = Client::ready(&sim, TOKEN, 1, None).await;
    sim.fault(&Fault::InvalidSession {
        resumable: true,
        session_id: None,
    })
    .expect("fault");
    loop {
        let p = d.payload().await;
        if p["op"] == 9 {
            assert_eq!(p["d"], true);
            break;
        }
    }
}

#[tokio::test]
async fn identify_rate_limit_and_session_start_limit() {
    let sim = sim_with(|c| {
        c.timings.identify_window_ms = 10_000;
        c.max_concurrency = 2;
        c.session_start_total = 3;
    })
    .await;
    let (_a, _) = Client::ready(&sim, TOKEN, 1, Some([0, 2])).await;
    // bucket 1 is free
    let (_b, _) = Client::ready(&sim, TOKEN, 1, Some([1, 2])).await;
    // bucket 0 again within the window: INVALID_SESSION(false)
    let mut c = Client::gateway(&sim, "v=10").await;
    c.hello().await;
    c.identify(TOKEN, 1, Some([0, 2])).await;
    let p = c.payload().await;
    assert_eq!((p["op"].as_u64(), p["d"].as_bool()), (Some(9), Some(false)));
    let counters = sim.counters();
    assert_eq!(
        (counters.identifies, counters.identifies_too_fast),
        (2, 1),
        "two sessions started, one IDENTIFY refused for its bucket"
    );
    let http = reqwest::Client::new();
    let gw: serde_json::Value = http
        .get(format!("{}/gateway/bot", sim.api_url()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("gateway/bot")
        .json()
        .await
        .expect("json");
    assert_eq!(gw["session_start_limit"]["remaining"], 1);
    assert_eq!(gw["session_start_limit"]["max_concurrency"], 2);
}

#[tokio::test]
async fn heartbeat_timeout_stop_ack_and_server_heartbeat_request() {
    let sim = sim_with(|c| {
        c.timings.heartbeat_timeout_ms = 300;
    })
    .await;
    let (mut c, ready) = Client::ready(&sim, TOKEN, 1, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    sim.fault(&Fault::RequestHeartbeat {
        session_id: Some(sid.clone()),
    })
    .expect("fault");
    loop {
        let p = c.payload().await;
        if p["op"] == 1 {
            break;
        }
    }
    sim.fault(&Fault::StopAck {
        stop: true,
        session_id: Some(sid.clone()),
    })
    .expect("fault");
    c.send(json!({"op": 1, "d": 5})).await;
    // no ACK arrives; instead, with no further heartbeats, the session times out
    assert_eq!(c.close_code().await, 4009);
    assert!(sim.counters().session(&sid).expect("s").ended);
}

#[tokio::test]
async fn send_limit_closes_with_4008() {
    let sim = sim_with(|c| c.timings.send_limit = 10).await;
    let mut c = Client::gateway(&sim, "v=10").await;
    c.hello().await;
    for _ in 0..11 {
        c.send_raw(Message::text(r#"{"op":1,"d":null}"#)).await;
    }
    assert_eq!(c.close_code().await, 4008);
}

#[tokio::test]
async fn reconnect_then_close_keeps_the_session_resumable() {
    let sim = fast_sim().await;
    let (mut c, ready) = Client::ready(&sim, TOKEN, GUILDS_AND_MESSAGES, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    assert_eq!(
        sim.fault(&Fault::Reconnect { session_id: None })
            .expect("fault"),
        1
    );
    loop {
        let p = c.payload().await;
        if p["op"] == 7 {
            assert!(p["d"].is_null());
            break;
        }
    }
    // the server closes shortly after, with a code that keeps the session
    assert_eq!(c.close_code().await, 4000);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let counters = sim.counters();
    let s = counters.session(&sid).expect("session");
    assert!(!s.connected && !s.ended);
    // resuming works on any path of the main URL, with no encoding parameter
    let mut r = Client::connect(&format!("{}/some/other/path?v=10", sim.gateway_url())).await;
    r.hello().await;
    r.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": sid, "seq": s.last_seq}}))
        .await;
    assert_eq!(r.dispatch("RESUMED").await["s"], s.last_seq + 1);
    let ch = first_text_channel(&sim, 0);
    sim.inject(&Inject::Message {
        channel_id: switchyard_sim::Snowflake(ch),
        content: "after".into(),
        author_id: None,
    })
    .expect("inject");
    assert_eq!(r.dispatch("MESSAGE_CREATE").await["d"]["content"], "after");
}

#[tokio::test]
async fn injected_invalid_session_false_ends_the_session() {
    let sim = fast_sim().await;
    let (mut c, ready) = Client::ready(&sim, TOKEN, 1, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    sim.fault(&Fault::InvalidSession {
        resumable: false,
        session_id: Some(sid.clone()),
    })
    .expect("fault");
    loop {
        let p = c.payload().await;
        if p["op"] == 9 {
            assert_eq!(p["d"], false);
            break;
        }
    }
    assert!(sim.counters().session(&sid).expect("s").ended);
}

#[tokio::test]
async fn exhausting_the_session_start_limit_resets_the_token() {
    let sim = sim_with(|c| c.session_start_total = 1).await;
    let (mut first, _) = Client::ready(&sim, TOKEN, 1, None).await;
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let mut second = Client::gateway(&sim, "v=10").await;
    second.hello().await;
    second.identify(TOKEN, 1, None).await;
    // as Discord's docs say: every session is terminated and the token is reset
    assert_eq!(second.close_code().await, 4004);
    assert_eq!(first.close_code().await, 4004);
    let res = reqwest::Client::new()
        .get(format!("{}/users/@me", sim.api_url()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);
    // other bots are unaffected, and a reset of the sim restores the token
    let (_other, _) = Client::ready(&sim, "another-token", 1, None).await;
    sim.reset();
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let (_again, ready) = Client::ready(&sim, TOKEN, 1, None).await;
    assert!(ready["session_id"].is_string());
}

/// Sends a RESUME for `sid` at `seq` on a new connection and returns it.
async fn resume_with(sim: &switchyard_sim::SimHandle, sid: &str, seq: u64) -> Client {
    let mut r = Client::gateway(sim, "v=10").await;
    r.hello().await;
    r.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": sid, "seq": seq}}))
        .await;
    r
}

/// Asserts that the next payload is INVALID_SESSION(false).
async fn assert_not_resumable(r: &mut Client) {
    let p = r.payload().await;
    assert_eq!(
        (p["op"].as_u64(), p["d"].as_bool()),
        (Some(9), Some(false)),
        "{p}"
    );
}

/// A session whose connection went away with a code that keeps it resumable; returns its id
/// and the last seq the client saw.
async fn disconnected_session(sim: &switchyard_sim::SimHandle) -> (String, u64) {
    let (mut c, ready) = Client::ready(sim, TOKEN, 1, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    for _ in 0..sim.world().guilds.len() {
        c.dispatch("GUILD_CREATE").await;
    }
    let seen = c.last_seq.expect("seq");
    sim.fault(&Fault::Drop {
        session_id: Some(sid.clone()),
    })
    .expect("fault");
    assert_eq!(c.close_code().await, 1006);
    (sid, seen)
}

#[tokio::test]
async fn a_resume_with_a_seq_from_the_future_ends_the_session() {
    let sim = fast_sim().await;
    let (sid, seen) = disconnected_session(&sim).await;
    assert_eq!(resume_with(&sim, &sid, 999).await.close_code().await, 4007);
    // 4007 means "start a new session": the right seq no longer helps
    assert_not_resumable(&mut resume_with(&sim, &sid, seen).await).await;
    assert!(sim.counters().session(&sid).expect("s").ended);
}

#[tokio::test]
async fn injected_closes_that_forbid_resuming_end_the_session() {
    let sim = fast_sim().await;
    for code in [4009, 4010, 4014] {
        tokio::time::sleep(std::time::Duration::from_millis(60)).await; // identify window
        let (mut c, ready) = Client::ready(&sim, TOKEN, 1, None).await;
        let sid = ready["session_id"].as_str().expect("sid").to_owned();
        sim.fault(&Fault::Close {
            code,
            session_id: Some(sid.clone()),
        })
        .expect("fault");
        assert_eq!(c.close_code().await, code);
        assert_not_resumable(&mut resume_with(&sim, &sid, 1).await).await;
    }
}

#[tokio::test]
async fn a_client_close_with_1001_ends_the_session() {
    let sim = fast_sim().await;
    let (mut c, ready) = Client::ready(&sim, TOKEN, 1, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    let going_away = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1001.into(),
        reason: "".into(),
    };
    c.ws.close(Some(going_away)).await.expect("close");
    c.close_code().await; // the connection is gone, and with it the session
    assert_not_resumable(&mut resume_with(&sim, &sid, 1).await).await;
}

#[tokio::test]
async fn a_session_is_resumable_only_within_the_resume_window() {
    let sim = sim_with(|c| c.timings.resume_window_ms = 150).await;
    let (sid, seen) = disconnected_session(&sim).await;
    // within the window a RESUME works...
    let mut r = resume_with(&sim, &sid, seen).await;
    r.dispatch("RESUMED").await;
    let seen = r.last_seq.expect("seq");
    r.send_raw(Message::Close(None)).await; // no status code: the session stays
    r.close_code().await;
    // ...after it, the session is gone
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_not_resumable(&mut resume_with(&sim, &sid, seen).await).await;
    assert!(sim.counters().session(&sid).expect("s").ended);
}

#[tokio::test]
async fn presence_updates_are_recorded_for_the_session() {
    let sim = fast_sim().await;
    let (mut c, ready) = Client::ready(&sim, TOKEN, 1, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    let presence = json!({"since": null, "activities": [{"name": "tests", "type": 0}], "status": "idle", "afk": false});
    c.send(json!({"op": 3, "d": presence})).await;
    // ops are handled in order: once the heartbeat is ACKed, the presence was applied
    c.send(json!({"op": 1, "d": c.last_seq})).await;
    loop {
        if c.payload().await["op"] == 11 {
            break;
        }
    }
    let counters = sim.counters();
    let s = counters.session(&sid).expect("session");
    assert_eq!(s.presence, presence);
    // a presence that is not an object is a bad payload for op 3
    c.send(json!({"op": 3, "d": "online"})).await;
    assert_eq!(c.close_code().await, 4001);
}

#[tokio::test]
async fn a_second_session_of_a_shard_gets_the_same_events_and_marks_the_first() {
    let sim = fast_sim().await;
    let (mut a, ready_a) = Client::ready(&sim, TOKEN, GUILDS_AND_MESSAGES, None).await;
    let first = ready_a["session_id"].as_str().expect("sid").to_owned();
    for _ in 0..sim.world().guilds.len() {
        a.dispatch("GUILD_CREATE").await;
    }
    let before = a.last_seq.expect("seq");
    // the first session drops out without being closed, and stays resumable
    sim.fault(&Fault::Drop {
        session_id: Some(first.clone()),
    })
    .expect("fault");
    assert_eq!(a.close_code().await, 1006);
    // past the identify window (50 ms in the fast timings)
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (mut b, ready_b) = Client::ready(&sim, TOKEN, GUILDS_AND_MESSAGES, None).await;
    let second = ready_b["session_id"].as_str().expect("sid").to_owned();
    for _ in 0..sim.world().guilds.len() {
        b.dispatch("GUILD_CREATE").await;
    }
    sim.inject(&Inject::Message {
        channel_id: switchyard_sim::Snowflake(first_text_channel(&sim, 0)),
        content: "both".into(),
        author_id: None,
    })
    .expect("inject");
    assert_eq!(b.dispatch("MESSAGE_CREATE").await["d"]["content"], "both");
    let counters = sim.counters();
    let old = counters.session(&first).expect("first session");
    // marked where it stood when the second identified; the message went to both
    assert_eq!(old.superseded_at, Some(before));
    assert_eq!(old.superseded_by.as_deref(), Some(second.as_str()));
    assert_eq!(old.last_seq, before + 1);
    assert!(!old.ended);
    let new = counters.session(&second).expect("second session");
    assert_eq!(new.superseded_at, None);
}

#[tokio::test]
async fn an_ended_session_learns_the_next_identify_of_its_shard_but_is_not_superseded() {
    let sim = fast_sim().await;
    let (mut a, ready_a) = Client::ready(&sim, TOKEN, 1, None).await;
    let first = ready_a["session_id"].as_str().expect("sid").to_owned();
    // closed for good, as the soak's 4014 closed a session nobody had saved yet
    sim.fault(&Fault::Close {
        code: 4014,
        session_id: Some(first.clone()),
    })
    .expect("fault");
    assert_eq!(a.close_code().await, 4014);
    assert!(sim.counters().session(&first).expect("first").ended);
    // past the identify window (50 ms in the fast timings)
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (_b, ready_b) = Client::ready(&sim, TOKEN, 1, None).await;
    let second = ready_b["session_id"].as_str().expect("sid").to_owned();
    // past the identify window (50 ms in the fast timings)
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (_c, _) = Client::ready(&sim, TOKEN, 1, None).await;
    let counters = sim.counters();
    let old = counters.session(&first).expect("first session");
    // the next IDENTIFY after it, not a later one; nothing was dispatched to both
    assert_eq!(old.superseded_by.as_deref(), Some(second.as_str()));
    assert_eq!(old.superseded_at, None);
}
