//! End to end on the embedded broker: fake Discord → gateway → broker → consumer → outbound →
//! the fake records the REST call; outbound errors; fatal close codes; the Bytebot profile,
//! also on a session resumed after a crash (no READY tells it the bot's user id).

mod common;

use std::time::Duration;

use common::{TOKEN, WAIT, env, eventually, message_with, recv};
use switchyard_broker::Broker;
use switchyard_core::Topic;
use switchyard_gateway::{Intents, ShardPhase};
use switchyard_rest::HttpRequest;
use switchyard_sim::SimConfig;

#[tokio::test]
async fn round_trip_through_the_broker_and_rest() {
    let env = env(SimConfig {
        shards: 2,
        ..SimConfig::fast()
    })
    .await;
    let gw = env.start(env.config()).await;
    let status = gw.status();
    assert_eq!((status.ready, status.total), (2, 2));
    assert!(
        status
            .shards
            .iter()
            .all(|s| s.state == ShardPhase::Active && s.session.is_some())
    );

    let mut inbound = env.subscribe("inbound.discord.>").await;
    let ch = env.channel(0);
    env.say(ch, "ping");
    let (msg, d) = message_with(&mut inbound, "ping").await;
    let guild = d["guild_id"].as_str().expect("guild");
    let author = d["author"]["id"].as_str().expect("author");
    assert_eq!(
        msg.topic.as_str(),
        format!("inbound.discord.{guild}.{ch}.{author}")
    );

    // a consumer answers on the outbound topic, as a JSON string and as an object
    let out = Topic::new(&format!("outbound.discord.{guild}.{ch}.{author}")).expect("topic");
    env.broker
        .publish(&out, r#""pong""#.into())
        .await
        .expect("publish");
    let reply = format!(
        r#"{{"content":"pong 2","message_reference":{{"message_id":"{}"}},"allowed_mentions":{{"parse":[]}},"reply_to":"inbound.rest.test.test"}}"#,
        d["id"].as_str().expect("id")
    );
    let mut replies = env.subscribe("inbound.rest.test.>").await;
    env.broker
        .publish(&out, reply.into())
        .await
        .expect("publish");
    let posted = env.wait_posted(ch, 2).await;
    assert_eq!(posted[0]["content"], "pong");
    assert_eq!(posted[1]["content"], "pong 2");
    assert_eq!(posted[1]["message_reference"]["message_id"], d["id"]);
    let answer: serde_json::Value =
        serde_json::from_slice(&recv(&mut replies).await.payload).expect("json");
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["body"]["content"], "pong 2");

    // the gateway also receives the bot's own messages as MESSAGE_CREATE
    message_with(&mut inbound, "pong").await;

    // a general request on an allowed route, with its answer on reply_to
    let typing = format!(
        r#"{{"method":"POST","path":"/channels/{ch}/typing","reply_to":"inbound.rest.test.typing"}}"#
    );
    env.broker
        .publish(&out, typing.into())
        .await
        .expect("publish");
    let answer: serde_json::Value =
        serde_json::from_slice(&recv(&mut replies).await.payload).expect("json");
    assert_eq!(answer["status"], 204, "{answer}");
    gw.shutdown().await;
}

#[tokio::test]
async fn invalid_outbound_goes_to_error_topics_and_nothing_crashes() {
    let env = env(SimConfig::fast()).await;
    let gw = env.start(env.config()).await;
    let mut errors = env.subscribe("errors.outbound.>").await;
    let ch = env.channel(0);
    let cases: [(String, &[u8], &str); 6] = [
        (
            format!("outbound.discord.1.{ch}.3"),
            br#"{"content": "unterminated"#,
            "bad_json",
        ),
        ("outbound.discord.1.0.3".into(), br#""hello""#, "no_channel"),
        (
            format!("outbound.discord.1.{ch}.3"),
            br#"{"method":"DELETE","path":"/guilds/1"}"#,
            "route_not_allowed",
        ),
        (
            "outbound.discord.1.999.3".into(),
            br#""to nowhere""#,
            "discord_error",
        ),
        (
            format!("outbound.discord.1.{ch}.3"),
            &[0xff, 0x00],
            "bad_payload",
        ),
        (
            format!("outbound.discord.1.{ch}.3"),
            br#"{"content":"x","bogus":1}"#,
            "bad_payload",
        ),
    ];
    for (topic, payload, kind) in cases {
        let topic = Topic::new(&topic).expect("topic");
        env.broker
            .publish(&topic, bytes::Bytes::copy_from_slice(payload))
            .await
            .expect("publish");
        let msg = recv(&mut errors).await;
        assert_eq!(msg.topic.as_str(), format!("errors.{topic}"));
        let report: serde_json::Value = serde_json::from_slice(&msg.payload).expect("json");
        assert_eq!(report["kind"], kind, "{report}");
        assert!(report["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    // a refused request with a reply_to: the caller hears why instead of waiting
    let mut replies = env.subscribe("inbound.rest.test.refused").await;
    let topic = Topic::new(&format!("outbound.discord.1.{ch}.3")).expect("topic");
    env.broker
        .publish(
            &topic,
            r#"{"method":"DELETE","path":"/guilds/1","reply_to":"inbound.rest.test.refused"}"#
                .into(),
        )
        .await
        .expect("publish");
    let answer: serde_json::Value =
        serde_json::from_slice(&recv(&mut replies).await.payload).expect("json");
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["kind"], "route_not_allowed", "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("allowed_routes"))
    );
    recv(&mut errors).await;

    // still alive: a valid message goes through afterwards
    let topic = Topic::new(&format!("outbound.discord.1.{ch}.3")).expect("topic");
    env.broker
        .publish(&topic, "still here".into())
        .await
        .expect("publish");
    assert_eq!(env.wait_posted(ch, 1).await[0]["content"], "still here");
    let to_999: Vec<u16> = env
        .sim
        .counters()
        .rest_calls
        .iter()
        .filter(|c| c.path == "/api/v10/channels/999/messages")
        .map(|c| c.status)
        .collect();
    assert_eq!(
        to_999,
        vec![404],
        "the fake refused the unknown channel once"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn error_reports_hide_tokens_and_refuse_encoded_separators() {
    let env = env(SimConfig::fast()).await;
    let gw = env.start(env.config()).await;
    let mut errors = env.subscribe("errors.outbound.>").await;
    let ch = env.channel(0);
    let topic = Topic::new(&format!("outbound.discord.1.{ch}.3")).expect("topic");
    let cases: [(String, &str); 3] = [
        // allowed, but the fake knows no such webhook: Discord's error is reported
        (
            r#"{"method":"PATCH","path":"/webhooks/7/SECRET-WEBHOOK-TOKEN/messages/@original","body":{"content":"x"}}"#.into(),
            "discord_error",
        ),
        (
            r#"{"method":"DELETE","path":"/webhooks/7/SECRET-WEBHOOK-TOKEN"}"#.into(),
            "route_not_allowed",
        ),
        (
            format!(r#"{{"method":"POST","path":"/channels/{ch}%2F..%2Fguilds%2F1/messages","body":{{"content":"x"}}}}"#),
            "bad_payload",
        ),
    ];
    for (payload, kind) in cases {
        env.broker
            .publish(&topic, payload.into())
            .await
            .expect("publish");
        let msg = recv(&mut errors).await;
        let text = String::from_utf8_lossy(&msg.payload).into_owned();
        assert!(!text.contains("SECRET-WEBHOOK-TOKEN"), "{text}");
        let report: serde_json::Value = serde_json::from_slice(&msg.payload).expect("json");
        assert_eq!(report["kind"], kind, "{report}");
        assert!(report["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    assert!(
        !env.sim
            .counters()
            .rest_calls
            .iter()
            .any(|c| c.path.contains("guilds")),
        "the encoded path never reached Discord"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn disallowed_intents_stop_the_shard_with_the_cause() {
    let env = env(SimConfig {
        approved_privileged_intents: 0,
        ..SimConfig::fast()
    })
    .await;
    let mut config = env.config();
    config.intents = Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT;
    let mut gw = switchyard_gateway::start(config, env.deps())
        .await
        .expect("starts");
    let errors = tokio::time::timeout(WAIT, gw.stopped())
        .await
        .expect("stops");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0].to_string();
    assert_eq!(errors[0].close_code, Some(4014), "{error}");
    assert!(error.contains("4014"), "{error}");
    assert!(error.contains("MESSAGE_CONTENT"), "{error}");
    assert!(error.contains("Privileged Gateway Intents"), "{error}");
    let status = gw.status();
    assert_eq!(status.shards[0].state, ShardPhase::Fatal);
    assert_eq!(status.shards[0].last_close, Some(4014));
}

#[tokio::test]
async fn bytebot_profile_publishes_raw_messages_and_skips_its_own() {
    let env = env(SimConfig::fast()).await;
    let mut config = env.config();
    config.profile = switchyard_gateway::Profile::Bytebot;
    let gw = env.start(config).await;
    let mut inbound = env.subscribe("inbound.discord.>").await;
    let ch = env.channel(1);
    env.say(ch, "hi bytebot");
    let msg = recv(&mut inbound).await;
    let raw: serde_json::Value = serde_json::from_slice(&msg.payload).expect("raw message");
    assert_eq!(raw["content"], "hi bytebot", "no envelope: {raw}");
    let skipped_before: u64 = gw.status().shards.iter().map(|s| s.skipped).sum();
    assert!(raw.get("v").is_none());
    let guild = raw["guild_id"].as_str().expect("guild");
    let out = Topic::new(&format!("outbound.discord.{guild}.{ch}.1")).expect("topic");
    env.broker
        .publish(&out, r#""echo: hi bytebot""#.into())
        .await
        .expect("publish");
    env.wait_posted(ch, 1).await;
    // the bot's own message comes back from Discord but is not published; the next user
    // message is the next thing the consumer sees
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.say(ch, "second");
    let msg = recv(&mut inbound).await;
    let raw: serde_json::Value = serde_json::from_slice(&msg.payload).expect("raw");
    assert_eq!(raw["content"], "second");
    let skipped: u64 = gw.status().shards.iter().map(|s| s.skipped).sum();
    assert!(
        skipped > skipped_before,
        "the bot's own message is counted as skipped ({skipped_before} -> {skipped})"
    );
    let own = env.posted(ch);
    assert_eq!(own.len(), 1, "{own:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        inbound.try_recv().is_none(),
        "nothing else was published after the user's second message"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn bytebot_profile_skips_its_own_messages_on_a_resumed_session() {
    let env = env(SimConfig::fast()).await;
    let mut config = env.config();
    config.profile = switchyard_gateway::Profile::Bytebot;
    let gw = env.start(config.clone()).await;
    let session = env.sim.counters().sessions[0].clone();
    env.wait_saved(|s| s.session_id == session.session_id && s.seq == session.last_seq)
        .await;
    // A crash, and a new gateway that RESUMEs the saved session: it gets no READY.
    gw.abort().await;
    eventually("the fake saw the connection drop", || {
        !env.sim.counters().sessions[0].connected
    })
    .await;
    let gw = env.start(config).await;
    let counters = env.sim.counters();
    assert_eq!(counters.sessions.len(), 1, "resumed, not identified anew");
    assert_eq!(counters.sessions[0].resumes, 1);

    let mut inbound = env.subscribe("inbound.discord.>").await;
    let ch = env.channel(1);
    // The bot speaks through REST: Discord sends its own message back as MESSAGE_CREATE.
    let res = env
        .rest
        .send(
            HttpRequest::new(
                http::Method::POST,
                &format!("/channels/{ch}/messages"),
                Some(TOKEN),
            )
            .json(&serde_json::json!({"content": "said by the bot"})),
        )
        .await
        .expect("REST call");
    assert!(res.status.is_success(), "{}", res.status);
    let own: serde_json::Value =
        serde_json::from_slice(&res.bytes().await.expect("body")).expect("json");
    assert_eq!(own["author"]["bot"], true, "{own}");
    env.say(ch, "said by a user");
    let last = env.sim.counters().sessions[0].last_seq;
    let msg = recv(&mut inbound).await;
    let raw: serde_json::Value = serde_json::from_slice(&msg.payload).expect("raw message");
    assert_eq!(
        raw["content"], "said by a user",
        "the bot's own was skipped"
    );
    assert_ne!(raw["author"]["id"], own["author"]["id"]);
    eventually("the gateway received both", || {
        gw.status().shards[0].seq >= last
    })
    .await;
    assert!(inbound.try_recv().is_none(), "nothing else was published");
    gw.shutdown().await;
}
