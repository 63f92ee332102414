//! The Rust `redis` crate as a client of the RESP listener, in RESP2 and RESP3: subscribe
//! and psubscribe, PUBLISH counts, messages from the Broker API to Redis clients and back.

use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use switchyard_broker::Broker;
use switchyard_broker::embedded::resp::{RespConfig, RespServer};
use switchyard_broker::embedded::{EmbeddedBroker, EmbeddedConfig};

const WAIT: Duration = Duration::from_secs(5);

async fn exercise(protocol: &str) {
    let broker = EmbeddedBroker::new(EmbeddedConfig::default());
    let server = RespServer::bind(&broker, RespConfig::on_port(0))
        .await
        .expect("bind");
    let url = format!("redis://{}/?protocol={protocol}", server.local_addr());
    let running = server.spawn();

    let client = redis::Client::open(url.as_str()).expect("client");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub connection");
    pubsub.subscribe("plain").await.expect("subscribe");
    pubsub.psubscribe("inbound.*").await.expect("psubscribe");
    let mut api = broker
        .subscribe(&"from-redis.>".parse().expect("pattern"))
        .await
        .expect("api subscribe");

    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let pong: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .expect("ping");
    assert_eq!(pong, "PONG");
    let count: i64 = conn.publish("plain", "hello").await.expect("publish");
    assert_eq!(count, 1);
    broker
        .publish(
            &"inbound.discord.1.2.3".parse().expect("topic"),
            "from-api".into(),
        )
        .await
        .expect("api publish");
    let count: i64 = conn
        .publish("from-redis.x", "to-api")
        .await
        .expect("publish");
    assert_eq!(count, 1, "the Broker-API subscriber counts as a receiver");

    let mut messages = pubsub.on_message();
    let first = tokio::time::timeout(WAIT, messages.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(first.get_channel_name(), "plain");
    assert_eq!(first.get_payload_bytes(), b"hello");
    assert!(!first.from_pattern());
    let second = tokio::time::timeout(WAIT, messages.next())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(second.get_channel_name(), "inbound.discord.1.2.3");
    assert_eq!(second.get_payload_bytes(), b"from-api");
    let pattern: String = second.get_pattern().expect("pattern");
    assert_eq!(pattern, "inbound.*");

    let delivered = tokio::time::timeout(WAIT, api.recv())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(delivered.topic.as_str(), "from-redis.x");
    assert_eq!(&delivered.payload[..], b"to-api");
    drop(messages);
    drop(pubsub);
    running.shutdown().await;
}

#[tokio::test]
async fn redis_crate_resp2() {
    exercise("resp2").await;
}

#[tokio::test]
async fn redis_crate_resp3() {
    exercise("resp3").await;
}
