//! Client commands as Discord documents them: JSON in binary frames, the per-session command
//! record, presence updates (op 3), voice states (op 4) and the send limit. Member requests
//! (op 8) are in member_requests.rs.

mod common;

use common::{Client, TOKEN, fast_sim, sim};
use serde_json::{Value, json};
use switchyard_sim::{Inject, SimConfig, SimHandle, Snowflake};
use tokio_tungstenite::tungstenite::Message;

const GUILDS: u64 = 1;
const GUILD_MEMBERS: u64 = 1 << 1;
const GUILD_VOICE_STATES: u64 = 1 << 7;
const GUILD_PRESENCES: u64 = 1 << 8;

fn binary(v: &Value) -> Message {
    Message::binary(v.to_string().into_bytes())
}

/// Sends a heartbeat and waits for its ACK: the ops sent before it have been handled (though
/// the dispatches they caused may still be on their way). Returns the dispatches that arrived
/// meanwhile.
async fn sync(c: &mut Client) -> Vec<Value> {
    c.send(json!({"op": 1, "d": c.last_seq})).await;
    let mut seen = Vec::new();
    loop {
        let p = c.payload().await;
        if p["op"] == 11 {
            return seen;
        }
        if p["op"] == 0 {
            seen.push(p);
        }
    }
}

/// Queues a MARK dispatch for the shard-0 sessions of one bot (READY's `user`).
fn mark(sim: &SimHandle, ready: &Value) {
    let bot: u64 = ready["user"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("bot id");
    sim.inject(&Inject::Dispatch {
        t: "MARK".into(),
        d: json!({}),
        guild_id: None,
        bot_id: Some(Snowflake(bot)),
    })
    .expect("mark");
}

/// Every dispatch caused by the ops `c` sent so far (which is on shard 0 of its bot).
async fn events_after(sim: &SimHandle, c: &mut Client, ready: &Value) -> Vec<Value> {
    let mut seen = sync(c).await;
    mark(sim, ready);
    seen.extend(until_mark(c).await);
    seen
}

/// The dispatches received before MARK.
async fn until_mark(c: &mut Client) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let p = c.payload().await;
        if p["t"] == "MARK" {
            return seen;
        }
        if p["op"] == 0 {
            seen.push(p);
        }
    }
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["t"] == name).collect()
}

fn session_id(ready: &Value) -> String {
    ready["session_id"].as_str().expect("session id").to_owned()
}

#[tokio::test]
async fn json_in_binary_frames_is_served_like_text() {
    let sim = fast_sim().await;
    let mut c = Client::gateway(&sim, "v=10&encoding=json").await;
    c.hello().await;
    let identify = json!({"op": 2, "d": {"token": TOKEN, "intents": GUILDS | GUILD_MEMBERS,
        "properties": {"os": "linux", "browser": "test", "device": "test"}}});
    c.send_raw(binary(&identify)).await;
    let ready = c.dispatch("READY").await;
    let sid = session_id(&ready["d"]);
    for _ in 0..3 {
        c.send_raw(binary(&json!({"op": 1, "d": c.last_seq}))).await;
        loop {
            if c.payload().await["op"] == 11 {
                break;
            }
        }
    }
    // a command in a binary frame is handled and recorded like one in a text frame
    let g = &sim.world().guilds[0];
    let prefix = &g.members[0].user.username[..2];
    let request = json!({"op": 8, "d": {"guild_id": g.id.to_string(), "query": prefix, "limit": 5, "nonce": "bin"}});
    c.send_raw(binary(&request)).await;
    let chunk = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["d"]["nonce"], "bin");
    sync(&mut c).await;
    let counters = sim.counters();
    let s = counters.session(&sid).expect("session");
    assert!(s.connected, "the binary frames kept the session connected");
    assert_eq!(s.commands.len(), 1);
    assert_eq!(s.commands[0].d, request["d"]);
}

#[tokio::test]
async fn binary_frames_that_do_not_decode_close_with_4002() {
    let sim = fast_sim().await;
    let big = format!(r#"{{"op":1,"d":null,"x":"{}"}}"#, "a".repeat(4100));
    let mut not_utf8 = br#"{"op":1,"d":null,"x":""#.to_vec();
    not_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    for (token, frame) in [("big", big.into_bytes()), ("not-utf8", not_utf8)] {
        let (mut c, _) = Client::ready(&sim, token, GUILDS, None).await;
        c.send_raw(Message::binary(frame)).await;
        assert_eq!(c.close_code().await, 4002, "{token}");
    }
}

#[tokio::test]
async fn commands_are_recorded_per_session_as_received() {
    let sim = fast_sim().await;
    let (mut a, ready_a) = Client::ready(&sim, TOKEN, GUILDS | GUILD_MEMBERS, None).await;
    let (mut b, ready_b) = Client::ready(&sim, "other-bot", GUILDS, None).await;
    let g = &sim.world().guilds[0];
    let voice = g
        .channels
        .iter()
        .find(|c| c.kind == 2)
        .expect("voice channel");
    let before = switchyard_sim::now_ms();
    let presence = json!({"since": null, "activities": [], "status": "idle", "afk": false});
    let members = json!({"guild_id": g.id.to_string(), "user_ids": [g.members[0].user.id.to_string()], "nonce": "n1"});
    let join = json!({"guild_id": g.id.to_string(), "channel_id": voice.id.to_string(), "self_mute": false, "self_deaf": false});
    a.send(json!({"op": 3, "d": presence})).await;
    a.send(json!({"op": 8, "d": members})).await;
    a.send(json!({"op": 4, "d": join})).await;
    a.send(json!({"op": 31, "d": {"guild_ids": [g.id.to_string()]}}))
        .await;
    sync(&mut a).await;
    sync(&mut b).await;
    let counters = sim.counters();
    let sa = counters.session(&session_id(&ready_a)).expect("a");
    let ops: Vec<u8> = sa.commands.iter().map(|c| c.op).collect();
    assert_eq!(
        ops,
        vec![3, 8, 4, 31],
        "heartbeats and IDENTIFY are not recorded"
    );
    assert_eq!(sa.commands[0].d, presence);
    assert_eq!(sa.commands[1].d, members);
    assert_eq!(sa.commands[2].d, join);
    let now = switchyard_sim::now_ms();
    assert!(
        sa.commands
            .iter()
            .all(|c| (before..=now).contains(&c.at_ms))
    );
    assert_eq!(sa.commands_with_op(8).count(), 1);
    let sb = counters.session(&session_id(&ready_b)).expect("b");
    assert!(sb.commands.is_empty(), "records are per session");

    // the same record over HTTP
    let json: Value = reqwest::get(format!("{}/_sim/counters", sim.http_url()))
        .await
        .expect("http")
        .json()
        .await
        .expect("json");
    let sessions = json["sessions"].as_array().expect("sessions");
    let ja = sessions
        .iter()
        .find(|s| s["session_id"] == ready_a["session_id"])
        .expect("a over http");
    assert_eq!(ja["commands"][1]["op"], 8);
    assert_eq!(ja["commands"][1]["d"]["nonce"], "n1");

    // a command the sim refuses is recorded too, as it was sent
    let bad = json!({"status": "online"});
    a.send(json!({"op": 3, "d": bad})).await;
    assert_eq!(a.close_code().await, 4001);
    let counters = sim.counters();
    let sa = counters.session(&session_id(&ready_a)).expect("a");
    assert_eq!(
        sa.commands.last().map(|c| (c.op, c.d.clone())),
        Some((3, bad))
    );
}

#[tokio::test]
async fn presence_updates_reach_other_bots_with_guild_presences_on_the_guilds_shard() {
    let sim = sim({
        let mut c = SimConfig::fast();
        c.world.guilds = 8;
        c
    })
    .await;
    // the bot sets its presence on shard 0 of 2
    // (with GUILD_PRESENCES itself, so that only the rule keeps its own update from it)
    let (mut bot, ready) = Client::ready(&sim, TOKEN, GUILDS | GUILD_PRESENCES, Some([0, 2])).await;
    let bot_id = ready["user"]["id"].clone();
    let (mut watcher, ready_w) =
        Client::ready(&sim, "watcher", GUILDS | GUILD_PRESENCES, None).await;
    let (mut blind, ready_b) = Client::ready(&sim, "blind", GUILDS, None).await;
    let presence = json!({"since": null, "activities": [{"name": "tests", "type": 0}], "status": "dnd", "afk": false});
    bot.send(json!({"op": 3, "d": presence})).await;
    sync(&mut bot).await;
    for r in [&ready, &ready_w, &ready_b] {
        mark(&sim, r);
    }

    let on_shard: Vec<String> = sim
        .world()
        .shard_guilds(0, 2)
        .map(|g| g.id.to_string())
        .collect();
    assert!(!on_shard.is_empty() && on_shard.len() < 8, "{on_shard:?}");
    let seen = until_mark(&mut watcher).await;
    let updates = named(&seen, "PRESENCE_UPDATE");
    let guilds: Vec<String> = updates
        .iter()
        .map(|u| u["d"]["guild_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(guilds, on_shard, "one update per guild of the bot's shard");
    for u in &updates {
        assert_eq!(u["d"]["user"]["id"], bot_id);
        assert_eq!(u["d"]["status"], "dnd");
        assert_eq!(u["d"]["activities"][0]["name"], "tests");
        assert_eq!(u["d"]["activities"][0]["type"], 0);
        assert_eq!(u["d"]["client_status"], json!({"web": "dnd"}));
    }
    let seen = until_mark(&mut blind).await;
    assert!(
        named(&seen, "PRESENCE_UPDATE").is_empty(),
        "needs GUILD_PRESENCES"
    );
    let seen = until_mark(&mut bot).await;
    assert!(
        named(&seen, "PRESENCE_UPDATE").is_empty(),
        "a bot is not sent its own presence"
    );
    let counters = sim.counters();
    let s = counters.session(&session_id(&ready)).expect("session");
    assert_eq!(s.presence, presence);

    // invisible shows as offline, without activities
    let invisible = json!({"since": null, "activities": [{"name": "hidden", "type": 0}], "status": "invisible", "afk": false});
    bot.send(json!({"op": 3, "d": invisible})).await;
    sync(&mut bot).await;
    mark(&sim, &ready_w);
    let seen = until_mark(&mut watcher).await;
    let updates = named(&seen, "PRESENCE_UPDATE");
    assert_eq!(updates.len(), on_shard.len());
    assert!(updates.iter().all(|u| u["d"]["status"] == "offline"
        && u["d"]["activities"] == json!([])
        && u["d"]["client_status"] == json!({})));
}

#[tokio::test]
async fn a_presence_without_a_documented_field_closes_with_4001() {
    let sim = fast_sim().await;
    let full = json!({"since": null, "activities": [], "status": "online", "afk": false});
    for missing in ["since", "activities", "status", "afk"] {
        let (mut c, _) = Client::ready(&sim, &format!("without-{missing}"), GUILDS, None).await;
        let mut d = full.clone();
        if let Some(o) = d.as_object_mut() {
            o.remove(missing);
        }
        c.send(json!({"op": 3, "d": d})).await;
        assert_eq!(c.close_code().await, 4001, "without {missing}");
    }
    let (mut c, _) = Client::ready(&sim, TOKEN, GUILDS, None).await;
    c.send(json!({"op": 3, "d": {"since": 0, "activities": [], "status": "away", "afk": false}}))
        .await;
    assert_eq!(c.close_code().await, 4001, "unknown status");
}

#[tokio::test]
async fn voice_join_and_leave_as_documented() {
    let sim = fast_sim().await;
    let (mut c, ready) = Client::ready(&sim, TOKEN, GUILDS | GUILD_VOICE_STATES, None).await;
    let (mut other, ready_o) =
        Client::ready(&sim, "voice-watcher", GUILDS | GUILD_VOICE_STATES, None).await;
    let sid = session_id(&ready);
    let g = &sim.world().guilds[0];
    let voice = g
        .channels
        .iter()
        .find(|c| c.kind == 2)
        .expect("voice channel");
    let text = g
        .channels
        .iter()
        .find(|c| c.kind == 0)
        .expect("text channel");
    let state = |channel: Value| json!({"op": 4, "d": {"guild_id": g.id.to_string(), "channel_id": channel, "self_mute": true, "self_deaf": false}});

    c.send(state(json!(voice.id.to_string()))).await;
    let seen = events_after(&sim, &mut c, &ready).await;
    let vs = named(&seen, "VOICE_STATE_UPDATE");
    assert_eq!(vs.len(), 1);
    assert_eq!(vs[0]["d"]["channel_id"], voice.id.to_string());
    assert_eq!(vs[0]["d"]["session_id"], sid);
    assert_eq!(vs[0]["d"]["user_id"], ready["user"]["id"]);
    assert_eq!(vs[0]["d"]["self_mute"], true);
    let server = named(&seen, "VOICE_SERVER_UPDATE");
    assert_eq!(server.len(), 1, "joining gives a voice server");
    assert_eq!(server[0]["d"]["guild_id"], g.id.to_string());
    assert!(server[0]["d"]["token"].is_string() && server[0]["d"]["endpoint"].is_string());
    // another bot on the guild's shard with GUILD_VOICE_STATES sees it too
    let seen_by_other = {
        mark(&sim, &ready_o);
        until_mark(&mut other).await
    };
    let theirs = named(&seen_by_other, "VOICE_STATE_UPDATE");
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["d"]["session_id"], sid);

    // leaving: channel_id null, and no voice server
    c.send(state(Value::Null)).await;
    let seen = events_after(&sim, &mut c, &ready).await;
    let vs = named(&seen, "VOICE_STATE_UPDATE");
    assert_eq!(vs.len(), 1);
    assert!(vs[0]["d"]["channel_id"].is_null());
    assert_eq!(vs[0]["d"]["session_id"], sid);
    assert!(named(&seen, "VOICE_SERVER_UPDATE").is_empty());

    // a text channel is not joined: nothing happens
    c.send(state(json!(text.id.to_string()))).await;
    let seen = events_after(&sim, &mut c, &ready).await;
    assert!(
        seen.iter()
            .all(|e| !e["t"].as_str().is_some_and(|t| t.starts_with("VOICE_")))
    );

    // every documented field is required: self_deaf missing
    c.send(json!({"op": 4, "d": {"guild_id": g.id.to_string(), "channel_id": null, "self_mute": false}}))
        .await;
    assert_eq!(c.close_code().await, 4001);
}

#[tokio::test]
async fn the_send_limit_counts_every_frame_heartbeats_and_binary_included() {
    let sim = sim({
        let mut c = SimConfig::fast();
        c.timings.send_limit = 10;
        c
    })
    .await;
    // IDENTIFY is frame 1; then 9 more of every kind fill the limit
    let (mut c, _) = Client::ready(&sim, TOKEN, GUILDS, None).await;
    let presence =
        json!({"op": 3, "d": {"since": null, "activities": [], "status": "online", "afk": false}});
    for i in 0..9 {
        match i % 3 {
            0 => c.send(json!({"op": 1, "d": null})).await,
            1 => c.send_raw(binary(&json!({"op": 1, "d": null}))).await,
            _ => c.send(presence.clone()).await,
        }
    }
    // all nine were served: six heartbeats were ACKed
    let mut acks = 0;
    while acks < 6 {
        if c.payload().await["op"] == 11 {
            acks += 1;
        }
    }
    c.send_raw(binary(&json!({"op": 1, "d": null}))).await;
    assert_eq!(c.close_code().await, 4008, "the 11th frame in the window");
}
