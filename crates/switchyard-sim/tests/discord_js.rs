//! Proof with discord.js (a real third-party client, from Node): log in, set a presence,
//! fetch every member (op 8), send, react, edit and delete a message and see the events
//! arrive, read the application, roles, a member search, the guild with its counts and the
//! bot's guilds, and overwrite the guild's commands. See `tests/js/discord_js_bot.js`.
//! Needs `node` and discord.js in `.ci/npm` (`.ci/run` installs it); the test fails with a
//! clear message when either is missing.

mod common;

use std::path::PathBuf;

use common::sim;
use switchyard_sim::SimConfig;
use switchyard_testkit::{node_with, run_client};

#[tokio::test]
async fn discord_js_logs_in_reads_sends_and_sees_its_messages() {
    let node = node_with(&["discord.js"]);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = SimConfig::fast();
    cfg.timings.heartbeat_interval_ms = 5_000;
    cfg.timings.heartbeat_timeout_ms = 15_000;
    let sim = sim(cfg).await;
    let args = [
        root.join("tests/js/discord_js_bot.js")
            .display()
            .to_string(),
        sim.addr().port().to_string(),
    ];
    run_client("discord.js", &node, &args, String::new).await;
    let c = sim.counters();
    let commands: Vec<_> = c.sessions.iter().flat_map(|s| &s.commands).collect();
    assert!(
        commands.iter().any(|r| r.op == 3
            && r.d["status"] == "dnd"
            && r.d["activities"][0]["name"] == "tests"),
        "{commands:?}"
    );
    assert!(commands.iter().any(|r| r.op == 8), "{commands:?}");
    assert_eq!(c.sessions.len(), 1, "one session: {:?}", c.sessions);
    assert_eq!(c.sessions[0].resumes, 0, "never closed and resumed");
}
