//! Three `switchyard rest-proxy` processes sharing a private Redis, under steady load above the
//! fake Discord's message limit: Redis is killed mid-run and restarted empty. The proxies keep
//! serving on local limits meanwhile (each says so in `/status` and `/metrics`), go back to
//! Redis when it returns, and through all of it the fake sends no 429 and no client gets a
//! 503 (or anything but 200).

use std::time::{Duration, Instant};

use switchyard_sim::{Limit, RateLimits, Sim, SimConfig};
use switchyard_testkit::RedisServer;

mod rest_node;
use rest_node::start_proxy;

/// The limiter's `store` in a proxy's `/status`.
async fn store_of(admin: &str) -> String {
    let Ok(resp) = reqwest::get(format!("{admin}/status")).await else {
        return String::new();
    };
    let body = resp.bytes().await.unwrap_or_default();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    doc["rest_proxy"]["limiter"]["store"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until every proxy's `/status` says `store`.
async fn every_store_is(admins: &[String], store: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for admin in admins {
        loop {
            let seen = store_of(admin).await;
            if seen == store {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{admin} says {seen:?}, not {store:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_proxies_keep_serving_under_discord_s_limits_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let limits = RateLimits {
        message_create: Limit {
            limit: 5,
            window_ms: 250,
        },
        ..RateLimits::default()
    };
    let sim = Sim::start(SimConfig {
        rate_limits: limits,
        ..SimConfig::fast()
    })
    .await
    .expect("sim");
    let ch = sim.world().guilds[0]
        .channels
        .iter()
        .find(|c| c.kind == 0)
        .expect("channel")
        .id;
    let procs: Vec<_> = (0..3)
        .map(|_| {
            start_proxy(
                sim.http_url(),
                &redis.url(),
                &[("SWITCHYARD_REST_MAX_WAIT_MS", "120000")],
            )
        })
        .collect();
    let admins: Vec<String> = procs.iter().map(|(_, _, a)| a.clone()).collect();
    every_store_is(&admins, "redis").await;
    // Each has counted the three (they beat every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    for admin in &admins {
        loop {
            let body = match reqwest::get(format!("{admin}/status")).await {
                Ok(r) => r.bytes().await.unwrap_or_default(),
                Err(_) => Default::default(),
            };
            let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if doc["rest_proxy"]["limiter"]["nodes"] == 3 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{admin} never counted 3 nodes: {doc}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Load: each proxy gets a message every 100 ms, 30/s against the fake's 20/s.
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    let started = Instant::now();
    let mut killed = false;
    let mut restarted = false;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(7) {
        for (n, (_, proxy, _)) in procs.iter().enumerate() {
            let req = http
                .post(format!("{proxy}/channels/{ch}/messages"))
                .header("Authorization", "Bot test-token-1")
                .header("Content-Type", "application/json")
                .body(format!(r#"{{"content":"n{n}-{i}"}}"#));
            tasks.push(tokio::spawn(async move {
                req.send().await.map(|r| r.status().as_u16())
            }));
        }
        i += 1;
        if !killed && started.elapsed() > Duration::from_millis(1500) {
            redis.stop();
            killed = true;
            every_store_is(&admins, "redis-unreachable").await;
        }
        if killed && !restarted && started.elapsed() > Duration::from_millis(4000) {
            redis.restart();
            restarted = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(killed && restarted, "the load ended before Redis came back");
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        let status = tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("answered in time")
            .expect("task")
            .expect("the proxy answers");
        *statuses.entry(status).or_default() += 1;
    }
    let counters = sim.counters();
    assert_eq!(
        (
            counters.rest.rate_limited_route,
            counters.rest.rate_limited_global
        ),
        (0, 0),
        "the fake sent 429s (route, global); the clients got {statuses:?}"
    );
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [200],
        "{statuses:?}"
    );
    every_store_is(&admins, "redis").await;
    let metrics = reqwest::get(format!("{}/metrics", admins[0]))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("switchyard_rest_store_fallbacks_total 1"),
        "{metrics}"
    );
}
