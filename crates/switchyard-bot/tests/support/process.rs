//! Child processes of the examples: the Rust echo example, Python, shell scripts; their
//! output captured in files and waited on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed on drop, with stdout+stderr in a file.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // Its own process group, so that killing it also kills what a script started.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            child,
            log,
            name: name.to_owned(),
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the output contains `needle`.
    pub fn wait_for(&mut self, needle: &str, wait: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before printing {needle:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} did not print {needle:?} in time:\n{}",
            self.name,
            self.output()
        );
    }

    /// SIGKILL to the process and everything it started, as a crash would.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status (`None` if it did not exit within `wait`).
    pub fn terminate(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The compiled `echo` example (`cargo test` builds the examples with the tests).
pub fn echo_example() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir
        .join("examples")
        .join(format!("echo{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "the echo example is not built at {}: run `cargo test -p switchyard-bot` (which builds the examples) or `cargo build -p switchyard-bot --example echo`",
        path.display()
    );
    path
}

/// The echo example connected to `broker_url`, in worker group `group` if given.
pub fn echo_bot(name: &str, broker_url: &str, group: Option<&str>, dir: &Path) -> Proc {
    let mut cmd = Command::new(echo_example());
    cmd.env("SWITCHYARD_BROKER", broker_url)
        .env("ECHO_INSTANCE", name)
        .env("RUST_LOG", "info,switchyard_broker=warn");
    if let Some(g) = group {
        cmd.env("ECHO_GROUP", g);
    }
    Proc::spawn(name, cmd, dir)
}

/// The Python interpreter, checked to have redis-py.
pub fn python_with_redis() -> PathBuf {
    switchyard_testkit::python_with(&["redis"])
}
