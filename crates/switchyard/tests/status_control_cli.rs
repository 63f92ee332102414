//! `switchyard run` as an operator drives it from other processes: `switchyard status` shows
//! its shards and the services that identified (through `switchyard publish`, as a service in
//! any language would), `status --watch` keeps showing them, `switchyard control shutdown`
//! reaches the service's topic, and `switchyard tail --event` prints the event asked for.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchyard_sim::{Inject, Sim, SimConfig, Snowflake};
use switchyard_testkit::free_port;

/// Kills the process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn switchyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `switchyard status` until its output contains `want`.
fn wait_status(admin: &str, want: &str) -> String {
    wait_status_for(admin, want, |shown| shown.contains(want))
}

/// Runs `switchyard status` until `check` accepts its output.
fn wait_status_for(admin: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = switchyard(&["status", "--admin", admin]);
        let shown = text(&out);
        if out.status.success() && check(&shown) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed {what}:\n{shown}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The row of shard `id` in `switchyard status`: its state, latency in ms (`None` for `-`)
/// and sequence.
fn shard_row(shown: &str, id: u32) -> Option<(String, Option<u64>, u64)> {
    shown.lines().find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (state, latency, seq) = match cols.as_slice() {
            [shard, state, ms, "ms", seq] if *shard == id.to_string() => {
                (state, Some(ms.parse().ok()?), seq)
            }
            [shard, state, "-", seq] if *shard == id.to_string() => (state, None, seq),
            _ => return None,
        };
        Some(((*state).to_owned(), latency, seq.parse().ok()?))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_shards_and_services_and_control_reaches_a_service() {
    let mut config = SimConfig::fast();
    // The latency column fills in at the first heartbeat ACK.
    config.timings.heartbeat_interval_ms = 250;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let (resp, admin) = (free_port(), free_port());
    let admin = format!("127.0.0.1:{admin}");
    let broker = format!("redis://127.0.0.1:{resp}");
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("DISCORD_TOKEN", "status-test-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.path())
        .env("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "50")
        .env("SWITCHYARD_BROKER_RESP_PORT", resp.to_string())
        .env("SWITCHYARD_ADMIN_BIND", &admin)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("switchyard run starts");
    let _run = Running(child);

    wait_status(&admin, "shards ready 1/1");
    // The shard's row: active, a measured latency, and the last sequence the fake sent.
    let last_seq = || sim.counters().sessions.first().map_or(0, |s| s.last_seq);
    let shown = wait_status_for(&admin, "shard 0 active with a latency", |shown| {
        shard_row(shown, 0).is_some_and(|(state, latency, seq)| {
            state == "active" && latency.is_some() && seq == last_seq()
        })
    });
    let (_, latency, seq) = shard_row(&shown, 0).expect("shard 0's row");
    assert!(latency.is_some_and(|ms| ms < 1_000), "loopback: {shown}");
    assert!(seq >= 2, "READY and the guilds were sequenced: {shown}");
    assert!(shown.contains("services: 0"), "{shown}");

    // A service written in any language identifies by publishing on control.gateway (without
    // a control key, unsigned: tests/control_auth_cli.rs signs).
    let hello = r#"{"s":"py/1","t":"IDENTIFY","d":{"opcode":0,"name":"pybot","instance":"py-1","version":"0.3","envelope_version":1}}"#;
    let out = switchyard(&["publish", "control.gateway", hello, "--broker", &broker]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = wait_status(&admin, "services: 1");
    assert!(shown.contains("pybot py-1 (version 0.3)"), "{shown}");

    // `status --watch`, not on a terminal: one block after another, each with its time.
    let watched = dir.path().join("watch.out");
    let watch = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["status", "--watch", "1", "--admin", &admin])
        .env_remove("SWITCHYARD_CONFIG")
        .stdout(Stdio::from(std::fs::File::create(&watched).expect("file")))
        .stderr(Stdio::null())
        .spawn()
        .expect("status --watch starts");
    let watch = Running(watch);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = std::fs::read_to_string(&watched).unwrap_or_default();
        let blocks = out.matches("--- ").count();
        if blocks >= 2 && out.matches("services: 1").count() >= 2 {
            assert!(
                !out.contains('\x1b'),
                "no terminal codes in a file: {out:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "status --watch printed:\n{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(watch);

    // The operator's SHUTDOWN arrives on the service's control topic.
    let tail = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "tail",
            "control.pybot",
            "--json",
            "-n",
            "1",
            "--broker",
            &broker,
        ])
        .env_remove("SWITCHYARD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tail starts");
    let mut tail = Running(tail);
    // Give the tail a moment to subscribe, then send until it has printed the message.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = switchyard(&[
            "control",
            "shutdown",
            "pybot",
            "--instance",
            "py-1",
            "--reason",
            "deploy",
            "--broker",
            &broker,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("sent SHUTDOWN to instance py-1 of pybot"),
            "{}",
            text(&out)
        );
        if let Ok(Some(_)) = tail.0.try_wait() {
            break;
        }
        assert!(Instant::now() < deadline, "the tail never saw SHUTDOWN");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut printed = String::new();
    if let Some(mut stdout) = tail.0.stdout.take() {
        use std::io::Read as _;
        stdout.read_to_string(&mut printed).expect("read tail");
    }
    assert!(
        printed.contains("SHUTDOWN") && printed.contains("py-1") && printed.contains("deploy"),
        "{printed}"
    );

    // `tail --event`: only the event asked for, among everything on inbound topics.
    let tail = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "tail",
            "inbound.>",
            "--event",
            "message_create",
            "-n",
            "1",
            "--broker",
            &broker,
        ])
        .env_remove("SWITCHYARD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tail starts");
    let mut tail = Running(tail);
    let world = sim.world();
    let channel = world
        .guilds
        .iter()
        .flat_map(|g| g.channels.iter())
        .find(|c| c.kind == 0)
        .expect("a text channel");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        sim.inject(&Inject::Message {
            channel_id: Snowflake(channel.id),
            content: "for tail".to_owned(),
            author_id: None,
        })
        .expect("inject");
        if let Ok(Some(_)) = tail.0.try_wait() {
            break;
        }
        assert!(Instant::now() < deadline, "tail --event never printed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut printed = String::new();
    if let Some(mut stdout) = tail.0.stdout.take() {
        use std::io::Read as _;
        stdout.read_to_string(&mut printed).expect("read tail");
    }
    assert!(
        printed.contains("MESSAGE_CREATE") && printed.contains("for tail"),
        "{printed}"
    );
}
