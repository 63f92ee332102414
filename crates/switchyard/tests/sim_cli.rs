//! `switchyard sim` as a user runs it: it prints its URLs, serves Discord's REST shape there,
//! and refuses to bind a public address without a token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use switchyard_testkit::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str, token: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("sim listens");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bot {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn sim_prints_its_urls_and_serves_gateway_bot() {
    let port = free_port();
    let admin = free_port();
    let mut child = Command::new(BIN)
        .args([
            "sim",
            "--port",
            &port.to_string(),
            "--shards",
            "4",
            "--admin-port-unused",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // An unknown flag is refused with a usage error, not ignored.
    let status = child.wait().expect("exit");
    assert!(!status.success());

    let mut child = Running(
        Command::new(BIN)
            .args(["sim", "--port", &port.to_string(), "--shards", "4"])
            .env("SWITCHYARD_ADMIN_BIND", format!("127.0.0.1:{admin}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    assert!(line.contains(&format!("ws://127.0.0.1:{port}")), "{line}");
    assert!(line.contains("/api/v10"), "{line}");

    let reply = get(port, "/api/v10/gateway/bot", "abc.def");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"shards\":4"), "{reply}");
    assert!(
        reply.contains(&format!("\"url\":\"ws://127.0.0.1:{port}\"")),
        "{reply}"
    );

    let status = get(admin, "/status", "");
    assert!(status.contains("\"command\":\"sim\""), "{status}");
}

#[test]
fn sim_refuses_a_public_address_without_a_token() {
    let out = Command::new(BIN)
        .args(["sim", "--port", "0", "--host", "0.0.0.0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token"));
}

/// Runs the binary to its exit, failing the test if it is still running after 20 s.
fn run_to_exit(args: &[&str]) -> std::process::Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = Running(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.0.try_wait().expect("wait").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "switchyard {args:?} did not exit"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut out = std::process::Output {
        status: child.0.wait().expect("status"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    if let Some(mut s) = child.0.stdout.take() {
        s.read_to_end(&mut out.stdout).expect("stdout");
    }
    if let Some(mut s) = child.0.stderr.take() {
        s.read_to_end(&mut out.stderr).expect("stderr");
    }
    out
}

#[test]
fn a_bad_scenario_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "[[step]]\nbogus = 1\n").expect("write");
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{\"steps\": [").expect("write");
    let yaml = dir.path().join("scenario.yaml");
    std::fs::write(&yaml, "steps: []\n").expect("write");
    let missing = dir.path().join("missing.toml");
    let cases = [
        (&bad_toml, "bogus"),
        (&bad_json, "EOF"),
        (&yaml, ".toml or .json"),
        (&missing, "cannot read"),
    ];
    for (path, problem) in cases {
        let file = path.to_str().expect("utf-8 path");
        let out = run_to_exit(&["sim", "--port", "0", "--scenario", file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: {stderr}");
        assert!(stderr.contains(file), "names the file: {stderr}");
        assert!(stderr.contains(problem), "says what is wrong: {stderr}");
    }
}

/// A minimal WebSocket client on a blocking socket: enough to identify and read dispatches.
struct Ws(TcpStream);

impl Ws {
    fn connect(port: u16) -> Self {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "GET /?v=10&encoding=json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("handshake");
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).expect("handshake reply");
            head.push(b[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        Self(s)
    }

    /// The next text frame as JSON, or `Err(close code)`.
    fn next(&mut self) -> Result<serde_json::Value, u16> {
        loop {
            let mut h = [0u8; 2];
            self.0.read_exact(&mut h).expect("frame header");
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    self.0.read_exact(&mut l).expect("len");
                    u64::from(u16::from_be_bytes(l))
                }
                127 => {
                    let mut l = [0u8; 8];
                    self.0.read_exact(&mut l).expect("len");
                    u64::from_be_bytes(l)
                }
                n => u64::from(n),
            };
            let mut data = vec![0u8; usize::try_from(len).expect("len")];
            self.0.read_exact(&mut data).expect("payload");
            match h[0] & 0x0f {
                1 => return Ok(serde_json::from_slice(&data).expect("json frame")),
                8 => {
                    return Err(data
                        .get(..2)
                        .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]])));
                }
                _ => {}
            }
        }
    }

    fn send(&mut self, v: &serde_json::Value) {
        let data = v.to_string().into_bytes();
        let mut frame = vec![0x81];
        if data.len() < 126 {
            frame.push(0x80 | data.len() as u8);
        } else {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(data.len()).expect("small").to_be_bytes());
        }
        let mask = [1u8, 2, 3, 4];
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&frame).expect("send");
    }
}

#[test]
fn a_scenario_file_is_played_once_a_client_is_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hello.toml");
    std::fs::write(
        &file,
        "[[step]]\nat_ms = 10\ninject = { type = \"direct_message\", content = \"scripted hello\" }\n\n[[step]]\nat_ms = 30\nfault = { type = \"close\", code = 4000 }\n",
    )
    .expect("write");
    let port = free_port();
    let admin = free_port();
    let mut child = Running(
        Command::new(BIN)
            .args(["sim", "--port", &port.to_string(), "--scenario"])
            .arg(&file)
            .env("SWITCHYARD_ADMIN_BIND", format!("127.0.0.1:{admin}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("urls");
    assert!(line.contains(&format!("ws://127.0.0.1:{port}")), "{line}");
    line.clear();
    stdout.read_line(&mut line).expect("scenario line");
    assert!(
        line.contains("hello.toml") && line.contains("2 steps"),
        "{line}"
    );

    let mut ws = Ws::connect(port);
    assert_eq!(ws.next().expect("hello")["op"], 10);
    ws.send(&serde_json::json!({"op": 2, "d": {
        "token": "scenario-bot", "intents": 1 | (1 << 12) | (1 << 15),
        "properties": {"os": "linux", "browser": "test", "device": "test"},
    }}));
    let mut events = Vec::new();
    let code = loop {
        match ws.next() {
            Ok(p) if p["op"] == 0 => events.push(p),
            Ok(_) => {}
            Err(code) => break code,
        }
    };
    assert_eq!(events[0]["t"], "READY");
    let dm = events
        .iter()
        .find(|e| e["t"] == "MESSAGE_CREATE")
        .expect("the scripted DM");
    assert_eq!(dm["d"]["content"], "scripted hello");
    assert_eq!(code, 4000, "the scripted close");
    line.clear();
    stdout.read_line(&mut line).expect("played line");
    assert!(line.contains("hello.toml played (2 steps)"), "{line}");
}
