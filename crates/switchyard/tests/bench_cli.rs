//! `switchyard bench` with tiny parameters: it exits 0 and prints every figure line.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

#[test]
fn bench_prints_its_figures() {
    let out = Command::new(BIN)
        .args([
            "--log", "warn", "bench", "--events", "2000", "--rate", "5000",
        ])
        .args(["--shards", "2", "--idle-shards", "4", "--only", "embedded"])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("switchyard runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for needle in [
        "memory    4 idle shards: RSS ",
        "embedded  fixed rate 5000/s: 2000 sent, 2000 received",
        "latency p50 ",
        "embedded  full speed: 2000 sent, 2000 received",
        "µs/event",
        "targets:",
        "gateway CPU per event <= 5 µs (embedded, full speed): ",
        "p99 < 2 ms at 5000 events/s, embedded: ",
        "RSS < 200 MB with 4 idle shards",
    ] {
        assert!(stdout.contains(needle), "{needle:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains("n/a"),
        "latency samples arrived:\n{stdout}"
    );
}

#[test]
fn bench_help_explains_every_flag() {
    let out = Command::new(BIN)
        .args(["bench", "--help"])
        .output()
        .expect("switchyard runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--events",
        "--rate",
        "--shards",
        "--idle-shards",
        "--only",
        "--redis",
        "--nats",
        "--queries",
        "--members",
        "--query-rate",
        "--query-secs",
        "--rest-proxy",
        "--twilight-proxy",
        "--rest-baseline",
        "--tokens",
        "--rounds",
        "--lifted-rounds",
        "--round-secs",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
}

#[test]
fn bench_queries_measures_searches_and_http_queries() {
    let out = Command::new(BIN)
        .args(["--log", "warn", "bench", "--queries", "--members", "2000"])
        .args(["--query-rate", "200", "--query-secs", "1"])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("switchyard runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A debug build on a loaded machine may miss the targets: the figures must be there.
    for needle in [
        "queries   cache filled: 2001 members",
        "queries   prefix search on 2000 members",
        "queries   HTTP at 200 queries/s for 1 s over 32 connections: ",
        " 0 errors, latency p50 ",
        "sent late after due p50 ",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} in:\n{stdout}\nstderr:\n{stderr}"
        );
    }
}

#[test]
fn bench_rest_proxy_measures_both_cases_by_round() {
    let out = Command::new(BIN)
        .args(["--log", "warn", "bench", "--rest-proxy", "--tokens", "20"])
        .args(["--rounds", "1", "--lifted-rounds", "2", "--round-secs", "1"])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("switchyard runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for needle in [
        "twilight's http-proxy skipped: pass --twilight-proxy PATH",
        "case discord: 1 rounds",
        "case lifted: 2 rounds",
        "round  2 ",
        "medians of case lifted:",
        "rss by round ",
        "latency switchyard p50 ",
        "overhead p50 ",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} in:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    // the proxy never answers anything but 200 (no 429 passed on, none made up)
    for line in stdout.lines().filter(|l| l.contains(" switchyard ")) {
        assert!(
            !line.contains("not 200") || line.ends_with("not 200: 0"),
            "{line}"
        );
    }
}
