//! The full path on the real brokers (each on a private server): fake Discord → gateway →
//! broker → a consumer → outbound topic → gateway → the fake records the REST call. The
//! embedded broker's round trip is in `e2e.rs`; the durable modes' in switchyard-bot's
//! `durability.rs`.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{WAIT, env};
use switchyard_broker::{Broker, BrokerOptions, Pattern, Topic};
use switchyard_sim::SimConfig;
use switchyard_testkit::{NatsServer, RedisServer};

/// A consumer that answers each `ping N` with `pong N` on the outbound topic.
async fn pong_consumer(broker: Arc<dyn Broker>) -> tokio::task::JoinHandle<()> {
    let mut sub = broker
        .subscribe(&Pattern::new("inbound.discord.>").expect("pattern"))
        .await
        .expect("subscribe");
    tokio::spawn(async move {
        while let Some(msg) = sub.recv().await {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&msg.payload) else {
                continue;
            };
            let Some(text) = v["d"]["content"].as_str() else {
                continue;
            };
            let Some(n) = text.strip_prefix("ping ") else {
                continue;
            };
            let out = msg.topic.as_str().replacen("inbound.", "outbound.", 1);
            let topic = Topic::new(&out).expect("outbound topic");
            let answer = Bytes::from(format!("\"pong {n}\""));
            broker.publish(&topic, answer).await.expect("answer");
        }
    })
}

async fn round_trip(url: &str) {
    let broker = switchyard_broker::connect(url, &BrokerOptions::default())
        .await
        .expect("broker");
    let env = env(SimConfig::fast()).await;
    let consumer = pong_consumer(broker.clone()).await;
    let gw = switchyard_gateway::start(env.config(), env.deps_with(broker))
        .await
        .expect("gateway");
    assert!(gw.wait_ready(WAIT).await);
    let ch = env.channel(0);
    for i in 0..3 {
        env.say(ch, &format!("ping {i}"));
    }
    let posted = env.wait_posted(ch, 3).await;
    let answers: Vec<&str> = posted
        .iter()
        .filter_map(|p| p["content"].as_str())
        .collect();
    assert_eq!(answers, ["pong 0", "pong 1", "pong 2"], "{url}");
    gw.shutdown().await;
    consumer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_redis_pub_sub() {
    let redis = RedisServer::start();
    round_trip(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_core_nats() {
    let nats = NatsServer::start();
    round_trip(&nats.url()).await;
}
