//! Proof with discord.py (a real third-party client, from Python): log in, set a presence and
//! query a member (gateway ops 3 and 8, as discord.py sends them), receive a user's message,
//! reply (twice with one nonce: Discord creates it once), and see the reply arrive, once over
//! zlib-stream and once over zstd-stream.
//! Needs `python3` with `discord.py` and `zstandard` (the repo's `.venv` is used if present, or
//! `SWITCHYARD_PYTHON`); the tests fail with a clear message when they are missing.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{first_text_channel, sim};
use switchyard_sim::SimConfig;
use switchyard_testkit::python;

async fn run(mode: &str) {
    let mut cfg = SimConfig::fast();
    cfg.timings.heartbeat_interval_ms = 5_000;
    cfg.timings.heartbeat_timeout_ms = 15_000;
    let sim = sim(cfg).await;
    let channel = first_text_channel(&sim, 0);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/discord_py_bot.py");
    let py = python();
    let child = tokio::process::Command::new(&py)
        .arg(&script)
        .arg(sim.addr().port().to_string())
        .arg(channel.to_string())
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): install Python 3 with discord.py and zstandard",
                py.display()
            )
        });
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("discord.py run finished in time")
        .expect("discord.py run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(3),
        "discord.py or zstandard is missing for {}: pip install discord.py zstandard\n{stderr}",
        py.display()
    );
    assert!(
        out.status.success(),
        "discord.py bot failed ({mode})\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("GOT_PING")
            && stdout.contains("SAW_OWN_REPLY")
            && stdout.contains("NONCE_ENFORCED"),
        "{stdout}"
    );
    assert!(stdout.contains("QUERIED_MEMBERS True"), "{stdout}");
    let c = sim.counters();
    // discord.py's op 3 and op 8 were accepted (the session was not closed for them) and
    // recorded as sent
    let commands: Vec<_> = c.sessions.iter().flat_map(|s| &s.commands).collect();
    assert!(
        commands.iter().any(|r| r.op == 3
            && r.d["status"] == "dnd"
            && r.d["activities"][0]["name"] == "tests"),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|r| r.op == 8 && r.d["user_ids"].as_array().is_some_and(|u| u.len() == 1)),
        "{commands:?}"
    );
    match mode {
        "zlib" => assert!(
            c.transports.zlib_stream >= 1 && c.transports.zstd_stream == 0,
            "{:?}",
            c.transports
        ),
        _ => assert!(
            c.transports.zstd_stream >= 1 && c.transports.zlib_stream == 0,
            "{:?}",
            c.transports
        ),
    }
    assert!(
        c.rest_calls
            .iter()
            .any(|r| r.method == "GET" && r.path == "/api/v10/users/@me")
    );
    let reply = c
        .rest_calls
        .iter()
        .find(|r| r.method == "POST" && r.path == format!("/api/v10/channels/{channel}/messages"))
        .expect("the reply was sent over REST");
    assert!(
        reply.body.contains("pong") && reply.body.contains("message_reference"),
        "{}",
        reply.body
    );
    let posts = c
        .rest_calls
        .iter()
        .filter(|r| r.method == "POST" && r.path == format!("/api/v10/channels/{channel}/messages"))
        .count();
    assert_eq!(posts, 2, "the reply is posted twice, with one nonce");
}

#[tokio::test]
async fn discord_py_over_zlib_stream() {
    run("zlib").await;
}

#[tokio::test]
async fn discord_py_over_zstd_stream() {
    run("zstd").await;
}
