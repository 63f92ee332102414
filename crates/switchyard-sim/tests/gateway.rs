//! The gateway as a client sees it: HELLO, heartbeats, IDENTIFY validation, READY and
//! GUILD_CREATE, sharding, intents, RESUME, limits and compression.

mod common;

use common::{Client, TOKEN, fast_sim, first_text_channel, sim};
use serde_json::json;
use switchyard_sim::{Inject, SimConfig};
use tokio_tungstenite::tungstenite::Message;

const GUILDS_AND_MESSAGES: u64 = 1 | (1 << 9) | (1 << 12) | (1 << 15);

#[tokio::test]
async fn hello_heartbeat_ack_and_ready() {
    let sim = fast_sim().await;
    let mut c = Client::gateway(&sim, "v=10&encoding=json").await;
    assert_eq!(c.hello().await, 1_000);
    c.send(json!({"op": 1, "d": null})).await;
    assert_eq!(c.payload().await["op"], 11);
    c.identify(TOKEN, GUILDS_AND_MESSAGES, Some([0, 1])).await;
    let ready = c.dispatch("READY").await;
    assert_eq!(ready["s"], 1);
    let d = &ready["d"];
    assert_eq!(d["v"], 10);
    assert_eq!(d["resume_gateway_url"], sim.gateway_url());
    assert!(!sim.gateway_url().ends_with('/'));
    assert_eq!(d["shard"], json!([0, 1]));
    assert!(d["user"]["id"].as_str().is_some_and(|id| id.len() >= 17));
    assert_eq!(d["user"]["bot"], true);
    assert_eq!(d["application"]["id"], d["user"]["id"]);
    assert_eq!(
        d["guilds"].as_array().map(Vec::len),
        Some(sim.world().guilds.len())
    );
    assert!(
        d["guilds"]
            .as_array()
            .expect("guilds")
            .iter()
            .all(|g| g["unavailable"] == true)
    );
    for (i, g) in sim.world().guilds.iter().enumerate() {
        let gc = c.dispatch("GUILD_CREATE").await;
        assert_eq!(gc["s"], i as u64 + 2, "sequence numbers run on");
        assert_eq!(gc["d"]["id"], g.id.to_string());
        assert!(
            gc["d"]["channels"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        );
    }
}

#[tokio::test]
async fn each_token_is_its_own_bot_and_token_option_restricts() {
    let sim = fast_sim().await;
    let (_a, ra) = Client::ready(&sim, "token-a", 1, None).await;
    tokio::time::sleep(std::time::Duration::from_millis(60)).await; // identify window
    let (_b, rb) = Client::ready(&sim, "token-a", 1, None).await;
    let (_c, rc) = Client::ready(&sim, "Bot token-c", 1, None).await;
    assert_eq!(ra["user"]["id"], rb["user"]["id"]);
    assert_ne!(ra["user"]["id"], rc["user"]["id"]);

    let only = sim_with(|c| c.token = Some("the-one".into())).await;
    let mut c = Client::gateway(&only, "v=10").await;
    c.hello().await;
    c.identify("another", 1, None).await;
    assert_eq!(c.close_code().await, 4004);
    let (_ok, r) = Client::ready(&only, "the-one", 1, None).await;
    assert!(r["session_id"].is_string());
}

async fn sim_with(f: impl FnOnce(&mut SimConfig)) -> switchyard_sim::SimHandle {
    let mut cfg = SimConfig::fast();
    f(&mut cfg);
    sim(cfg).await
}

async fn close_code_for(sim: &switchyard_sim::SimHandle, query: &str, frames: Vec<Message>) -> u16 {
    let mut c = Client::gateway(sim, query).await;
    for f in frames {
        c.send_raw(f).await;
    }
    c.close_code().await
}

fn identify(token: &str, intents: u64, shard: Option<[u64; 2]>) -> Message {
    let mut d = json!({"token": token, "intents": intents, "properties": {"os": "linux", "browser": "t", "device": "t"}});
    if let Some(s) = shard {
        d["shard"] = json!(s);
    }
    Message::text(json!({"op": 2, "d": d}).to_string())
}

#[tokio::test]
async fn identify_validation_uses_discords_close_codes() {
    let sim = sim_with(|c| {
        c.approved_privileged_intents = 1 << 1;
        c.max_guilds_per_shard = 2;
        c.timings.identify_window_ms = 0;
    })
    .await;
    let large = sim_with(|c| c.shard_count_multiple = 16).await;
    let q0 = "v=10";
    assert_eq!(
        close_code_for(&large, q0, vec![identify(TOKEN, 1, Some([0, 8]))]).await,
        4010
    );
    let q = "v=10&encoding=json";
    assert_eq!(
        close_code_for(&sim, q, vec![Message::text(r#"{"op":99,"d":null}"#)]).await,
        4001
    );
    assert_eq!(
        close_code_for(&sim, q, vec![Message::text("{nope")]).await,
        4002
    );
    assert_eq!(
        close_code_for(&sim, q, vec![Message::binary(vec![1, 2, 3])]).await,
        4002
    );
    let big = format!(r#"{{"op":1,"d":null,"x":"{}"}}"#, "a".repeat(4100));
    assert_eq!(
        close_code_for(&sim, q, vec![Message::text(big)]).await,
        4002
    );
    assert_eq!(
        close_code_for(
            &sim,
            q,
            vec![Message::text(
                r#"{"op":3,"d":{"status":"online","since":null,"activities":[],"afk":false}}"#
            )]
        )
        .await,
        4003
    );
    assert_eq!(
        close_code_for(&sim, q, vec![identify("", 1, Some([0, 4]))]).await,
        4004
    );
    assert_eq!(
        close_code_for(
            &sim,
            q,
            vec![
                identify(TOKEN, 1, Some([0, 4])),
                identify(TOKEN, 1, Some([0, 4]))
            ]
        )
        .await,
        4005
    );
    assert_eq!(
        close_code_for(&sim, q, vec![identify(TOKEN, 1, Some([4, 4]))]).await,
        4010
    );
    assert_eq!(
        close_code_for(&sim, q, vec![identify(TOKEN, 1, Some([0, 0]))]).await,
        4010
    );
    // 4 guilds on one shard, at most 2 allowed per shard
    assert_eq!(
        close_code_for(&sim, q, vec![identify(TOKEN, 1, Some([0, 1]))]).await,
        4011
    );
    assert_eq!(
        close_code_for(&sim, "v=6&encoding=json", vec![]).await,
        4012
    );
    assert_eq!(
        close_code_for(&sim, q, vec![identify(TOKEN, 1 << 30, Some([0, 4]))]).await,
        4013
    );
    assert_eq!(
        close_code_for(&sim, q, vec![identify(TOKEN, 1 << 15, Some([0, 4]))]).await,
        4014
    );
}

#[tokio::test]
async fn guild_create_per_shard_and_dms_only_on_shard_zero() {
    let sim = sim_with(|c| c.world.guilds = 12).await;
    let n = 3u32;
    let mut clients = Vec::new();
    for id in 0..n {
        let (mut c, ready) = Client::ready(
            &sim,
            TOKEN,
            GUILDS_AND_MESSAGES,
            Some([u64::from(id), u64::from(n)]),
        )
        .await;
        let expected: Vec<String> = sim
            .world()
            .guilds
            .iter()
            .filter(|g| ((g.id >> 22) % u64::from(n)) as u32 == id)
            .map(|g| g.id.to_string())
            .collect();
        let listed: Vec<String> = ready["guilds"]
            .as_array()
            .expect("guilds")
            .iter()
            .map(|g| g["id"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(listed, expected, "shard {id}");
        for g in &expected {
            assert_eq!(&c.dispatch("GUILD_CREATE").await["d"]["id"], g);
        }
        clients.push(c);
        tokio::time::sleep(std::time::Duration::from_millis(60)).await; // identify window
    }
    sim.inject(&Inject::DirectMessage {
        bot_id: None,
        user_id: None,
        content: "psst".into(),
    })
    .expect("dm");
    let dm = clients[0].dispatch("MESSAGE_CREATE").await;
    assert_eq!(dm["d"]["content"], "psst");
    assert!(dm["d"].get("guild_id").is_none());
    // a guild message reaches exactly the shard of its guild
    let g = &sim.world().guilds[0];
    let shard = ((g.id >> 22) % u64::from(n)) as usize;
    let ch = first_text_channel(&sim, 0);
    sim.inject(&Inject::Message {
        channel_id: switchyard_sim::Snowflake(ch),
        content: "hi".into(),
        author_id: None,
    })
    .expect("msg");
    let m = clients[shard].dispatch("MESSAGE_CREATE").await;
    assert_eq!(m["d"]["guild_id"], g.id.to_string());
    let counters = sim.counters();
    assert_eq!(counters.shards.len(), n as usize);
    let json: serde_json::Value = reqwest::get(format!("{}/_sim/counters", sim.http_url()))
        .await
        .expect("http")
        .json()
        .await
        .expect("json");
    assert_eq!(json["shards"].as_array().map(Vec::len), Some(n as usize));
    for s in &counters.sessions {
        assert_eq!(s.seqs, vec![[1, s.last_seq]]);
    }
    for (i, s) in counters.sessions.iter().enumerate() {
        let _ = i;
        let extra = u64::from(s.shard[0] == 0) + u64::from(s.shard[0] as usize == shard);
        let guilds = sim.world().shard_guilds(s.shard[0], n).count() as u64;
        assert_eq!(s.last_seq, 1 + guilds + extra, "shard {:?}", s.shard);
    }
}

#[tokio::test]
async fn intents_filter_and_message_content_rules() {
    let sim = fast_sim().await;
    let (mut without, ready) = Client::ready(&sim, TOKEN, 1 | (1 << 9), None).await;
    let bot_id: u64 = ready["user"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let (mut no_messages, _) = {
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        Client::ready(&sim, "other-bot", 1, None).await
    };
    let ch = first_text_channel(&sim, 0);
    let sf = switchyard_sim::Snowflake;
    sim.inject(&Inject::Message {
        channel_id: sf(ch),
        content: "secret".into(),
        author_id: None,
    })
    .expect("inject");
    sim.inject(&Inject::Message {
        channel_id: sf(ch),
        content: format!("hey <@{bot_id}>"),
        author_id: None,
    })
    .expect("inject");
    let m1 = without.dispatch("MESSAGE_CREATE").await;
    assert_eq!(
        m1["d"]["content"], "",
        "content stripped without MESSAGE_CONTENT"
    );
    let m2 = without.dispatch("MESSAGE_CREATE").await;
    assert_eq!(
        m2["d"]["content"],
        format!("hey <@{bot_id}>"),
        "mentions keep content"
    );
    // the bot without GUILD_MESSAGES got nothing after its GUILD_CREATEs
    sim.inject(&Inject::Dispatch {
        t: "PING_MARK".into(),
        d: json!({}),
        guild_id: None,
        bot_id: None,
    })
    .expect("mark");
    let next = no_messages.payload().await;
    let next = if next["t"] == "GUILD_CREATE" {
        no_messages.dispatch("PING_MARK").await
    } else {
        next
    };
    let mut n = next;
    while n["t"] == "GUILD_CREATE" {
        n = no_messages.payload().await;
    }
    assert_eq!(n["t"], "PING_MARK");
}

async fn compressed_round(query: &str) {
    let sim = fast_sim().await;
    let mut c = Client::gateway(&sim, query).await;
    c.hello().await;
    // identify.compress = true must not add payload compression on top of transport compression
    c.send(json!({"op": 2, "d": {"token": TOKEN, "intents": 513, "compress": true, "properties": {"os": "l", "browser": "b", "device": "d"}}})).await;
    let ready = c.dispatch("READY").await;
    assert!(ready["d"]["session_id"].is_string());
    for _ in 0..sim.world().guilds.len() {
        c.dispatch("GUILD_CREATE").await;
    }
    c.send(json!({"op": 1, "d": null})).await;
    assert_eq!(c.payload().await["op"], 11);
    assert!(c.binary_frames >= 3);
}

#[tokio::test]
async fn zlib_stream_transport() {
    compressed_round("v=10&encoding=json&compress=zlib-stream").await;
}

#[tokio::test]
async fn zstd_stream_transport() {
    compressed_round("v=10&encoding=json&compress=zstd-stream").await;
}

#[tokio::test]
async fn payload_compression_only_without_transport() {
    let sim = fast_sim().await;
    let mut c = Client::gateway(&sim, "v=10&encoding=json").await;
    c.hello().await;
    c.send(json!({"op": 2, "d": {"token": TOKEN, "intents": 513, "compress": true, "properties": {"os": "l", "browser": "b", "device": "d"}}})).await;
    c.dispatch("READY").await;
    let gc = c.dispatch("GUILD_CREATE").await;
    assert!(gc["d"]["members"].is_array());
    assert!(
        c.binary_frames >= 1,
        "large GUILD_CREATE is zlib-compressed"
    );
}

#[tokio::test]
async fn request_guild_members_chunks_and_rate_limit() {
    let sim = fast_sim().await;
    let (mut c, _) = Client::ready(&sim, TOKEN, 1 | 2, None).await;
    let g = &sim.world().guilds[0];
    c.send(json!({"op": 8, "d": {"guild_id": g.id.to_string(), "query": "", "limit": 0, "nonce": "n1"}})).await;
    let chunk = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["d"]["nonce"], "n1");
    assert_eq!(
        chunk["d"]["members"].as_array().map(Vec::len),
        Some(g.members.len() + 1)
    );
    c.send(json!({"op": 8, "d": {"guild_id": g.id.to_string(), "query": "", "limit": 0, "nonce": "n2"}})).await;
    let rl = c.dispatch("RATE_LIMITED").await;
    assert_eq!(rl["d"]["opcode"], 8);
    assert_eq!(rl["d"]["meta"]["nonce"], "n2");
    let prefix = &g.members[3].user.username[..3];
    c.send(json!({"op": 8, "d": {"guild_id": g.id.to_string(), "query": prefix, "limit": 2}}))
        .await;
    let chunk = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    let names = chunk["d"]["members"].as_array().expect("members");
    assert!(!names.is_empty() && names.len() <= 2);
    assert!(names.iter().all(|m| {
        m["user"]["username"]
            .as_str()
            .is_some_and(|u| u.starts_with(prefix))
    }));
    let uid = g.members[1].user.id;
    c.send(
        json!({"op": 8, "d": {"guild_id": g.id.to_string(), "user_ids": [uid.to_string(), "1"]}}),
    )
    .await;
    let chunk = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["d"]["not_found"], json!(["1"]));
    let voice = json!({"op": 4, "d": {"guild_id": g.id.to_string(), "channel_id": g.channels.last().map(|c| c.id.to_string()), "self_mute": false, "self_deaf": true}});
    c.send(voice.clone()).await;
    // without GUILD_VOICE_STATES no VOICE_STATE_UPDATE comes, not even about the bot itself;
    // VOICE_SERVER_UPDATE (sent after it) needs no intent
    loop {
        let p = c.payload().await;
        assert_ne!(
            p["t"], "VOICE_STATE_UPDATE",
            "needs GUILD_VOICE_STATES: {p}"
        );
        if p["t"] == "VOICE_SERVER_UPDATE" {
            break;
        }
    }
    let (mut v, _) = Client::ready(&sim, "voice-bot", 1 | (1 << 7), None).await;
    v.send(voice).await;
    let vs = v.dispatch("VOICE_STATE_UPDATE").await;
    assert_eq!(vs["d"]["self_deaf"], true);
}

#[tokio::test]
async fn graceful_shutdown_closes_with_1001() {
    let sim = fast_sim().await;
    let (mut c, _) = Client::ready(&sim, TOKEN, 1, None).await;
    sim.shutdown().await;
    assert_eq!(c.close_code().await, 1001);
}
