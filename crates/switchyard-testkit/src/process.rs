//! [`Proc`]: a child process of a test, its output in a file, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long [`Proc::wait_for`] waits.
const WAIT: Duration = Duration::from_secs(60);

/// A child process with its output (stdout and stderr) in `{dir}/{name}.log`, killed when
/// dropped.
pub struct Proc {
    name: String,
    /// The process.
    pub child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with its output going to `{dir}/{name}.log`.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// What it has printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to a minute) until the output contains `text`.
    pub async fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "{} never printed {text:?}:\n{}",
                self.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
