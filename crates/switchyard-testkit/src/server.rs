//! Private broker servers for tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, require_binary};

/// Starts `program args…` under a shell watchdog that kills it when this process exits.
fn spawn_guarded(program: &Path, args: &[String], log: &Path) -> Child {
    let quoted: Vec<String> = std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let script = format!(
        "{cmd} >'{log}' 2>&1 & child=$!; \
         trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM INT; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.2; done; \
         kill $child 2>/dev/null; wait $child",
        cmd = quoted.join(" "),
        log = log.display(),
        parent = std::process::id(),
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()))
}

fn stop(child: &mut Child) {
    // The watchdog forwards TERM to the server and waits for it.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Why a server did not become ready.
#[derive(Debug)]
pub(crate) struct StartFailure {
    message: String,
}

impl StartFailure {
    /// Whether it failed because a port it was given was taken: chosen free, another test
    /// (or an outgoing connection) bound it before the server did. Other ports will do.
    pub(crate) fn port_taken(&self) -> bool {
        self.message.contains("address already in use")
            || self.message.contains("Address already in use")
    }
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Sends `signal` (`-STOP`, `-CONT`) to `pid`.
fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
    assert!(
        sent.as_ref().is_ok_and(|s| s.success()),
        "kill {signal} {pid} failed: {sent:?}"
    );
}

/// A process's state letter from `/proc/{pid}/stat` (`T` when stopped).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S …`: the name may hold spaces or parentheses, the state follows the last `)`
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Waits until `ready`, or the watchdog `child` exits (the server did), or 60 s pass.
fn wait_until(
    what: &str,
    log: &Path,
    child: &mut Child,
    mut ready: impl FnMut() -> bool,
) -> Result<(), StartFailure> {
    // generous: a clustered nats-server on a loaded machine takes a while to listen
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            break format!("exited ({status}) before it was ready");
        }
        if Instant::now() > deadline {
            break "did not become ready within 60 s".to_owned();
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let log = std::fs::read_to_string(log).unwrap_or_default();
    Err(StartFailure {
        message: format!("{what} {outcome}; its log:\n{log}"),
    })
}

/// Attempts at a fresh start before giving up on ports that keep being taken.
const START_ATTEMPTS: usize = 5;

/// What differs between the servers: how to start one and how to tell it is ready.
pub trait Kind {
    /// The binary, for messages and logs.
    const BINARY: &'static str;
    /// The URL scheme clients use.
    const SCHEME: &'static str;
    /// The arguments that start it on `port` with its data in `dir`.
    fn args(&self, port: u16, dir: &Path) -> Vec<String>;
    /// Whether it answers on `port`.
    fn ready(port: u16) -> bool;
}

/// A private server on a free port with its data in a temporary directory, stopped on drop.
pub struct Server<K: Kind> {
    kind: K,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl<K: Kind> Server<K> {
    /// Starts it on a free port, and on another when that one was taken before the server
    /// bound it.
    pub(crate) fn start_kind(kind: K) -> Self {
        let mut server = Server {
            kind,
            port: free_port(),
            dir: tempfile::tempdir().expect("temporary directory"),
            child: None,
        };
        for attempt in 1.. {
            match server.launch() {
                Ok(()) => break,
                Err(failure) if failure.port_taken() && attempt < START_ATTEMPTS => {
                    eprintln!("port {} was taken; starting again on another", server.port);
                    server.stop();
                    server.port = free_port();
                }
                Err(failure) => panic!("{failure}"),
            }
        }
        server
    }

    /// Starts it once on a free port, with no second try: for servers whose configuration
    /// names more ports than the one it is given (a cluster's routes).
    pub(crate) fn try_start_kind(kind: K) -> Result<Self, StartFailure> {
        let mut server = Server {
            kind,
            port: free_port(),
            dir: tempfile::tempdir().expect("temporary directory"),
            child: None,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> Result<(), StartFailure> {
        let bin = require_binary(K::BINARY);
        let args = self.kind.args(self.port, self.dir.path());
        let log = self.dir.path().join(format!("{}.log", K::BINARY));
        let child = self.child.insert(spawn_guarded(&bin, &args, &log));
        let port = self.port;
        wait_until(K::BINARY, &log, child, || K::ready(port))
    }

    /// What kind of server it is, with its settings.
    pub fn kind(&self) -> &K {
        &self.kind
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `{scheme}://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", K::SCHEME, self.port)
    }

    /// Stops the server (its data stays).
    pub fn stop(&mut self) {
        self.resume();
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Whether it runs (it was not stopped or killed).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills it with SIGKILL, as a crash would (its data stays; [`Self::restart`] starts it
    /// again).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // the server is the watchdog's child
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &child.id().to_string()])
                .status();
            stop(&mut child);
        }
    }

    /// Freezes it with SIGSTOP: its connections stay open and nothing answers, as a server
    /// stalled or cut off by the network. Returns once the kernel shows it stopped.
    /// [`Self::resume`] (or dropping it) continues it.
    pub fn pause(&mut self) {
        let pid = self
            .server_pid()
            .unwrap_or_else(|| panic!("no running {} to pause", K::BINARY));
        signal(pid, "-STOP");
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_state(pid) != Some('T') {
            assert!(
                Instant::now() < deadline,
                "{} ({pid}) not stopped 10 s after SIGSTOP: state {:?}",
                K::BINARY,
                process_state(pid)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Continues a server [`Self::pause`] froze.
    pub fn resume(&mut self) {
        if let Some(pid) = self.server_pid() {
            signal(pid, "-CONT");
        }
    }

    /// The server's own process: the watchdog's child that runs [`Kind::BINARY`].
    fn server_pid(&self) -> Option<u32> {
        let watchdog = self.child.as_ref()?.id();
        let out = Command::new("pgrep")
            .args(["-P", &watchdog.to_string()])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() == K::BINARY)
            })
    }

    /// Stops and starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(failure) = self.launch() {
            panic!("{failure}");
        }
    }
}

impl<K: Kind> Drop for Server<K> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `redis-server`, with or without an append-only file, and with an ACL file or without.
pub struct Redis {
    appendonly: bool,
    aclfile: Option<PathBuf>,
}

/// A private `redis-server`.
pub type RedisServer = Server<Redis>;

impl Server<Redis> {
    /// Starts a server without persistence.
    pub fn start() -> Self {
        Self::start_kind(Redis {
            appendonly: false,
            aclfile: None,
        })
    }

    /// Starts a server with `appendonly yes`, for tests that restart it.
    pub fn start_persistent() -> Self {
        Self::start_kind(Redis {
            appendonly: true,
            aclfile: None,
        })
    }

    /// Starts a server whose users are those of the ACL file `aclfile`.
    pub fn start_with_acl(aclfile: &Path) -> Self {
        Self::start_kind(Redis {
            appendonly: false,
            aclfile: Some(aclfile.to_owned()),
        })
    }
}

impl Kind for Redis {
    const BINARY: &'static str = "redis-server";
    const SCHEME: &'static str = "redis";

    fn args(&self, port: u16, dir: &Path) -> Vec<String> {
        let appendonly = if self.appendonly { "yes" } else { "no" };
        let acl = self
            .aclfile
            .iter()
            .flat_map(|f| ["--aclfile".to_owned(), f.display().to_string()]);
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir.display().to_string(),
            "--save",
            "",
            "--appendonly",
            appendonly,
            // a killed server keeps every write it answered (with `everysec` it may not)
            "--appendfsync",
            "always",
            "--protected-mode",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(acl)
        .collect()
    }

    fn ready(port: u16) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        // Without a default user (an ACL file), the answer is NOAUTH: it answers all the same.
        let mut buf = [0u8; 7];
        stream.read_exact(&mut buf).is_ok() && (&buf == b"+PONG\r\n" || &buf == b"-NOAUTH")
    }
}

/// `nats-server -js` with a file store and `max_payload` of 8 MiB, and more configuration.
pub struct Nats {
    extra: String,
}

/// A private `nats-server -js`.
pub type NatsServer = Server<Nats>;

impl Server<Nats> {
    /// Starts a server with JetStream enabled.
    pub fn start() -> Self {
        Self::start_kind(Nats {
            extra: String::new(),
        })
    }

    /// Starts a server whose configuration also has `extra` (an `authorization` block, say).
    pub fn start_with(extra: &str) -> Self {
        Self::start_kind(Nats {
            extra: extra.to_owned(),
        })
    }

    /// [`Self::start_with`] once, its failure returned: for a cluster, whose routes' ports
    /// are in `extra`.
    pub(crate) fn try_start_with(extra: &str) -> Result<Self, StartFailure> {
        Self::try_start_kind(Nats {
            extra: extra.to_owned(),
        })
    }
}

impl Kind for Nats {
    const BINARY: &'static str = "nats-server";
    const SCHEME: &'static str = "nats";

    fn args(&self, port: u16, dir: &Path) -> Vec<String> {
        let config_path = dir.join("nats.conf");
        let config = format!(
            "listen: 127.0.0.1:{port}\nmax_payload: 8388608\njetstream {{ store_dir: \"{}\" }}\n{}\n",
            dir.join("jetstream").display(),
            self.extra
        );
        std::fs::write(&config_path, config).expect("write nats config");
        vec!["-c".to_owned(), config_path.display().to_string()]
    }

    fn ready(port: u16) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).is_ok() && &buf == b"INFO"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_starts_restarts_and_stops() {
        let mut redis = RedisServer::start_persistent();
        assert!(Redis::ready(redis.port()));
        redis.restart();
        assert!(Redis::ready(redis.port()));
        let port = redis.port();
        drop(redis);
        assert!(!Redis::ready(port));
    }

    #[test]
    fn nats_starts_and_stops() {
        let nats = NatsServer::start();
        let port = nats.port();
        assert!(Nats::ready(port));
        drop(nats);
        assert!(!Nats::ready(port));
    }

    /// A server whose port is taken exits at once; the failure says so (so that the start
    /// picks another port) instead of a 60 s wait for a server that is gone.
    fn taken_port_fails_fast<K: Kind>(kind: K) {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut server = Server {
            kind,
            port: taken.local_addr().expect("local address").port(),
            dir: tempfile::tempdir().expect("temporary directory"),
            child: None,
        };
        let started = Instant::now();
        let failure = server.launch().expect_err("its port is taken");
        assert!(failure.port_taken(), "{failure}");
        assert!(started.elapsed() < Duration::from_secs(30), "{failure}");
    }

    #[test]
    fn nats_on_a_taken_port_fails_fast() {
        taken_port_fails_fast(Nats {
            extra: String::new(),
        });
    }

    #[test]
    fn redis_on_a_taken_port_fails_fast() {
        taken_port_fails_fast(Redis {
            appendonly: false,
            aclfile: None,
        });
    }
}
