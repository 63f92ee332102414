//! discord.py, unchanged (`Route.BASE` patched), through three proxy nodes sharing Redis:
//! three Python processes fire messages at ten times the fake's limits. In queue mode every
//! message goes through; in fail-fast mode discord.py receives synthetic 429s and, because they
//! look like Discord's (JSON body, `Via`), retries them instead of assuming a ban. Either way
//! the fake sends no 429. (Order is not checked here: discord.py's own limiter wakes its
//! waiting requests in no particular order, so they reach the proxy reordered.) Python is `SWITCHYARD_PYTHON`, else the workspace's
//! `.venv`, else `python3`; the test fails with a clear message when discord.py is missing.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{Node, TOKEN, accepted_contents, channels, config, sim, upstream_429s};
use switchyard_rest::WaitMode;
use switchyard_testkit::{RedisServer, python};

const PER_PROCESS: usize = 15;

async fn run(wait: WaitMode) -> (switchyard_sim::SimHandle, u64, Vec<Node>, usize) {
    let redis = RedisServer::start();
    let sim = sim().await;
    let ch = channels(&sim, 1)[0];
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let mut cfg = config(sim.http_url(), Some(redis.url()));
        cfg.wait = wait;
        nodes.push(Node::start(cfg).await);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/send_messages.py");
    let py = python();
    let mut children = Vec::new();
    let mut refused = 0;
    for (n, node) in nodes.iter().enumerate() {
        let child = tokio::process::Command::new(&py)
            .arg(&script)
            .arg(node.api())
            .arg(TOKEN)
            .arg(ch.to_string())
            .arg(format!("n{n}"))
            .arg(PER_PROCESS.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} ({e}): install Python 3 with discord.py (pip install discord.py), or set SWITCHYARD_PYTHON", py.display()));
        children.push(child);
    }
    for child in children {
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("discord.py finished in time")
            .expect("discord.py ran");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(
            out.status.code(),
            Some(3),
            "discord.py is missing for {}: pip install discord.py (or set SWITCHYARD_PYTHON)\n{stderr}",
            py.display()
        );
        assert!(out.status.success(), "discord.py failed: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let sent = stdout.lines().filter(|l| l.starts_with("sent ")).count();
        let gave_up = stdout.lines().filter(|l| l.starts_with("refused ")).count();
        assert_eq!(sent + gave_up, PER_PROCESS, "{stdout}");
        refused += gave_up;
    }
    drop(redis);
    (sim, ch, nodes, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_py_through_three_queueing_nodes_earns_no_429_and_keeps_order() {
    let (sim, ch, _nodes, refused) = run(WaitMode::Queue {
        max_wait: Duration::from_secs(30),
    })
    .await;
    assert_eq!(refused, 0);
    assert_eq!(upstream_429s(&sim), 0, "the fake sent 429s");
    assert_eq!(accepted_contents(&sim, ch).len(), 3 * PER_PROCESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_py_retries_the_synthetic_429s_of_fail_fast_nodes() {
    let (sim, ch, nodes, refused) = run(WaitMode::FailFast).await;
    assert_eq!(upstream_429s(&sim), 0, "the fake sent 429s");
    assert_eq!(accepted_contents(&sim, ch).len(), 3 * PER_PROCESS - refused);
    let synthetic: u64 = nodes
        .iter()
        .map(|n| n.client.limiter().stats().synthetic_429)
        .sum();
    // a client that took them for a ban would raise at the first one: every refused message
    // stands for five 429s, and more 429s than that means some were retried successfully
    assert!(
        synthetic as usize > 5 * refused,
        "synthetic {synthetic} refused {refused}"
    );
}
