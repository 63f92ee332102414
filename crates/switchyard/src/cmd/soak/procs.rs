//! The soak's processes besides the gateway nodes: a private broker that keeps its data on
//! disk and can be killed and started again on the same port and files, and the durable
//! group's consumers, `switchyard tail --group … --json`, each writing what it receives to a
//! file of its own before acknowledging it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cmd::bench::servers::{find_binary, free_port, spawn_private};

/// A private redis-server (append-only file) or nats-server (JetStream file store).
pub(super) struct BrokerProc {
    kind: &'static str,
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl BrokerProc {
    /// Starts it, its files under `dir`; `None` with a printed reason when its binary is
    /// missing.
    pub(super) fn start(kind: &'static str, dir: &Path) -> anyhow::Result<Option<BrokerProc>> {
        let name = if kind == "redis" {
            "redis-server"
        } else {
            "nats-server"
        };
        let Some(binary) = find_binary(name) else {
            println!("{kind:<6} skipped: {name} is not installed");
            return Ok(None);
        };
        let dir = dir.join(format!("{kind}-data"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let port = free_port()?;
        let child = spawn(kind, &binary, port, &dir)?;
        Ok(Some(BrokerProc {
            kind,
            binary,
            port,
            dir,
            child,
        }))
    }

    /// `redis://127.0.0.1:P` or `nats://127.0.0.1:P`.
    pub(super) fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.kind, self.port)
    }

    /// `kill -9`, then the same server on the same port and files.
    pub(super) fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // the port is free once the process is gone; retry briefly in case the kernel lags
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn(self.kind, &self.binary, self.port, &self.dir) {
                Ok(child) => {
                    self.child = child;
                    return Ok(());
                }
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for BrokerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server on its port and files; a large append-only file takes a while to load, but
/// the port opens first (Redis answers LOADING meanwhile). What it logs is appended to
/// `{kind}-server.log` beside its files, one start after the other, so that a failed soak
/// has the broker's own account of its restarts.
fn spawn(kind: &str, binary: &Path, port: u16, dir: &Path) -> anyhow::Result<Child> {
    let log = dir.with_file_name(format!("{kind}-server.log"));
    spawn_private(
        kind,
        binary,
        port,
        dir,
        true,
        Duration::from_secs(60),
        Some(&log),
    )
}

/// One consumer of a durable group: `switchyard tail` as a child, started again (into a new
/// record file) after each kill.
pub(super) struct Consumer {
    name: String,
    url: String,
    group: &'static str,
    pattern: &'static str,
    dir: PathBuf,
    child: Child,
    /// Starts so far: the record file of start `n` is `{name}-{n}.jsonl`.
    pub starts: u32,
}

impl Consumer {
    /// Starts `name` in `group` on `pattern`, and waits until it has joined the group.
    pub(super) async fn start(
        name: &str,
        url: &str,
        group: &'static str,
        pattern: &'static str,
        dir: &Path,
    ) -> anyhow::Result<Consumer> {
        let child = spawn_tail(name, 1, url, group, pattern, dir).await?;
        Ok(Consumer {
            name: name.to_owned(),
            url: url.to_owned(),
            group,
            pattern,
            dir: dir.to_owned(),
            child,
            starts: 1,
        })
    }

    /// The record file of start `n`.
    pub(super) fn record(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{}-{n}.jsonl", self.name))
    }

    /// `kill -9`, and a new process in its place.
    pub(super) async fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.restart().await
    }

    /// Whether the process ended by itself (it is then started again by [`Self::restart`]).
    pub(super) fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub(super) async fn restart(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        let (name, url, dir) = (self.name.clone(), self.url.clone(), self.dir.clone());
        self.child = spawn_tail(&name, self.starts, &url, self.group, self.pattern, &dir).await?;
        Ok(())
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_tail(
    name: &str,
    start: u32,
    url: &str,
    group: &str,
    pattern: &str,
    dir: &Path,
) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let out = std::fs::File::create(dir.join(format!("{name}-{start}.jsonl")))
        .context("a consumer's record file")?;
    let log_path = dir.join(format!("{name}-{start}.log"));
    let log = std::fs::File::create(&log_path).context("a consumer's log")?;
    let mut child = Command::new(exe)
        .args([
            "--log", "warn", "tail", "--json", "--group", group, "--broker", url,
        ])
        .arg(pattern)
        .env_remove("SWITCHYARD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(log))
        .spawn()
        .context("cannot start switchyard tail")?;
    // `tail` says so on stderr once it has joined the group (after a broker restart, once
    // Redis has loaded its data, which takes a while when it holds much)
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let said = std::fs::read_to_string(&log_path).unwrap_or_default();
        if said.contains("tailing") {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "consumer {name} exited at start ({status}): {}",
                said.trim()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "consumer {name} did not join group {group} within 60 s: {}",
                said.trim()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
