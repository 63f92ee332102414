//! Shard startup progress of `switchyard run` when stderr is not a terminal (a log file, a
//! pipe, journald): plain log lines, not a redrawn bar, and not one per shard. With 20 shards
//! identifying a quarter of a second apart, the log shows the count rising at most once per
//! tenth and ends with one line saying that all shards are ready.

use std::process::Command;
use std::time::{Duration, Instant};

use switchyard_sim::{Sim, SimConfig};
use switchyard_testkit::Proc;

const SHARDS: u32 = 20;

/// `(ready, percent)` of a line `… shards ready 7/20 (35 %)`.
fn progress_of(line: &str) -> Option<(u32, u32)> {
    let rest = line.split("shards ready ").nth(1)?;
    let (count, rest) = rest.split_once(' ')?;
    let (ready, total) = count.split_once('/')?;
    if total.parse::<u32>().ok()? != SHARDS {
        return None;
    }
    let percent = rest.strip_prefix('(')?.split_once(" %)")?.0;
    Some((ready.parse().ok()?, percent.parse().ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_progress_is_plain_lines_off_a_terminal() {
    let mut config = SimConfig::fast();
    config.shards = SHARDS;
    config.world.guilds = 4;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "info")
        .env("DISCORD_TOKEN", "progress-test-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env(
            "SWITCHYARD_GATEWAY_SESSION_DIR",
            dir.path().join("sessions"),
        )
        // one IDENTIFY every 250 ms: the 20 shards take about 5 s to come up
        .env("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "250")
        .env("SWITCHYARD_BROKER_RESP_PORT", "0")
        .env("SWITCHYARD_ADMIN_BIND", "127.0.0.1:0");
    let run = Proc::spawn("run", cmd, dir.path());

    let done = format!("all {SHARDS} shards ready ({SHARDS}/{SHARDS})");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run.output().contains(&done) {
        assert!(
            Instant::now() < deadline,
            "no {done:?} within 120 s:\n{}",
            run.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = run.output();
    assert!(
        !out.contains('\r') && !out.contains('\x1b'),
        "no bar and no colours off a terminal:\n{out}"
    );
    assert_eq!(out.matches(&done).count(), 1, "{out}");
    let steps: Vec<(u32, u32)> = out.lines().filter_map(progress_of).collect();
    assert!(
        !steps.is_empty() && steps.len() <= 10,
        "a line per tenth at most, not one per shard: {steps:?}\n{out}"
    );
    assert!(
        steps
            .iter()
            .all(|&(ready, percent)| ready < SHARDS && percent == ready * 100 / SHARDS),
        "{steps:?}"
    );
    let tenths: Vec<u32> = steps.iter().map(|(_, p)| p / 10).collect();
    assert!(
        tenths.windows(2).all(|w| w[0] < w[1]),
        "each line in a new tenth: {steps:?}\n{out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    let end = lines.iter().position(|l| l.contains(&done)).unwrap_or(0);
    assert!(
        lines[end..].iter().all(|l| progress_of(l).is_none()),
        "nothing after the final line:\n{out}"
    );
}
