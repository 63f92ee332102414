//! Proxy overhead and throughput against the fake Discord, side by side in one run:
//! `cargo bench -p switchyard-rest --bench proxy`. Latency: the same GET, alternately direct
//! and through the proxy, one at a time; overhead = proxy - direct at each percentile.
//! Throughput: 64 concurrent clients over 200 tokens (no rate-limit pressure: the fake's limits
//! are lifted and the proxy's global limit is per token), for 3 seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchyard_rest::{Rate, RestClient, RestConfig};
use switchyard_sim::{Limit, RateLimits, Sim, SimConfig};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let threads: usize = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let open = Limit {
        limit: 1_000_000,
        window_ms: 1000,
    };
    let limits = RateLimits {
        message_create: open,
        reactions: open,
        default_route: open,
        global_per_token: open,
        global_per_ip: open,
    };
    let sim = Sim::start(SimConfig {
        rate_limits: limits,
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let cfg = RestConfig {
        upstream: sim.http_url().to_owned(),
        global: Rate::per_second(1_000_000),
        margin: Duration::ZERO,
        ..RestConfig::default()
    };
    let client = RestClient::new(cfg).await.expect("client");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(switchyard_rest::serve_proxy(
        listener,
        client,
        None,
        std::future::pending(),
    ));
    let ch = sim.world().guilds[0].channels[0].id;
    let direct = format!("{}/api/v10/channels/{ch}", sim.http_url());
    let proxied = format!("http://{addr}/api/v10/channels/{ch}");
    let http = reqwest::Client::new();
    let get = |url: String, token: String| {
        let http = http.clone();
        async move {
            let t = Instant::now();
            let r = http
                .get(url)
                .header("Authorization", format!("Bot {token}"))
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body");
            t.elapsed().as_secs_f64() * 1e6
        }
    };
    for _ in 0..300 {
        get(direct.clone(), "warm".into()).await;
        get(proxied.clone(), "warm".into()).await;
    }
    let (mut d, mut p) = (Vec::new(), Vec::new());
    for _ in 0..3000 {
        d.push(get(direct.clone(), "t0".into()).await);
        p.push(get(proxied.clone(), "t0".into()).await);
    }
    let (d50, d99, p50, p99) = (
        pct(&mut d, 0.5),
        pct(&mut d, 0.99),
        pct(&mut p, 0.5),
        pct(&mut p, 0.99),
    );
    println!(
        "latency (µs, 3000 sequential GETs each): direct p50 {d50:.0} p99 {d99:.0} | proxy p50 {p50:.0} p99 {p99:.0} | overhead p50 {:.0} p99 {:.0}",
        p50 - d50,
        p99 - d99
    );

    for (name, url) in [("direct", &direct), ("proxy", &proxied)] {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut tasks = Vec::new();
        for w in 0..64 {
            let (done, url, http) = (done.clone(), url.clone(), http.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let token = format!("tok{}", (w * 31 + i) % 200);
                    let r = http
                        .get(&url)
                        .header("Authorization", format!("Bot {token}"))
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(r.status(), 200);
                    r.bytes().await.expect("body");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        println!(
            "throughput {name}: {:.0} req/s (64 clients, 200 tokens, 3 s)",
            done.load(Ordering::Relaxed) as f64 / 3.0
        );
    }
}
