//! redis-py against the RESP listener, with `protocol=2` and `protocol=3`
//! (`tests/resp_support/redis_py_check.py`).
//!
//! Python is found through `SWITCHYARD_PYTHON`, then `/work/main/.venv/bin/python` or the
//! workspace's `.venv/bin/python`, then `python3`. If redis-py is not importable the test
//! fails, naming the fix (`pip install redis` in the virtual environment `.ci/run` makes);
//! it never passes silently.

mod resp_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use resp_support::Listener;
use switchyard_broker::Broker;
use switchyard_broker::embedded::resp::RespConfig;
use switchyard_testkit::python;

fn require_redis_py(python: &Path) {
    let out = Command::new(python)
        .args(["-c", "import redis; print(redis.__version__)"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "redis-py is not installed for {}: create the virtual environment with \
         `python3 -m venv .venv && .venv/bin/pip install redis` (.ci/run does this) or point \
         SWITCHYARD_PYTHON at a Python that has it.\n{}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(protocol: u8) {
    let python = python();
    require_redis_py(&python);
    let listener = Listener::start(RespConfig::default());
    let mut done = listener.runtime.block_on(async {
        listener
            .broker
            .subscribe(&"py.>".parse().expect("pattern"))
            .await
            .expect("subscribe")
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/resp_support/redis_py_check.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .args([listener.port().to_string(), protocol.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the redis-py script");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    assert_eq!(
        lines.next().as_deref(),
        Some("READY"),
        "script failed before READY"
    );
    listener.runtime.block_on(async {
        listener
            .broker
            .publish(
                &"inbound.discord.1.2.3".parse().expect("topic"),
                "from-broker-api".into(),
            )
            .await
            .expect("publish");
    });
    assert_eq!(
        lines.next().as_deref(),
        Some("OK"),
        "script failed after READY"
    );
    let status = child.wait().expect("wait");
    assert!(status.success(), "redis-py script exited with {status}");
    let message = listener
        .runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), done.recv()).await })
        .expect("in time")
        .expect("message");
    assert_eq!(message.topic.as_str(), "py.done");
    assert_eq!(
        &message.payload[..],
        format!("protocol-{protocol}").as_bytes()
    );
}

#[test]
fn redis_py_resp2() {
    check(2);
}

#[test]
fn redis_py_resp3() {
    check(3);
}
