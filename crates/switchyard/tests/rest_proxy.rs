//! `switchyard rest-proxy` as a user runs it: three processes sharing a private Redis, in
//! front of the fake Discord, loaded at twelve times its message limits. The fake counts
//! every 429 it sends: there must be none; every message arrives, in order per process; the
//! admin listener shows per-route metrics.

use std::process::Command;
use std::time::Duration;

use switchyard_sim::{Limit, RateLimits, Sim, SimConfig};
use switchyard_testkit::RedisServer;

mod rest_node;
use rest_node::start_proxy;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

const PER_STREAM: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_proxy_processes_share_limits_through_redis() {
    let redis = RedisServer::start();
    let limits = RateLimits {
        message_create: Limit {
            limit: 5,
            window_ms: 500,
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
        .map(|_| start_proxy(sim.http_url(), &redis.url(), &[]))
        .collect();
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    let mut expected = vec![0; procs.len()];
    for i in 0..PER_STREAM {
        for (n, (_, proxy, admin)) in procs.iter().enumerate() {
            let req = http
                .post(format!("{proxy}/channels/{ch}/messages"))
                .header("Authorization", "Bot test-token-1")
                .header("Content-Type", "application/json")
                .body(format!(r#"{{"content":"n{n}-{i}"}}"#));
            tasks.push(tokio::spawn(async move {
                req.send().await.map(|r| r.status().as_u16())
            }));
            // Each request is its own task; the next one to a process is sent once that
            // process has taken this one into its limiter (its /status says so), so the
            // order each process received its stream in is the order it was sent, however a
            // busy machine schedules the senders (25 ms apart was not enough under load).
            expected[n] += 1;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while entered(&http, admin).await < expected[n] {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "process {n} never took request {i}"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    for t in tasks {
        let status = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("answered in time")
            .expect("task")
            .expect("the proxy answers");
        assert_eq!(status, 200);
    }
    let counters = sim.counters();
    assert_eq!(
        counters.rest.rate_limited_route + counters.rest.rate_limited_global,
        0,
        "the fake sent 429s"
    );
    let contents: Vec<String> = counters
        .rest_calls
        .iter()
        .filter(|c| c.method == "POST" && c.status == 200)
        .filter_map(|c| serde_json::from_str::<serde_json::Value>(&c.body).ok())
        .filter_map(|v| v["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(contents.len(), 3 * PER_STREAM);
    for n in 0..3 {
        let seq: Vec<usize> = contents
            .iter()
            .filter_map(|c| c.strip_prefix(&format!("n{n}-"))?.parse().ok())
            .collect();
        assert_eq!(
            seq,
            (0..PER_STREAM).collect::<Vec<_>>(),
            "order of process {n}"
        );
    }
    let metrics = http
        .get(format!("{}/metrics", procs[0].2))
        .send()
        .await
        .expect("admin")
        .text()
        .await
        .expect("metrics");
    // every request of this process counted once, under its route and status
    let sent = format!(
        "switchyard_rest_requests_total{{route=\"POST /channels/{{id}}/messages\",status=\"200\"}} {PER_STREAM}\n"
    );
    assert!(
        metrics.contains(&sent)
            && metrics.contains(
                "switchyard_rest_upstream_seconds_count{route=\"POST /channels/{id}/messages\"}"
            ),
        "{sent} in {metrics}"
    );
    let status = http
        .get(format!("{}/status", procs[0].2))
        .send()
        .await
        .expect("status")
        .text()
        .await
        .expect("status body");
    let status: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(status["rest_proxy"]["limiter"]["store"], "redis");
    assert_eq!(status["rest_proxy"]["limiter"]["upstream_429"], 0);
}

#[test]
fn a_public_bind_without_a_secret_is_refused_naming_the_key() {
    let out = Command::new(BIN)
        .args(["rest-proxy", "--bind", "0.0.0.0", "--port", "0"])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rest.secret"), "{stderr}");
}

/// The requests the proxy whose admin listener is `admin` has taken into its limiter: sent
/// upstream, waiting in a queue, or refused with a synthetic 429 (0 while it cannot tell).
async fn entered(http: &reqwest::Client, admin: &str) -> u64 {
    let Ok(response) = http.get(format!("{admin}/status")).send().await else {
        return 0;
    };
    let Ok(body) = response.text().await else {
        return 0;
    };
    let Ok(status) = serde_json::from_str::<serde_json::Value>(&body) else {
        return 0;
    };
    let limiter = &status["rest_proxy"]["limiter"];
    ["sent", "queued", "synthetic_429"]
        .iter()
        .filter_map(|k| limiter[*k].as_u64())
        .sum()
}
