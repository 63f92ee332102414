//! A `switchyard run` process in a shard pool, for the pool tests: started on a private
//! Redis and a fake Discord, killed when dropped, its output kept in a file.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use std::collections::BTreeSet;
use switchyard_sim::SimHandle;

/// The pool's lease: short, so that a dead node is noticed quickly.
pub const LEASE_MS: u64 = 900;

/// A token shaped like Discord's (base64 user id, base64 timestamp, HMAC): never logged.
pub const TOKEN: &str = "MTM3MDAwMDAwMDAwMDAwMDA5.GpOoLx.poolHmacPart_Tn3Bc6Xe9Dr2Fs5Gu8Hi1Jk";

/// The control key that signs the pool's messages (a node started with
/// `SWITCHYARD_CONTROL_KEY=""` runs unsigned): never logged either.
pub const CONTROL_KEY: &str = "pool-control-key-Qx81";

/// A `switchyard run` process, killed when dropped; its output goes to a file.
pub struct Node {
    pub child: Child,
    pub admin: String,
    log: std::path::PathBuf,
}

impl Node {
    pub fn start(
        sim: &SimHandle,
        redis: &str,
        dir: &std::path::Path,
        name: &str,
        save_ms: u64,
    ) -> Node {
        Node::start_with(sim, redis, dir, name, save_ms, &[])
    }

    /// [`Node::start`] with more environment variables (set after the defaults).
    pub fn start_with(
        sim: &SimHandle,
        redis: &str,
        dir: &std::path::Path,
        name: &str,
        save_ms: u64,
        env: &[(&str, &str)],
    ) -> Node {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("run")
            .env_remove("SWITCHYARD_CONFIG")
            .env("RUST_LOG", "debug")
            .env("DISCORD_TOKEN", TOKEN)
            .env("SWITCHYARD_BROKER_URL", redis)
            .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
            .env("SWITCHYARD_GATEWAY_POOL", "true")
            .env("SWITCHYARD_GATEWAY_POOL_LEASE_MS", LEASE_MS.to_string())
            .env("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "20")
            .env("SWITCHYARD_GATEWAY_SESSION_SAVE_MS", save_ms.to_string())
            .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.join(name))
            // Port 0: the process binds a free port and logs it. A port picked here could be
            // handed to another test's process between the pick and the bind.
            .env("SWITCHYARD_ADMIN_BIND", "127.0.0.1:0")
            .env("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }")
            .env("SWITCHYARD_CONTROL_KEY", CONTROL_KEY)
            .envs(env.iter().copied())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("switchyard run starts");
        let mut node = Node {
            child,
            admin: String::new(),
            log,
        };
        node.admin = node.bound_admin();
        node
    }

    /// Where the admin listener bound, from the process's log (waits up to 60 s).
    fn bound_admin(&mut self) -> String {
        const MARK: &str = "admin listener on http://";
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.output();
            if let Some(at) = log.find(MARK) {
                let rest = &log[at + MARK.len()..];
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                return rest[..end].to_owned();
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("switchyard run exited ({status}) before listening:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "no admin listener within 60 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The admin listener's `/status` document.
    pub async fn status(&self) -> Option<Value> {
        let body = reqwest::get(format!("http://{}/status", self.admin))
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// The ready shard ids, from `/status`.
    pub async fn ready_shards(&self) -> Option<BTreeSet<u32>> {
        let doc = self.status().await?;
        let shards = doc["gateway"]["shards"].as_array()?;
        Some(
            shards
                .iter()
                .filter(|s| s["state"] == "active")
                .filter_map(|s| s["id"].as_u64().and_then(|id| u32::try_from(id).ok()))
                .collect(),
        )
    }

    /// Whether `/status` says this node coordinates the pool.
    pub async fn is_coordinator(&self) -> Option<bool> {
        self.status().await?["pool"]["coordinator"].as_bool()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit {within:?} after SIGTERM\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends the signal `sig` (`STOP`, `CONT`, `KILL`…) to the process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{sig} {pid}");
    }

    /// Whether the process still runs (and is not a zombie waiting to be reaped).
    pub fn alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()));
        stat.is_ok_and(|s| {
            let state = s.rsplit(") ").next().and_then(|r| r.chars().next());
            !matches!(state, Some('Z' | 'X') | None)
        })
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Fails if the token, or any of its parts, appears in a node's output.
pub fn assert_no_token(nodes: &[Node]) {
    for node in nodes {
        let log = node.output();
        for part in [TOKEN, CONTROL_KEY].into_iter().chain(TOKEN.split('.')) {
            assert!(!log.contains(part), "{part:?} was logged:\n{log}");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `check` holds, or fails with the nodes' logs.
pub async fn until(what: &str, secs: u64, nodes: &[&Node], mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes.iter().map(|n| n.output()).collect();
            panic!(
                "{what} did not happen in {secs} s\n{}",
                logs.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
