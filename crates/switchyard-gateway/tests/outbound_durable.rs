//! Outbound that survives a gateway restart, on a durable broker (Redis Streams and JetStream,
//! each on a private server): replies and a command published while no gateway reads the
//! outbound topics are sent when one comes back, each once; a reply older than the age limit
//! is reported as expired and not sent. On plain pub/sub, what is published while no gateway
//! runs is gone (at-most-once, as documented).

mod common;

use std::time::Duration;

use common::{env, recv};
use serde_json::{Value, json};
use switchyard_broker::{Broker, BrokerOptions};
use switchyard_core::Topic;
use switchyard_sim::SimConfig;
use switchyard_testkit::{NatsServer, RedisServer};

/// Published replies must be older than this to be refused; the fresh ones are read well
/// within it, however loaded the machine.
const MAX_AGE: Duration = Duration::from_secs(8);

async fn survives_a_restart(url: &str) {
    let broker = switchyard_broker::connect(url, &BrokerOptions::default())
        .await
        .expect("durable broker");
    assert!(broker.capabilities().durable, "{url}");
    let env = env(SimConfig::fast()).await;
    let ch = env.channel(0);
    let mut config = env.config();
    config.message_max_age = MAX_AGE;
    let start = || async {
        let gw = switchyard_gateway::start(config.clone(), env.deps_with(broker.clone()))
            .await
            .expect("gateway starts");
        assert!(gw.wait_ready(common::WAIT).await, "ready");
        gw
    };
    // The first start creates the durable groups; then every gateway stops.
    start().await.shutdown().await;

    let publish = |topic: String, payload: Value| {
        let broker = broker.clone();
        async move {
            broker
                .publish(
                    &Topic::new(&topic).expect("topic"),
                    payload.to_string().into(),
                )
                .await
                .expect("publish");
        }
    };
    let out = format!("outbound.discord.0.{ch}.0");
    publish(
        out.clone(),
        json!({"content": "too old", "nonce": "n-old", "enforce_nonce": true, "reply_to": "inbound.rest.test.old"}),
    )
    .await;
    tokio::time::sleep(MAX_AGE + Duration::from_secs(1)).await;
    for i in 0..3 {
        publish(
            out.clone(),
            json!({"content": format!("while away {i}"), "nonce": format!("n{i}"), "enforce_nonce": true}),
        )
        .await;
    }
    publish(
        "outbound.discord.0.0.0".into(),
        json!({"command": "update_presence", "status": "idle", "reply_to": "inbound.rest.test.presence"}),
    )
    .await;

    // A gateway comes back: the fresh replies and the command are sent, the old one is not.
    let mut errors = broker
        .subscribe(&"errors.>".parse().expect("pattern"))
        .await
        .expect("subscribe");
    let gw = start().await;
    let posted = env.wait_posted(ch, 3).await;
    let texts: Vec<&str> = posted
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(texts, ["while away 0", "while away 1", "while away 2"]);
    let report: Value = serde_json::from_slice(&recv(&mut errors).await.payload).expect("json");
    assert_eq!(report["kind"], "expired", "{report}");
    assert!(
        report["payload"]
            .as_str()
            .is_some_and(|p| p.contains("too old")),
        "{report}"
    );
    common::eventually("the presence sent", || {
        env.sim
            .counters()
            .sessions
            .iter()
            .any(|s| s.connected && s.presence["status"] == "idle")
    })
    .await;
    // Each was acknowledged: nothing comes again once the broker's ack wait (1 s here) has
    // passed twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(env.posted(ch).len(), 3, "{:?}", env.posted(ch));
    assert!(
        env.sim
            .messages(ch)
            .iter()
            .all(|m| m["content"] != "too old"),
        "the expired reply was not sent"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn redis_streams_outbound_survives_a_gateway_restart() {
    let redis = RedisServer::start();
    survives_a_restart(&format!("{}?durable=streams&ack_wait_ms=1000", redis.url())).await;
}

#[tokio::test]
async fn jetstream_outbound_survives_a_gateway_restart() {
    let nats = NatsServer::start();
    survives_a_restart(&format!(
        "{}?durable=jetstream&ack_wait_ms=1000",
        nats.url()
    ))
    .await;
}

#[tokio::test]
async fn plain_pub_sub_outbound_is_at_most_once() {
    let env = env(SimConfig::fast()).await;
    let ch = env.channel(0);
    env.start(env.config()).await.shutdown().await;
    let out = Topic::new(&format!("outbound.discord.0.{ch}.0")).expect("topic");
    env.broker
        .publish(&out, "\"nobody hears this\"".into())
        .await
        .expect("publish");
    let gw = env.start(env.config()).await;
    env.broker
        .publish(&out, "\"after the restart\"".into())
        .await
        .expect("publish");
    let posted = env.wait_posted(ch, 1).await;
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["content"], "after the restart");
    gw.shutdown().await;
}
