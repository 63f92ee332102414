//! `switchyard bench --rest-proxy`: the REST proxy against twilight's http-proxy, and direct
//! to the fake Discord as the baseline, side by side in one run.
//!
//! The fake (`switchyard sim`) and every proxy run as child processes of this one, which is
//! the load generator, so that each proxy's CPU time and memory are its own (read from
//! `/proc`). Two cases, each with fresh processes kept for all its rounds (so that a slowdown
//! or memory growth from round to round shows):
//!
//! - `discord`: the fake's Discord-like limits (50/s per route and channel, 50/s per token);
//! - `lifted`: the fake's limits lifted and the proxy's global limit raised to a million a
//!   second.
//!
//! In a round, every target takes `--round-secs` of `GET /channels/{id}` from 64 connections,
//! spread over `--tokens` tokens and the fake's channels, one target after the other, the
//! order rotating from round to round. Then latency, one request at a time, alternating
//! between the targets. twilight's proxy is the binary given with `--twilight-proxy` (it is
//! not part of this repository; BENCHMARKS.md says how it was built and pointed at the fake).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::measure::quantile;
use super::servers::{ChildServer, free_port, start_child_sim, start_listening};
use crate::cli::BenchArgs;

/// Concurrent connections of the throughput rounds.
const CONNECTIONS: usize = 64;
/// Requests of each target in the latency run.
const LATENCY_REQUESTS: usize = 2000;
/// Linux's USER_HZ: the unit of CPU times in `/proc/<pid>/stat`.
const TICKS_PER_SECOND: u64 = 100;
const MB: f64 = 1024.0 * 1024.0;

/// One thing requests are sent to.
struct Target {
    name: String,
    /// Base URL (`http://127.0.0.1:P`).
    url: String,
    /// The proxy process; `None` for the fake itself.
    child: Option<ChildServer>,
    http: reqwest::Client,
    rounds: Vec<Round>,
}

/// What one round of one target measured.
#[derive(Debug, Clone, Copy)]
struct Round {
    per_second: f64,
    /// Proxy CPU time per 10,000 requests, in ms.
    cpu_ms_per_10k: Option<f64>,
    /// Proxy RSS after the round.
    rss: Option<u64>,
    failed: u64,
}

/// A case: the fake's limits and the proxies' settings.
struct Case {
    name: &'static str,
    sim: &'static str,
    rest: &'static str,
    rounds: u32,
}

/// Runs both cases; `false` when a proxy answered anything but 200 (a 429 among them).
pub async fn run(args: &BenchArgs, dir: &Path) -> anyhow::Result<bool> {
    let lifted = "[sim.rate_limits]\nmessage_create = { limit = 1000000, window_ms = 1000 }\nreactions = { limit = 1000000, window_ms = 1000 }\ndefault_route = { limit = 1000000, window_ms = 1000 }\nglobal_per_token = { limit = 1000000, window_ms = 1000 }\nglobal_per_ip = { limit = 1000000, window_ms = 1000 }\n";
    let cases = [
        Case {
            name: "discord",
            sim: "",
            rest: "",
            rounds: args.rounds,
        },
        Case {
            name: "lifted",
            sim: lifted,
            rest: "global_per_second = 1000000\n",
            rounds: args.lifted_rounds,
        },
    ];
    println!(
        "switchyard bench --rest-proxy: {CONNECTIONS} connections, {} tokens, {} s rounds; {} CPUs",
        args.tokens,
        args.round_secs,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    if args.twilight_proxy.is_none() {
        println!("twilight's http-proxy skipped: pass --twilight-proxy PATH");
    }
    let mut clean = true;
    for case in &cases {
        clean &= run_case(args, dir, case).await?;
    }
    Ok(clean)
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .tcp_nodelay(true)
        .build()
        .context("HTTP client")
}

fn switchyard_proxy(
    exe: &Path,
    name: &'static str,
    dir: &Path,
    upstream: &str,
    rest: &str,
) -> anyhow::Result<ChildServer> {
    let port = free_port()?;
    let config = dir.join(format!("bench-{port}.toml"));
    std::fs::write(
        &config,
        format!("[admin]\nbind = \"127.0.0.1:0\"\n\n[rest]\n{rest}"),
    )
    .context("cannot write the proxy's configuration")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--config")
        .arg(&config)
        .args(["--log", "error", "rest-proxy", "--port", &port.to_string()])
        .args(["--upstream", upstream]);
    start_listening(name, cmd, port)
}

fn twilight_proxy(path: &PathBuf, upstream: &str) -> anyhow::Result<ChildServer> {
    let port = free_port()?;
    let mut cmd = Command::new(path);
    cmd.env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DISCORD_TOKEN", "bench-default")
        .env("DISCORD_API_BASE", upstream)
        .env("RUST_LOG", "error");
    start_listening("twilight http-proxy", cmd, port)
}

async fn run_case(args: &BenchArgs, dir: &Path, case: &Case) -> anyhow::Result<bool> {
    let sim = start_child_sim(1, dir, case.sim)?;
    let channels = channel_ids(&sim.url).await?;
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut targets = vec![Target {
        name: "direct".into(),
        url: sim.url.clone(),
        child: None,
        http: client()?,
        rounds: Vec::new(),
    }];
    let mut proxies = vec![(
        "switchyard".to_owned(),
        switchyard_proxy(&exe, "switchyard rest-proxy", dir, &sim.url, case.rest)?,
    )];
    if let Some(other) = &args.rest_baseline {
        let p = switchyard_proxy(other, "baseline rest-proxy", dir, &sim.url, case.rest)?;
        proxies.push(("baseline".to_owned(), p));
    }
    if let Some(path) = &args.twilight_proxy {
        proxies.push(("twilight".to_owned(), twilight_proxy(path, &sim.url)?));
    }
    for (name, child) in proxies {
        targets.push(Target {
            name,
            url: child.url.clone(),
            child: Some(child),
            http: client()?,
            rounds: Vec::new(),
        });
    }
    println!(
        "\ncase {}: {} rounds, {} channels",
        case.name,
        case.rounds,
        channels.len()
    );
    let secs = Duration::from_secs(args.round_secs);
    for t in &targets {
        load(t, &channels, args.tokens, Duration::from_secs(1)).await;
    }
    let mut clean = true;
    for round in 0..case.rounds as usize {
        let n = targets.len();
        for i in 0..n {
            let t = &mut targets[(round + i) % n];
            let pid = t.child.as_ref().map(ChildServer::pid);
            let before = pid.and_then(cpu_ticks);
            let (done, failed) = load(t, &channels, args.tokens, secs).await;
            let after = pid.and_then(cpu_ticks);
            let cpu = before.zip(after).map(|(b, a)| {
                (a - b) as f64 * 1000.0 / TICKS_PER_SECOND as f64 * 10_000.0 / done.max(1) as f64
            });
            let r = Round {
                per_second: done as f64 / secs.as_secs_f64(),
                cpu_ms_per_10k: cpu,
                rss: pid.and_then(rss_bytes),
                failed,
            };
            clean &= failed == 0 || t.child.is_none();
            println!(
                "  round {:>2} {:<10} {:>8.0} req/s  cpu {:>6} ms/10k  rss {:>6} MB  not 200: {}",
                round + 1,
                t.name,
                r.per_second,
                r.cpu_ms_per_10k.map_or("-".into(), |c| format!("{c:.0}")),
                r.rss
                    .map_or("-".into(), |b| format!("{:.1}", b as f64 / MB)),
                r.failed
            );
            t.rounds.push(r);
        }
    }
    summary(case, &targets);
    latency(&targets, &channels, args.tokens).await;
    Ok(clean)
}

/// The fake's channel ids (from its guild list).
async fn channel_ids(sim: &str) -> anyhow::Result<Vec<u64>> {
    let http = client()?;
    let auth = "Bot bench-setup";
    let get = |path: String| {
        let req = http
            .get(format!("{sim}/api/v10/{path}"))
            .header("Authorization", auth);
        async move {
            let body = req.send().await?.bytes().await?;
            anyhow::Ok(serde_json::from_slice::<serde_json::Value>(&body)?)
        }
    };
    let guilds = get("users/@me/guilds".into()).await?;
    let mut ids = Vec::new();
    for g in guilds.as_array().into_iter().flatten() {
        let Some(id) = g["id"].as_str() else { continue };
        let chans = get(format!("guilds/{id}/channels")).await?;
        for c in chans.as_array().into_iter().flatten() {
            if c["type"] == 0
                && let Some(id) = c["id"].as_str().and_then(|s| s.parse().ok())
            {
                ids.push(id);
            }
        }
    }
    anyhow::ensure!(!ids.is_empty(), "the fake Discord listed no text channel");
    Ok(ids)
}

/// `CONNECTIONS` closed loops of GETs for `secs`; (answered 200, answered otherwise).
async fn load(t: &Target, channels: &[u64], tokens: u32, secs: Duration) -> (u64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + secs;
    let mut tasks = Vec::new();
    for w in 0..CONNECTIONS as u64 {
        let (ok, failed, http) = (ok.clone(), failed.clone(), t.http.clone());
        let (url, channels) = (t.url.clone(), channels.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut i = w * 7919;
            while Instant::now() < deadline {
                let ch = channels[(i as usize) % channels.len()];
                let token = (i / channels.len() as u64) % u64::from(tokens.max(1));
                i += 1;
                let res = http
                    .get(format!("{url}/api/v10/channels/{ch}"))
                    .header("Authorization", format!("Bot bench-{token}"))
                    .send()
                    .await;
                let good = match res {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| {
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    })
}

fn summary(case: &Case, targets: &[Target]) {
    let twilight = targets.iter().find(|t| t.name == "twilight");
    let med =
        |t: &Target, f: fn(&Round) -> Option<f64>| median(t.rounds.iter().filter_map(f).collect());
    let rps = |r: &Round| Some(r.per_second);
    let cpu = |r: &Round| r.cpu_ms_per_10k;
    println!("  medians of case {}:", case.name);
    for t in targets {
        let (r, c) = (med(t, rps), med(t, cpu));
        let vs = twilight.filter(|tw| tw.name != t.name).map(|tw| {
            let ratio = |a: Option<f64>, b: Option<f64>| {
                a.zip(b)
                    .map_or("-".into(), |(a, b)| format!("{:.2}×", a / b))
            };
            format!(
                "  vs twilight: req/s {}, CPU {}",
                ratio(r, med(tw, rps)),
                ratio(c, med(tw, cpu))
            )
        });
        let rss: Vec<String> = t
            .rounds
            .iter()
            .filter_map(|r| r.rss)
            .map(|b| format!("{:.1}", b as f64 / MB))
            .collect();
        println!(
            "  {:<10} {:>8.0} req/s  cpu {:>6} ms/10k  rss by round {} MB{}",
            t.name,
            r.unwrap_or(0.0),
            c.map_or("-".into(), |c| format!("{c:.0}")),
            if rss.is_empty() {
                "-".into()
            } else {
                rss.join(" ")
            },
            vs.unwrap_or_default()
        );
    }
}

/// One request at a time, alternating between the targets; p50 and p99 of each, and the
/// overhead over direct.
async fn latency(targets: &[Target], channels: &[u64], tokens: u32) {
    let mut times: Vec<Vec<u64>> = vec![Vec::with_capacity(LATENCY_REQUESTS); targets.len()];
    for i in 0..LATENCY_REQUESTS {
        let ch = channels[i % channels.len()];
        let token = (i / channels.len()) % tokens.max(1) as usize;
        for (t, out) in targets.iter().zip(&mut times) {
            let start = Instant::now();
            let res = t
                .http
                .get(format!("{}/api/v10/channels/{ch}", t.url))
                .header("Authorization", format!("Bot bench-{token}"))
                .send()
                .await;
            if let Ok(r) = res
                && r.status() == 200
                && r.bytes().await.is_ok()
            {
                out.push(start.elapsed().as_micros() as u64);
            }
        }
    }
    let mut direct = None;
    for (t, mut v) in targets.iter().zip(times) {
        v.sort_unstable();
        let (p50, p99) = (quantile(&v, 0.5), quantile(&v, 0.99));
        if t.child.is_none() {
            direct = p50.zip(p99);
        }
        let over = match (direct, p50.zip(p99), t.child.is_some()) {
            (Some((d50, d99)), Some((a, b)), true) => format!(
                "  overhead p50 {} µs, p99 {} µs",
                a as i64 - d50 as i64,
                b as i64 - d99 as i64
            ),
            _ => String::new(),
        };
        println!(
            "  latency {:<10} p50 {:>5} µs  p99 {:>5} µs ({} one at a time){over}",
            t.name,
            p50.unwrap_or(0),
            p99.unwrap_or(0),
            v.len()
        );
    }
}

/// User plus system CPU time of a process, in ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command (which may hold spaces) start after the last ')'
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Resident memory of a process, in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    Some(
        kb.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?
            * 1024,
    )
}
