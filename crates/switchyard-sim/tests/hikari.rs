//! Proof with hikari (a second real Python client, stricter than discord.py in what it reads
//! and different in what it sends): it decodes the bot's id from the token, asks for guilds
//! `with_counts`, reads the application's install counts, and sets its presence with the
//! API's older `game` field. See `tests/python/hikari_bot.py` for the steps.
//! Needs `python3` with `hikari` (the repo's `.venv` is used if present, or
//! `SWITCHYARD_PYTHON`); the test fails with a clear message when it is missing.

mod common;

use std::path::PathBuf;

use common::{first_text_channel, sim};
use switchyard_sim::SimConfig;
use switchyard_testkit::{python_with, run_client};

#[tokio::test]
async fn hikari_logs_in_reads_sends_and_sees_its_messages() {
    let mut cfg = SimConfig::fast();
    cfg.timings.heartbeat_interval_ms = 5_000;
    cfg.timings.heartbeat_timeout_ms = 15_000;
    let sim = sim(cfg).await;
    let channel = first_text_channel(&sim, 0);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/hikari_bot.py");
    let args = [
        script.display().to_string(),
        sim.addr().port().to_string(),
        channel.to_string(),
    ];
    run_client("hikari", &python_with(&["hikari"]), &args, String::new).await;
    let c = sim.counters();
    // its op 3 (with `game`) and op 8 were taken: recorded, and the session not closed
    let commands: Vec<_> = c.sessions.iter().flat_map(|s| &s.commands).collect();
    assert!(
        commands
            .iter()
            .any(|r| r.op == 3 && r.d["status"] == "dnd" && r.d["game"]["name"] == "tests"),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|r| r.op == 8 && r.d["query"] == "" && r.d["limit"] == 0),
        "{commands:?}"
    );
    assert_eq!(c.sessions.len(), 1, "one session: {:?}", c.sessions);
    assert_eq!(c.sessions[0].resumes, 0, "never closed and resumed");
}
