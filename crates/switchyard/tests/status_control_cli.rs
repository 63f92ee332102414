//! `switchyard run` as an operator drives it from other processes: `switchyard status` shows
//! its shards and the services that identified (through `switchyard publish`, as a service in
//! any language would), and `switchyard control shutdown` reaches the service's topic.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchyard_sim::{Sim, SimConfig};
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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = switchyard(&["status", "--admin", admin]);
        let shown = text(&out);
        if out.status.success() && shown.contains(want) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed {want:?}:\n{shown}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_shards_and_services_and_control_reaches_a_service() {
    let sim = Sim::start(SimConfig::fast()).await.expect("sim");
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
        .env("SWITCHYARD_CONTROL_KEY", "ops-key")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("switchyard run starts");
    let _run = Running(child);

    let shown = wait_status(&admin, "shards ready 1/1");
    assert!(shown.contains("ready"), "{shown}");
    assert!(shown.contains("services: 0"), "{shown}");

    // A service written in any language identifies by publishing on control.gateway.
    let hello = r#"{"s":"py/1","t":"IDENTIFY","d":{"opcode":0,"name":"pybot","instance":"py-1","version":"0.3","key":"ops-key","envelope_version":1}}"#;
    let out = switchyard(&["publish", "control.gateway", hello, "--broker", &broker]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = wait_status(&admin, "services: 1");
    assert!(shown.contains("pybot py-1 (version 0.3)"), "{shown}");

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
}
