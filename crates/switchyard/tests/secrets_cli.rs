//! The bot's token and the control key stay secret through a run with faults: a Python
//! consumer sends garbage and requests that fail (bad JSON, a bad payload, no channel, a
//! channel the fake Discord does not know, a `reply_to` outside the namespace, garbage on
//! `control.gateway`), the fake forces 429s and closes the shard; then neither the token,
//! nor any of its three parts, nor the control key, is in the log (at debug level), in
//! `/status`, in `/metrics` or in the error reports on `errors.…`.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_sim::{Fault, Sim, SimConfig};
use switchyard_testkit::{free_port, python_with};

/// Shaped like Discord's: base64 user id, base64 time, HMAC.
const TOKEN: &str = "MTM3MTExMTExMTExMTExMTEx.Gsecrt.secretsHmacPart_Zq4Wv7Ty0Up3Lm6Nb9";
const CONTROL_KEY: &str = "secrets-control-key-51ab";

/// Kills the process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

/// Fails naming `place` if the token, a part of it, or the control key is in `text`.
fn assert_secret_free(place: &str, text: &str) {
    let parts = [TOKEN, CONTROL_KEY].into_iter().chain(TOKEN.split('.'));
    for part in parts {
        assert!(!text.contains(part), "{part:?} is in {place}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logs_status_metrics_or_error_topics_after_faults() {
    let python = python_with(&["redis"]);
    let config = SimConfig {
        token: Some(TOKEN.to_owned()),
        ..SimConfig::fast()
    };
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let (resp, admin) = (free_port(), free_port());
    let admin = format!("127.0.0.1:{admin}");
    let log_path = dir.path().join("run.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "debug")
        .env("DISCORD_TOKEN", TOKEN)
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.path())
        .env("SWITCHYARD_BROKER_RESP_PORT", resp.to_string())
        .env("SWITCHYARD_ADMIN_BIND", &admin)
        .env("SWITCHYARD_CONTROL_KEY", CONTROL_KEY)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("switchyard run starts");
    let _run = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_get(&admin, "/status").contains("\"ready\":1") {
        assert!(
            Instant::now() < deadline,
            "the shard never became ready:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The fake refuses the next REST calls with 429s and drops the shard, which resumes.
    sim.fault(&Fault::RateLimit {
        count: 2,
        global: true,
        retry_after_ms: 50,
        scope: None,
    })
    .expect("rate limit fault");
    sim.fault(&Fault::Close {
        code: 4000,
        session_id: None,
    })
    .expect("close fault");

    let guild = &sim.world().guilds[0];
    let channel = guild.channels[0].id;
    let reports = dir.path().join("errors.jsonl");
    let out = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/garbage_consumer.py"
        ))
        .args([
            resp.to_string(),
            guild.id.to_string(),
            channel.to_string(),
            reports.display().to_string(),
        ])
        .output()
        .expect("python runs");
    let errors = std::fs::read_to_string(&reports).unwrap_or_default();
    assert!(
        out.status.success(),
        "{}{}\nreports:\n{errors}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The faults happened: a REST error from the fake is among the reports.
    assert!(errors.contains("discord_error"), "{errors}");

    // Still serving after all that, and nothing secret anywhere.
    let status = http_get(&admin, "/status");
    assert!(
        status.contains("\"ready\":1") || status.contains("\"shards\""),
        "{status}"
    );
    assert_secret_free("/status", &status);
    assert_secret_free("/metrics", &http_get(&admin, "/metrics"));
    assert_secret_free("the error reports", &errors);
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.contains("refusing a control message") || log.contains("malformed"),
        "{log}"
    );
    assert_secret_free("the log", &log);
}
