//! Gateway commands from consumers that hold no shard, end to end on the embedded broker:
//! presence on every shard, member requests answered to their requester alone (with its own
//! nonce back), voice joins answered with the bot's voice state and server, refusals for what
//! Discord would refuse, a shard nobody holds, a full command queue; and the same command
//! reaching the process that holds the guild's shard when two processes split the shards.

mod common;

use std::time::Duration;

use common::{WAIT, env, recv};
use serde_json::{Value, json};
use switchyard_broker::{Broker, Subscription};
use switchyard_core::Topic;
use switchyard_core::outbound::shard_of;
use switchyard_gateway::{Intents, ShardPhase, ShardRange};
use switchyard_sim::{SimConfig, Timings};

async fn publish(env: &common::Env, topic: &str, payload: Value) {
    env.broker
        .publish(
            &Topic::new(topic).expect("topic"),
            payload.to_string().into(),
        )
        .await
        .expect("publish");
}

async fn answer(sub: &mut Subscription) -> Value {
    serde_json::from_slice(&recv(sub).await.payload).expect("answer is JSON")
}

/// Answers on `sub` until one carries `event`; the others must be successes.
async fn answer_with_event(sub: &mut Subscription, event: &str) -> Value {
    loop {
        let a = answer(sub).await;
        assert_eq!(a["ok"], true, "{a}");
        if a["event"] == event {
            return a;
        }
    }
}

fn voice_channel(env: &common::Env, guild: usize) -> u64 {
    env.sim.world().guilds[guild]
        .channels
        .iter()
        .find(|c| c.kind == 2)
        .expect("voice channel")
        .id
}

#[tokio::test]
async fn commands_reach_the_shard_and_answer_their_requester() {
    let env = env(SimConfig {
        shards: 2,
        // a second whole-guild request within the window is refused, however loaded the
        // machine
        timings: Timings {
            member_request_window_ms: 60_000,
            ..SimConfig::fast().timings
        },
        ..SimConfig::fast()
    })
    .await;
    let mut config = env.config();
    config.intents |= Intents::GUILD_MEMBERS;
    let gw = env.start(config).await;
    let mut inbound = env.subscribe("inbound.discord.>").await;

    // presence on every shard: one answer per shard, and each session of the bot has it
    let mut presence = env.subscribe("inbound.rest.test.presence").await;
    publish(
        &env,
        "outbound.discord.0.0.0",
        json!({"command": "update_presence", "status": "dnd", "activities": [{"name": "tests", "type": 0}], "reply_to": "inbound.rest.test.presence"}),
    )
    .await;
    let mut shards: Vec<u64> = Vec::new();
    for _ in 0..2 {
        let a = answer(&mut presence).await;
        assert_eq!(
            (a["ok"].clone(), a["command"].clone()),
            (json!(true), json!("update_presence")),
            "{a}"
        );
        shards.push(a["shard"].as_u64().expect("shard"));
    }
    shards.sort_unstable();
    assert_eq!(shards, vec![0, 1]);
    common::eventually("both sessions show the presence", || {
        let c = env.sim.counters();
        let live: Vec<_> = c.sessions.iter().filter(|s| s.connected).collect();
        live.len() == 2 && live.iter().all(|s| s.presence["status"] == "dnd")
    })
    .await;

    // two requesters with the same nonce: each gets its own chunks, its nonce back, and no
    // chunk is published on the inbound topics
    let guild = env.sim.world().guilds[0].id;
    let member = env.sim.world().guilds[0].members[0].clone();
    let mut first = env.subscribe("inbound.rest.test.m1").await;
    let mut second = env.subscribe("inbound.rest.test.m2").await;
    publish(
        &env,
        "outbound.discord.0.0.0",
        json!({"command": "request_guild_members", "guild_id": guild.to_string(), "query": "", "limit": 0, "nonce": "same", "reply_to": "inbound.rest.test.m1"}),
    )
    .await;
    publish(
        &env,
        "outbound.discord.0.0.0",
        json!({"command": "request_guild_members", "guild_id": guild, "user_ids": [member.user.id.to_string(), "42"], "nonce": "same", "reply_to": "inbound.rest.test.m2"}),
    )
    .await;
    let all = answer_with_event(&mut first, "GUILD_MEMBERS_CHUNK").await;
    assert_eq!(all["d"]["nonce"], "same");
    let members = all["d"]["members"].as_array().expect("members");
    assert_eq!(
        members.len(),
        env.sim.world().guilds[0].members.len() + 1,
        "every member and the bot"
    );
    let by_id = answer_with_event(&mut second, "GUILD_MEMBERS_CHUNK").await;
    assert_eq!(by_id["d"]["nonce"], "same");
    assert_eq!(by_id["d"]["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        by_id["d"]["members"][0]["user"]["id"],
        member.user.id.to_string()
    );
    assert_eq!(by_id["d"]["not_found"], json!(["42"]));
    let shard = shard_of(guild, 2);
    assert_eq!(all["shard"], shard);
    // Discord saw nonces of the gateway's own, one per request, within 32 bytes
    let sent: Vec<String> = env
        .sim
        .counters()
        .sessions
        .iter()
        .filter(|s| s.connected && s.shard == [shard, 2])
        .flat_map(|s| s.commands.iter())
        .filter(|c| c.op == 8)
        .map(|c| c.d["nonce"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0] != sent[1] && sent.iter().all(|n| n != "same" && n.len() <= 32));
    while let Some(msg) = inbound.try_recv() {
        let env: Value = serde_json::from_slice(&msg.payload).unwrap_or_default();
        assert_ne!(
            env["t"], "GUILD_MEMBERS_CHUNK",
            "chunks go to the requester only"
        );
    }

    // a second whole-guild request within the window: Discord's RATE_LIMITED, to this requester
    publish(
        &env,
        "outbound.discord.0.0.0",
        json!({"command": "request_guild_members", "guild_id": guild, "query": "", "limit": 0, "nonce": "again", "reply_to": "inbound.rest.test.m1"}),
    )
    .await;
    let limited = loop {
        let a = answer(&mut first).await;
        if a["ok"] == false {
            break a;
        }
    };
    assert_eq!(limited["kind"], "rate_limited", "{limited}");
    assert!(limited["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0));
    assert_eq!(limited["d"]["meta"]["nonce"], "again");

    // a voice join: the bot's voice state (with its session id) and the voice server
    let mut voice = env.subscribe("inbound.rest.test.voice").await;
    let vc = voice_channel(&env, 0);
    publish(
        &env,
        "outbound.discord.0.0.0",
        json!({"command": "update_voice_state", "guild_id": guild.to_string(), "channel_id": vc.to_string(), "self_deaf": true, "reply_to": "inbound.rest.test.voice"}),
    )
    .await;
    let mut state = None;
    let mut server = None;
    while state.is_none() || server.is_none() {
        let a = answer(&mut voice).await;
        assert_eq!(a["ok"], true, "{a}");
        match a["event"].as_str() {
            Some("VOICE_STATE_UPDATE") => state = Some(a["d"].clone()),
            Some("VOICE_SERVER_UPDATE") => server = Some(a["d"].clone()),
            _ => {}
        }
    }
    let state = state.expect("state");
    assert_eq!(state["channel_id"], vc.to_string());
    assert!(state["session_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(server.expect("server")["endpoint"].is_string());

    gw.shutdown().await;
}

#[tokio::test]
async fn refusals_name_the_problem() {
    let env = env(SimConfig::fast()).await;
    let gw = env.start(env.config()).await;
    let guild = env.sim.world().guilds[0].id;
    let mut errors = env.subscribe("errors.>").await;
    let mut replies = env.subscribe("inbound.rest.test.>").await;
    let cases = [
        (
            json!({"command": "request_guild_members", "guild_id": guild, "query": "", "limit": 0, "reply_to": "inbound.rest.test.r"}),
            "missing_intent",
            "GUILD_MEMBERS",
        ),
        (
            json!({"command": "request_guild_members", "guild_id": guild, "query": "a", "limit": 5, "presences": true, "reply_to": "inbound.rest.test.r"}),
            "missing_intent",
            "GUILD_PRESENCES",
        ),
        (
            json!({"command": "update_presence", "status": "busy", "reply_to": "inbound.rest.test.r"}),
            "bad_payload",
            "busy",
        ),
        (
            json!({"command": "update_presence", "status": "online", "shard": 7, "reply_to": "inbound.rest.test.r"}),
            "no_shard",
            "shard 7",
        ),
        (
            json!({"command": "request_guild_members", "guild_id": guild, "query": "a", "reply_to": "inbound.rest.test.r"}),
            "bad_payload",
            "limit",
        ),
    ];
    for (payload, kind, names) in cases {
        publish(&env, "outbound.discord.0.0.0", payload.clone()).await;
        let report: Value = serde_json::from_slice(&recv(&mut errors).await.payload).expect("json");
        assert_eq!(report["kind"], kind, "{payload}: {report}");
        assert!(
            report["reason"].as_str().is_some_and(|r| r.contains(names)),
            "{report}"
        );
        let a = answer(&mut replies).await;
        assert_eq!(
            (a["ok"].clone(), a["kind"].clone()),
            (json!(false), json!(kind)),
            "{a}"
        );
    }

    // a reply_to outside the reply namespace is refused, and nothing is published there
    let mut hijack = env.subscribe("inbound.discord.>").await;
    publish(
        &env,
        "outbound.discord.0.0.0",
        json!({"command": "update_presence", "status": "online", "reply_to": "inbound.discord.1.2.3"}),
    )
    .await;
    let report: Value = serde_json::from_slice(&recv(&mut errors).await.payload).expect("json");
    assert_eq!(report["kind"], "reply_to_not_allowed", "{report}");
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("inbound.rest"))
    );
    // the same straight on the shard's command topic, which anyone can publish on: neither
    // its reply_to nor an ack_to elsewhere makes the gateway publish there
    let mut control = env.subscribe("control.>").await;
    publish(
        &env,
        "command.discord.testbot.0",
        json!({"command": "update_presence", "status": "online", "reply_to": "control.gateway", "ack_to": "inbound.discord.9.9.9"}),
    )
    .await;
    let report: Value = serde_json::from_slice(&recv(&mut errors).await.payload).expect("json");
    assert_eq!(report["topic"], "command.discord.testbot.0", "{report}");
    assert_eq!(report["kind"], "reply_to_not_allowed", "{report}");
    // the refusal was published before this marker, so it would be queued ahead of it
    publish(&env, "inbound.rest.test.marker", json!("marker")).await;
    assert_eq!(answer(&mut replies).await, json!("marker"));
    assert!(
        hijack.try_recv().is_none(),
        "nothing published on the hijacked topic"
    );
    assert!(
        control.try_recv().is_none(),
        "nothing published on control.…"
    );
    let sent_presences: usize = env
        .sim
        .counters()
        .sessions
        .iter()
        .map(|s| s.commands.iter().filter(|c| c.op == 3).count())
        .sum();
    assert_eq!(sent_presences, 0, "no refused command reached Discord");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_command_reaches_the_process_holding_the_guilds_shard() {
    let env = env(SimConfig {
        shards: 2,
        ..SimConfig::fast()
    })
    .await;
    // only shard 0 runs at first: a command for a guild on shard 1 has no holder
    let mut config = env.config();
    config.shards = Some(2);
    config.command_ack_timeout = Duration::from_millis(500);
    let mut first = config.clone();
    first.shard_range = Some(ShardRange { first: 0, last: 0 });
    let a = env.start(first).await;
    let guilds = env.sim.world().guilds.clone();
    let on_1 = guilds
        .iter()
        .find(|g| shard_of(g.id, 2) == 1)
        .expect("a guild on shard 1")
        .id;
    let mut replies = env.subscribe("inbound.rest.test.>").await;
    let member = guilds.iter().find(|g| g.id == on_1).expect("guild").members[0]
        .user
        .id;
    let ask = json!({"command": "request_guild_members", "guild_id": on_1.to_string(), "user_ids": [member.to_string()], "reply_to": "inbound.rest.test.q"});
    publish(&env, "outbound.discord.0.0.0", ask.clone()).await;
    let refused = answer(&mut replies).await;
    assert_eq!(refused["kind"], "no_holder", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("shard 1")),
        "{refused}"
    );
    assert!(refused["retry_after_ms"].as_u64().is_some());

    // a second process takes shard 1; the same command now reaches it
    let mut second = config;
    second.shard_range = Some(ShardRange { first: 1, last: 1 });
    let b = env.start(second).await;
    publish(&env, "outbound.discord.0.0.0", ask).await;
    let chunk = answer_with_event(&mut replies, "GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["shard"], 1);
    assert_eq!(chunk["d"]["guild_id"], on_1.to_string());
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn a_full_command_queue_is_refused_before_discord_closes_the_shard() {
    // Discord's heartbeat interval, so that heartbeats take their real share of the 120
    // frames a minute
    let env = env(SimConfig {
        timings: Timings {
            heartbeat_interval_ms: 41_250,
            heartbeat_timeout_ms: 60_000,
            ..SimConfig::fast().timings
        },
        ..SimConfig::fast()
    })
    .await;
    let mut config = env.config();
    config.command_queue = 5;
    let gw = env.start(config).await;
    let mut replies = env.subscribe("inbound.rest.test.>").await;
    let presence = |i: usize| json!({"command": "update_presence", "status": "online", "since": i, "reply_to": format!("inbound.rest.test.p{i}")});
    // one at a time, each answered before the next: a minute's budget is sent at once
    for i in 0..100 {
        publish(&env, "outbound.discord.0.0.0", presence(i)).await;
        let a = answer(&mut replies).await;
        assert_eq!(a["ok"], true, "command {i}: {a}");
    }
    // the next five wait in the queue for the budget, and the ones after them are refused
    for i in 100..105 {
        publish(&env, "outbound.discord.0.0.0", presence(i)).await;
    }
    for i in 105..110 {
        publish(&env, "outbound.discord.0.0.0", presence(i)).await;
        let a = answer(&mut replies).await;
        assert_eq!(a["kind"], "queue_full", "command {i}: {a}");
        assert!(a["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{a}");
        assert!(
            a["error"].as_str().is_some_and(|e| e.contains("retry in")),
            "{a}"
        );
    }
    // "sent" means handed to the connection; the fake records each as it arrives
    common::eventually("Discord got the 100 presence updates", || {
        let c = env.sim.counters();
        let live: Vec<_> = c.sessions.iter().filter(|s| s.connected).collect();
        live.len() == 1 && live[0].commands.iter().filter(|c| c.op == 3).count() == 100
    })
    .await;
    assert_eq!(gw.status().shards[0].state, ShardPhase::Active);
    assert_eq!(
        gw.status().shards[0].last_close,
        None,
        "no close at all (no 4008)"
    );
    tokio::time::timeout(WAIT, gw.shutdown())
        .await
        .expect("shutdown");
}
