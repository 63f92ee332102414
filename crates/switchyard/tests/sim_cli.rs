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
