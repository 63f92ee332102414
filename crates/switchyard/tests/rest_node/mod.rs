//! A `switchyard rest-proxy` process for the proxy tests: started on a private Redis in front
//! of the fake Discord, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A child process killed when the test ends, whatever happens.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a proxy with `env` set besides the defaults; returns it with its proxy and admin
/// addresses (from its first line).
pub fn start_proxy(upstream: &str, redis: &str, env: &[(&str, &str)]) -> (Running, String, String) {
    let mut child = Command::new(BIN)
        .args(["rest-proxy", "--port", "0", "--admin", "127.0.0.1:0"])
        .args(["--upstream", upstream, "--redis", redis])
        .env_remove("SWITCHYARD_CONFIG")
        .env("SWITCHYARD_REST_MARGIN_MS", "15")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchyard rest-proxy");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let proxy = words
        .iter()
        .find(|w| w.ends_with("/api/v10"))
        .unwrap_or_else(|| panic!("startup line: {line}"))
        .to_string();
    let admin = words.last().expect("admin").trim().to_string();
    (Running(child), proxy, admin)
}
