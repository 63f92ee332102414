//! Cluster-wide limits: three proxy nodes (each its own limiter, HTTP client and listener, as
//! three processes would have) share one private Redis, and are sent everything at once, far
//! past the fake Discord's bucket limits. The fake counts every 429 it sends: there must be
//! none. Every request is answered (queue mode) or refused by a synthetic 429 (fail-fast
//! mode), and messages of one node to one channel arrive in the order they were sent.

mod common;

use std::time::Duration;

use common::{
    Node, TOKEN, accepted_contents, assert_in_order, channels, config, entered, sim_with,
    small_limits, taken, upstream_429s,
};
use serde_json::json;
use switchyard_rest::WaitMode;
use switchyard_testkit::RedisServer;

const PER_STREAM: usize = 25;

/// Each node gets `PER_STREAM` messages for each channel, all at once rather than at the
/// fake's 10/s ([`limits`]). Each request is its own task; the next one to a node is sent once
/// that node has taken the last into its limiter, so the order in which a node received one
/// stream's requests is the order they were sent, whatever the scheduling on a busy machine
/// (sending them a fixed time apart was not enough under load).
async fn load(nodes: &[Node], chans: &[u64]) -> Vec<(usize, u16, bool)> {
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    let mut expected: Vec<u64> = nodes.iter().map(|n| entered(&n.client)).collect();
    for i in 0..PER_STREAM {
        for (n, node) in nodes.iter().enumerate() {
            for ch in chans {
                let url = format!("{}/channels/{ch}/messages", node.api());
                let http = http.clone();
                let body = json!({"content": format!("n{n}c{ch}-{i}")}).to_string();
                tasks.push(tokio::spawn(async move {
                    let res = http
                        .post(url)
                        .header("Authorization", format!("Bot {TOKEN}"))
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("the proxy answers");
                    let generated = res.headers().contains_key("x-switchyard-generated");
                    (n, res.status().as_u16(), generated)
                }));
                expected[n] += 1;
                taken(&node.client, expected[n]).await;
            }
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

/// The fake's limits for the cluster tests: messages 5 per 500 ms per channel.
fn limits() -> switchyard_sim::RateLimits {
    let mut limits = small_limits();
    limits.message_create.window_ms = 500;
    limits
}

async fn cluster(wait: WaitMode) -> (switchyard_sim::SimHandle, Vec<(usize, u16, bool)>, Vec<u64>) {
    let redis = RedisServer::start();
    let sim = sim_with(limits()).await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let mut cfg = config(sim.http_url(), Some(redis.url()));
        cfg.wait = wait;
        nodes.push(Node::start(cfg).await);
    }
    let chans = channels(&sim, 2);
    let results = tokio::time::timeout(Duration::from_secs(60), load(&nodes, &chans))
        .await
        .expect("load finishes in time");
    for node in &nodes {
        assert_eq!(node.client.limiter().stats().store, "redis");
    }
    (sim, results, chans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_at_ten_times_the_limits_earn_no_429_and_keep_order() {
    let (sim, results, chans) = cluster(WaitMode::Queue {
        max_wait: Duration::from_secs(30),
    })
    .await;
    assert_eq!(results.len(), 3 * 2 * PER_STREAM);
    assert!(
        results.iter().all(|(_, s, _)| *s == 200),
        "every request is answered: {:?}",
        results.iter().filter(|r| r.1 != 200).collect::<Vec<_>>()
    );
    assert_eq!(upstream_429s(&sim), 0, "the fake sent 429s");
    for ch in &chans {
        let contents = accepted_contents(&sim, *ch);
        assert_eq!(contents.len(), 3 * PER_STREAM);
        for n in 0..3 {
            assert_in_order(&contents, &format!("n{n}c{ch}"), PER_STREAM);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_failing_fast_answer_synthetic_429s_and_earn_none() {
    let (sim, results, chans) = cluster(WaitMode::FailFast).await;
    let ok = results.iter().filter(|r| r.1 == 200).count();
    let refused = results.iter().filter(|r| r.1 == 429 && r.2).count();
    assert_eq!(ok + refused, results.len(), "only 200s and synthetic 429s");
    assert!(ok >= 10 && refused > 0, "ok {ok} refused {refused}");
    assert_eq!(upstream_429s(&sim), 0, "the fake sent 429s");
    let accepted: usize = chans
        .iter()
        .map(|c| accepted_contents(&sim, *c).len())
        .sum();
    assert_eq!(accepted, ok);
}
