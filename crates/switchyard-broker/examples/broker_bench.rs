//! Broker benchmarks, side by side in one run, against private servers:
//!
//! - publish throughput with no subscribers through each backend, next to
//!   `redis-benchmark -P 32 PUBLISH` with the same payload size (the reference line);
//! - publish-to-subscriber latency (p50, p99) at a fixed rate.
//!
//! `cargo run --release -p switchyard-broker --example broker_bench [-- PAYLOAD_BYTES]`
//! prints a Markdown table for BENCHMARKS.md.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard_broker::embedded::{EmbeddedBroker, EmbeddedConfig};
use switchyard_broker::{Broker, BrokerOptions, Topic, connect};
use switchyard_testkit::{NatsServer, RedisServer, require_binary};

const RATE: u32 = 2000;
const LATENCY_SECS: u64 = 3;

fn redis_benchmark(port: u16, payload: usize, n: u32) -> f64 {
    let arg = "x".repeat(payload);
    let out = Command::new(require_binary("redis-benchmark"))
        .args([
            "-p",
            &port.to_string(),
            "-P",
            "32",
            "-n",
            &n.to_string(),
            "-q",
        ])
        .args(["PUBLISH", "bench.topic", &arg])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    // "PUBLISH bench.topic xxx…: 1234567.00 requests per second, p50=…"
    text.split("requests per second")
        .next()
        .and_then(|head| head.rsplit(' ').nth(1).or_else(|| head.rsplit(": ").next()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("cannot read redis-benchmark output: {text}"))
}

async fn throughput(broker: &Arc<dyn Broker>, payload: usize, n: u32) -> f64 {
    let topic = Topic::new("bench.topic").expect("topic");
    let body = Bytes::from(vec![b'x'; payload]);
    let start = Instant::now();
    for _ in 0..n {
        broker.publish(&topic, body.clone()).await.expect("publish");
    }
    // Wait until everything queued before has been answered.
    broker
        .publish_confirmed(&topic, body.clone())
        .await
        .expect("publish");
    f64::from(n + 1) / start.elapsed().as_secs_f64()
}

async fn latency(
    broker: &Arc<dyn Broker>,
    subscriber: &Arc<dyn Broker>,
    payload: usize,
) -> (f64, f64) {
    let topic = Topic::new("bench.latency").expect("topic");
    let mut sub = subscriber
        .subscribe(&"bench.latency".parse().expect("pattern"))
        .await
        .expect("subscribe");
    let origin = Instant::now();
    let total = RATE as usize * LATENCY_SECS as usize;
    let reader = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(total);
        while samples.len() < total {
            let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await
            else {
                break;
            };
            let mut sent = [0u8; 8];
            sent.copy_from_slice(&msg.payload[..8]);
            let now = origin.elapsed().as_nanos() as u64;
            samples.push(now.saturating_sub(u64::from_le_bytes(sent)));
        }
        samples
    });
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / RATE);
    for _ in 0..total {
        ticker.tick().await;
        let mut body = vec![b'x'; payload.max(8)];
        body[..8].copy_from_slice(&(origin.elapsed().as_nanos() as u64).to_le_bytes());
        broker.publish(&topic, body.into()).await.expect("publish");
    }
    let mut samples = reader.await.expect("reader");
    assert!(
        samples.len() == total,
        "lost {} of {total}",
        total - samples.len()
    );
    samples.sort_unstable();
    let pct = |p: f64| {
        samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)] as f64 / 1000.0
    };
    (pct(0.50), pct(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let payload: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    let options = BrokerOptions::default();
    let streams_url = format!(
        "{}?durable=streams&prefixes=bench&max_len=100000",
        redis.url()
    );
    let js_url = format!(
        "{}?durable=jetstream&prefixes=bench&max_len=100000",
        nats.url()
    );
    let embedded: Arc<dyn Broker> = Arc::new(EmbeddedBroker::new(EmbeddedConfig::default()));

    println!(
        "payload {payload} bytes, no subscribers; latency at {RATE} msg/s for {LATENCY_SECS} s\n"
    );
    println!("| backend | publish msg/s | vs redis-benchmark -P 32 | latency p50 | latency p99 |");
    println!("|---|---:|---:|---:|---:|");
    let reference = redis_benchmark(redis.port(), payload, 2_000_000);
    println!("| redis-benchmark -P 32 PUBLISH (reference) | {reference:.0} | 100% | | |");
    let cases: Vec<(&str, String, u32)> = vec![
        ("embedded", "embedded".into(), 2_000_000),
        ("redis (pub/sub)", redis.url(), 1_000_000),
        ("redis streams (XADD)", streams_url, 300_000),
        ("nats (core)", nats.url(), 1_000_000),
        ("nats jetstream (acked publish)", js_url, 20_000),
    ];
    for (name, url, n) in cases {
        let (publisher, subscriber) = if url == "embedded" {
            (Arc::clone(&embedded), Arc::clone(&embedded))
        } else {
            (
                connect(&url, &options).await.expect("connect"),
                connect(&url, &options).await.expect("connect"),
            )
        };
        let rate = throughput(&publisher, payload, n).await;
        let (p50, p99) = latency(&publisher, &subscriber, payload).await;
        println!(
            "| {name} | {rate:.0} | {:.0}% | {p50:.0} µs | {p99:.0} µs |",
            rate / reference * 100.0
        );
    }
}
