//! `switchyard bench` with tiny parameters: it exits 0 and prints every figure line (for
//! `--face` too, whose latency target a debug build on a loaded machine may miss).

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
        "--face",
        "--face-clients",
        "--face-fanout",
        "--face-idle-clients",
        "--face-replay",
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
fn bench_face_measures_clients_of_the_face() {
    let out = Command::new(BIN)
        .args(["--log", "warn", "bench", "--face", "--shards", "2"])
        .args([
            "--events",
            "1000",
            "--rate",
            "2000",
            "--face-clients",
            "1,3",
        ])
        .args(["--face-idle-clients", "5", "--face-replay", "500"])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("switchyard runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "switchyard bench --face: 2 shards, 64 guilds",
        "memory    replay: ",
        " bytes per event kept (500 events, 10 clients on [0, 1]",
        "memory    5 idle clients on [i, 5]: ",
        "face      1 client ([0, 1]): fixed rate 2000/s: 1000 events",
        "face      1 client: full speed: 1000 events",
        "face      3 clients ([i, 3] for i < 3): fixed rate 2000/s: 1000 events, 1000 of 1000 deliveries;",
        "face      3 clients: full speed: 1000 events, 1000 of 1000 deliveries,",
        "µs/delivery",
        "targets:",
        "p99 < 3 ms from the fake to a face client at 2000 events/s, 3 clients: ",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} in:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    assert!(
        !stdout.contains("MISSING"),
        "every delivery arrived:\n{stdout}"
    );
    assert!(
        !stdout.contains("n/a"),
        "latency samples arrived:\n{stdout}"
    );
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
