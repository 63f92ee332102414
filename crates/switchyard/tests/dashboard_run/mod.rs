//! For the dashboard tests: a `switchyard run` on the embedded broker against the fake
//! Discord (free ports chosen by the process itself, read back from what it prints), and raw
//! HTTP requests whose Host and Origin are exactly what the test writes.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use switchyard_sim::SimHandle;
use switchyard_testkit::Proc;

/// The running process and where it listens.
pub struct Run {
    pub proc: Proc,
    /// The admin listener, `127.0.0.1:PORT`.
    pub admin: String,
    /// The embedded broker's RESP port, `127.0.0.1:PORT` (empty on another broker).
    pub resp: String,
}

/// Starts `switchyard run` with a cache (so that the dashboard has guilds to show) and `env`
/// (`SWITCHYARD_BROKER_URL` in it for another broker than the embedded one).
pub async fn start(sim: &SimHandle, dir: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "info")
        .env("DISCORD_TOKEN", "dashboard-test-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.join("sessions"))
        .env("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "60")
        .env("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }")
        .env("SWITCHYARD_BROKER_RESP_PORT", "0")
        .env("SWITCHYARD_ADMIN_BIND", "127.0.0.1:0")
        .envs(env.iter().copied());
    let proc = Proc::spawn("run", cmd, dir);
    proc.wait_for("admin on http://").await;
    let out = proc.output();
    let after = |mark: &str| {
        let at = out
            .find(mark)
            .unwrap_or_else(|| panic!("no {mark:?} in:\n{out}"))
            + mark.len();
        let rest = &out[at..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ')' || c == ',')
            .unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    let admin = after("admin on http://");
    let resp = match out.contains("(RESP on redis://") {
        true => after("(RESP on redis://"),
        false => String::new(),
    };
    Run { proc, admin, resp }
}

/// One HTTP/1.1 request (`head` without its blank line); the status and the whole answer.
pub async fn request(admin: &str, head: &str, body: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(admin)
        .await
        .expect("the admin listener accepts");
    let text = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(text.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut answer))
        .await
        .expect("an answer within 30 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {answer:?}"));
    (status, answer)
}

/// Reads the dashboard's stream at `admin` (no admin token set) until a snapshot satisfies
/// `wanted`, and returns it; fails after 90 s with the last snapshot seen.
pub async fn snapshot_until(
    admin: &str,
    what: &str,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut res = reqwest::get(format!("http://{admin}/dashboard/stream"))
        .await
        .expect("the stream answers");
    assert_eq!(res.status(), 200, "the stream");
    let mut buf: Vec<u8> = Vec::new();
    let mut last = serde_json::Value::Null;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot with {what} within 90 s; the last one:\n{last:#}"
        );
        let chunk = tokio::time::timeout(Duration::from_secs(30), res.chunk())
            .await
            .expect("the stream goes on")
            .expect("read")
            .expect("the stream is open");
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let event = String::from_utf8_lossy(&event);
            if !event.starts_with("event: snapshot") {
                continue;
            }
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if let Ok(snapshot) = serde_json::from_str::<serde_json::Value>(&data) {
                if wanted(&snapshot) {
                    return snapshot;
                }
                last = snapshot;
            }
        }
    }
}

/// The token of a dashboard page served by `admin` (no admin token set).
pub async fn page_token(admin: &str) -> String {
    let (status, page) = request(admin, &format!("GET / HTTP/1.1\r\nHost: {admin}"), "").await;
    assert_eq!(status, 200, "{page}");
    let mark = "name=\"switchyard-page-token\" content=\"";
    let at = page.find(mark).expect("the page carries a token") + mark.len();
    page[at..at + 32].to_owned()
}

/// A dashboard action as the page sends it, with its token; the status and answer.
pub async fn act(admin: &str, token: &str, path: &str, body: &str) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {admin}\r\nOrigin: http://{admin}\r\n\
         X-Switchyard-Page-Token: {token}\r\nContent-Type: application/json"
    );
    request(admin, &head, body).await
}
