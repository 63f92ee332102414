//! Helpers shared by the integration tests: a fake Discord with small windows, and proxy
//! nodes (each its own client, limiter and listener, as a separate process would have).
#![allow(dead_code, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use switchyard_rest::{Rate, RestClient, RestConfig, WaitMode};
use switchyard_sim::{Limit, RateLimits, Sim, SimConfig, SimHandle};

pub const TOKEN: &str = "test-token-1";

/// Discord's shapes with windows shrunk so that tests wait milliseconds.
pub fn small_limits() -> RateLimits {
    RateLimits {
        message_create: Limit {
            limit: 5,
            window_ms: 250,
        },
        reactions: Limit {
            limit: 1,
            window_ms: 50,
        },
        default_route: Limit {
            limit: 10,
            window_ms: 250,
        },
        global_per_token: Limit {
            limit: 50,
            window_ms: 500,
        },
        global_per_ip: Limit {
            limit: 50,
            window_ms: 500,
        },
    }
}

pub async fn sim() -> SimHandle {
    sim_with(small_limits()).await
}

/// The fake with the given limits.
pub async fn sim_with(rate_limits: RateLimits) -> SimHandle {
    let config = SimConfig {
        rate_limits,
        ..SimConfig::fast()
    };
    Sim::start(config).await.expect("sim starts")
}

/// A configuration matching [`small_limits`], aimed at `upstream`.
pub fn config(upstream: &str, redis: Option<String>) -> RestConfig {
    RestConfig {
        upstream: upstream.to_owned(),
        global: Rate {
            limit: 50,
            window: Duration::from_millis(500),
        },
        global_per_ip: Rate {
            limit: 50,
            window: Duration::from_millis(500),
        },
        wait: WaitMode::Queue {
            max_wait: Duration::from_secs(30),
        },
        margin: Duration::from_millis(15),
        redis,
        ..RestConfig::default()
    }
}

/// A running proxy node.
pub struct Node {
    pub addr: SocketAddr,
    pub client: RestClient,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Node {
    pub async fn start(cfg: RestConfig) -> Node {
        let client = RestClient::new(cfg).await.expect("client");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let c = client.clone();
        tokio::spawn(async move {
            let _ = switchyard_rest::serve_proxy(listener, c, None, async move {
                let _ = rx.await;
            })
            .await;
        });
        Node {
            addr,
            client,
            stop: Some(tx),
        }
    }

    pub fn api(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The first `n` text channels of the sim's first guild.
pub fn channels(sim: &SimHandle, n: usize) -> Vec<u64> {
    sim.world().guilds[0]
        .channels
        .iter()
        .filter(|c| c.kind == 0)
        .take(n)
        .map(|c| c.id)
        .collect()
}

/// Upstream 429s the fake counted (route and global).
pub fn upstream_429s(sim: &SimHandle) -> u64 {
    let c = sim.counters().rest;
    c.rate_limited_route + c.rate_limited_global
}

/// Contents of the messages the fake accepted in `channel`, in the order it accepted them.
pub fn accepted_contents(sim: &SimHandle, channel: u64) -> Vec<String> {
    let path = format!("/channels/{channel}/messages");
    sim.counters()
        .rest_calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with(&path) && c.status == 200)
        .filter_map(|c| {
            let v: serde_json::Value = serde_json::from_str(&c.body).ok()?;
            v["content"].as_str().map(str::to_owned)
        })
        .collect()
}

/// Checks that, for every prefix, the numbered contents `prefix-{i}` arrived in order.
/// How many requests `client`'s limiter has taken in: sent upstream, waiting in a queue, or
/// refused there.
pub fn entered(client: &RestClient) -> u64 {
    let stats = client.limiter().stats();
    stats.sent + stats.queued + stats.synthetic_429
}

/// Waits until `client`'s limiter has taken in `n` requests, so that the next one sent is
/// known to arrive after them however the machine schedules the senders.
pub async fn taken(client: &RestClient, n: u64) {
    while entered(client) < n {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

pub fn assert_in_order(contents: &[String], prefix: &str, expected: usize) {
    let seq: Vec<usize> = contents
        .iter()
        .filter_map(|c| c.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok())
        .collect();
    assert_eq!(seq, (0..expected).collect::<Vec<_>>(), "order of {prefix}");
}
