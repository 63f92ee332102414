//! Processes `switchyard bench` starts and stops itself: private `redis-server` and
//! `nats-server` instances on free loopback ports, and the fake Discord as a child process
//! (`switchyard sim`) for the memory measurement, so that its memory is not counted.

use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A child process, killed when dropped.
#[derive(Debug)]
pub struct ChildServer {
    name: &'static str,
    child: Child,
    /// Where clients reach it (`redis://…`, `nats://…`, `http://…`).
    pub url: String,
}

impl ChildServer {
    /// The process id (to read its CPU time and memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts `cmd` as `name`, listening on `port`; stdout and stdin closed, stderr inherited.
pub fn start_listening(
    name: &'static str,
    mut cmd: Command,
    port: u16,
) -> anyhow::Result<ChildServer> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    if let Err(e) = wait_listening(port, Duration::from_secs(10), &mut child, name) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(ChildServer {
        name,
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            tracing::debug!(server = self.name, "kill: {e}");
        }
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

/// Finds an executable on `PATH` or in the sbin directories (nats-server is often in
/// /usr/sbin, which is not on every user's `PATH`).
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Waits until something accepts connections on `port`.
fn wait_listening(
    port: u16,
    timeout: Duration,
    child: &mut Child,
    name: &str,
) -> anyhow::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{name} exited at start ({status})");
        }
        if started.elapsed() > timeout {
            bail!("{name} did not listen on port {port} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a private server (NATS with JetStream, its store under `dir`, for the sessions'
/// key-value bucket): `Ok(None)` with a printed reason when its binary is missing.
pub fn start_private(kind: &'static str, dir: &Path) -> anyhow::Result<Option<ChildServer>> {
    let binary = match kind {
        "redis" => "redis-server",
        _ => "nats-server",
    };
    let Some(path) = find_binary(binary) else {
        println!("{kind:<9} skipped: {binary} is not installed (or pass --{kind} URL)");
        return Ok(None);
    };
    let port = free_port()?;
    let data = dir.join(format!("{kind}-{port}"));
    let child = spawn_private(
        kind,
        &path,
        port,
        &data,
        false,
        Duration::from_secs(10),
        None,
    )?;
    Ok(Some(ChildServer {
        name: binary,
        child,
        url: format!("{kind}://127.0.0.1:{port}"),
    }))
}

/// Spawns `binary`, a `redis-server` (`kind` "redis": an append-only file under `data` when
/// `append_only`, else nothing kept) or a `nats-server -js` (its store under `data`), on
/// `port`, and waits up to `wait` for it to listen; what it prints is appended to `log`, or
/// dropped.
pub(crate) fn spawn_private(
    kind: &str,
    binary: &Path,
    port: u16,
    data: &Path,
    append_only: bool,
    wait: Duration,
    log: Option<&Path>,
) -> anyhow::Result<Child> {
    let mut cmd = Command::new(binary);
    if kind == "redis" {
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ]);
        if append_only {
            // `always`: with `everysec` Redis answers writes it has not yet written while a
            // background fsync runs, and a killed server loses them (RELIABILITY.md,
            // finding 9)
            cmd.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(data);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
    } else {
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(data);
    }
    let (stdout, stderr) = match log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let copy = file
                .try_clone()
                .with_context(|| format!("cannot open {}", path.display()))?;
            (Stdio::from(file), Stdio::from(copy))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    if let Err(e) = wait_listening(port, wait, &mut child, kind) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(child)
}

/// Starts `switchyard sim` (this very executable) as a child with `shards` shards, all
/// identified at once, and `extra` appended to its configuration (tables under `[sim]`);
/// returns it with its HTTP URL (`http://127.0.0.1:P`).
pub fn start_child_sim(shards: u32, dir: &Path, extra: &str) -> anyhow::Result<ChildServer> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let config = dir.join("bench-sim.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nbind = \"127.0.0.1:0\"\n\n[sim]\nmax_concurrency = {shards}\n\n[sim.timings]\nidentify_window_ms = 50\n{extra}"
        ),
    )
    .context("cannot write the fake Discord's configuration")?;
    let mut child = Command::new(exe)
        .arg("--config")
        .arg(&config)
        .args(["--log", "warn", "sim", "--port", "0"])
        .args([
            "--shards",
            &shards.to_string(),
            "--guilds",
            &shards.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start `switchyard sim`")?;
    let stdout = child
        .stdout
        .take()
        .context("no stdout from `switchyard sim`")?;
    // The first line names the URLs: `switchyard sim: gateway ws://… REST http://…/api/v10 …`.
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    let read = reader.read_line(&mut line);
    // Keep reading, so that the child never writes into a closed pipe.
    std::thread::spawn(move || reader.lines().for_each(drop));
    let url = read.ok().and_then(|_| {
        let rest = line
            .split_whitespace()
            .skip_while(|w| *w != "REST")
            .nth(1)?;
        Some(rest.trim_end_matches("/api/v10").to_owned())
    });
    let mut server = ChildServer {
        name: "switchyard sim",
        child,
        url: String::new(),
    };
    match url {
        Some(url) if url.starts_with("http://") => {
            server.url = url;
            Ok(server)
        }
        _ => bail!(
            "`switchyard sim` did not print its URLs (got {:?})",
            line.trim()
        ),
    }
}
