//! twilight-http 0.18, unchanged, pointed at three proxy nodes sharing Redis (its `proxy`
//! setting, its own limiter off): all at once against the fake's limits, no upstream 429,
//! every message sent, and each client's messages in order.

mod common;

use std::time::Duration;

use common::{
    Node, TOKEN, accepted_contents, assert_in_order, channels, config, entered, sim_with,
    small_limits, taken, upstream_429s,
};
use switchyard_testkit::RedisServer;
use twilight_model::id::Id;

const PER_CLIENT: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilight_through_three_nodes_earns_no_429() {
    let redis = RedisServer::start();
    let mut limits = small_limits();
    limits.message_create.window_ms = 500;
    let sim = sim_with(limits).await;
    let ch = channels(&sim, 1)[0];
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(config(sim.http_url(), Some(redis.url()))).await);
    }
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let client = twilight_http::Client::builder()
            .token(TOKEN.to_owned())
            .proxy(node.addr.to_string(), true)
            .ratelimiter(None)
            .build();
        let proxy = node.client.clone();
        tasks.push(tokio::spawn(async move {
            // each client fires its messages without waiting for the previous one: three
            // clients offer far more than the 10/s the channel allows. Each send is its own
            // task; the next goes once the proxy has taken the last into its limiter, so the
            // order of arrival is the order of sending on a machine however busy (sends 25 ms
            // apart were reordered under load).
            let client = std::sync::Arc::new(client);
            let mut expected = entered(&proxy);
            let mut sends = Vec::new();
            for i in 0..PER_CLIENT {
                let client = client.clone();
                sends.push(tokio::spawn(async move {
                    client
                        .create_message(Id::new(ch))
                        .content(&format!("n{n}-{i}"))
                        .await
                        .expect("twilight gets an answer")
                        .status()
                        .get()
                }));
                expected += 1;
                taken(&proxy, expected).await;
            }
            let mut statuses = Vec::new();
            for s in sends {
                statuses.push(s.await.expect("send task"));
            }
            statuses
        }));
    }
    for t in tasks {
        let statuses = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("in time")
            .expect("task");
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
    assert_eq!(upstream_429s(&sim), 0, "the fake sent 429s");
    let contents = accepted_contents(&sim, ch);
    assert_eq!(contents.len(), 3 * PER_CLIENT);
    for n in 0..3 {
        assert_in_order(&contents, &format!("n{n}"), PER_CLIENT);
    }
}
