//! Signed control messages against `switchyard run` with a control key: a Python service
//! signs IDENTIFY with the block of docs/security.md and verifies the gateway's answer; the
//! gateway refuses an unsigned, a wrong-key, a tampered, a replayed and a stale IDENTIFY,
//! and an unsigned SHUTDOWN, counting each on `/metrics`; `switchyard control` with the key
//! signs its SHUTDOWN, which the gateway obeys.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchyard_sim::{Sim, SimConfig};
use switchyard_testkit::{free_port, python_with};

const KEY: &str = "ops-key-7f3a";

/// Kills the process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn switchyard(args: &[&str], key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args)
        .env_remove("SWITCHYARD_CONFIG")
        .env_remove("SWITCHYARD_CONTROL_KEY");
    if let Some(key) = key {
        cmd.env("SWITCHYARD_CONTROL_KEY", key);
    }
    cmd.output().expect("runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn http_get(admin: &str, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(admin) else {
        return String::new();
    };
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

/// The count of `switchyard_control_rejected_total{reason}` on `/metrics`.
fn rejected(admin: &str, reason: &str) -> u64 {
    let label = format!("reason=\"{reason}\"");
    http_get(admin, "/metrics")
        .lines()
        .filter(|l| l.starts_with("switchyard_control_rejected_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Polls `check` until it holds, for at most 20 s; `what` names it in the failure.
fn wait_for(what: &str, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        match check() {
            None => return,
            Some(seen) => last = seen,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} never happened; last seen:\n{last}");
}

fn status(admin: &str) -> String {
    text(&switchyard(&["status", "--admin", admin], None))
}

/// The Python block of docs/security.md, as the module `control_signing` in `dir`.
fn signing_module(dir: &std::path::Path) {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/security.md"
    ))
    .expect("docs/security.md");
    let start = doc
        .find("<!-- control-signing.py -->\n```python\n")
        .expect("the signing block's marker in docs/security.md");
    let code = &doc[start..];
    let code = &code[code.find("```python\n").expect("fence") + 10..];
    let code = &code[..code.find("```").expect("closing fence")];
    std::fs::write(dir.join("control_signing.py"), code).expect("write module");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_control_is_obeyed_and_everything_else_refused_and_counted() {
    let python = python_with(&["redis"]);
    let sim = Sim::start(SimConfig::fast()).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    signing_module(dir.path());
    let (resp, admin) = (free_port(), free_port());
    let admin = format!("127.0.0.1:{admin}");
    let broker = format!("redis://127.0.0.1:{resp}");
    let log = std::fs::File::create(dir.path().join("run.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("DISCORD_TOKEN", "control-auth-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.path())
        .env("SWITCHYARD_BROKER_RESP_PORT", resp.to_string())
        .env("SWITCHYARD_ADMIN_BIND", &admin)
        .env("SWITCHYARD_CONTROL_KEY", KEY)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("switchyard run starts");
    let _run = Running(child);
    wait_for("the status page", || {
        let shown = status(&admin);
        (!shown.contains("services: 0")).then_some(shown)
    });

    let out = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/control_auth.py"
        ))
        .arg(dir.path())
        .arg(resp.to_string())
        .arg(KEY)
        .output()
        .expect("python runs");
    assert!(
        out.status.success() && text(&out).contains("answer verified"),
        "{}",
        text(&out)
    );

    let want = [
        ("unsigned", 1),
        ("bad_signature", 2),
        ("replayed", 1),
        ("stale", 1),
    ];
    wait_for("every refusal counted", || {
        let counts: Vec<(&str, u64)> = want
            .iter()
            .map(|(r, _)| (*r, rejected(&admin, r)))
            .collect();
        let done = want.iter().zip(&counts).all(|((_, n), (_, c))| c >= n);
        (!done).then(|| format!("{counts:?}"))
    });
    let shown = status(&admin);
    assert!(
        shown.contains("services: 1") && shown.contains("pybot py-1 (version 0.3)"),
        "{shown}"
    );
    for refused in [
        "py-unsigned",
        "py-wrong",
        "py-tampered",
        "py-t ",
        "py-stale",
    ] {
        assert!(!shown.contains(refused), "{refused} registered:\n{shown}");
    }

    // An operator without the key: the SHUTDOWN goes out unsigned and is refused.
    let out = switchyard(&["control", "shutdown", "pybot", "--broker", &broker], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("control.key is not set"),
        "{}",
        text(&out)
    );
    wait_for("the unsigned SHUTDOWN counted", || {
        let n = rejected(&admin, "unsigned");
        (n < 2).then(|| format!("unsigned: {n}"))
    });
    assert!(status(&admin).contains("services: 1"));

    // With the key, it is signed and obeyed.
    let out = switchyard(
        &["control", "shutdown", "pybot", "--broker", &broker],
        Some(KEY),
    );
    assert!(out.status.success(), "{}", text(&out));
    wait_for("the signed SHUTDOWN obeyed", || {
        let shown = status(&admin);
        (!shown.contains("services: 0")).then_some(shown)
    });

    // The key is nowhere in the log.
    let log = std::fs::read_to_string(dir.path().join("run.log")).expect("log");
    assert!(log.contains("refusing a control message"), "{log}");
    assert!(!log.contains(KEY), "the key was logged");
}
