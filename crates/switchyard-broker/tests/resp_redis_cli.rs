//! The real `redis-cli` against the RESP listener: `redis-cli -p P PSUBSCRIBE 'inbound.*'`
//! sees a message published through the Broker API and one published with
//! `redis-cli PUBLISH`, in RESP2 and (with `-3`) RESP3.

mod resp_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use resp_support::Listener;
use switchyard_broker::Broker;
use switchyard_broker::embedded::resp::RespConfig;
use switchyard_testkit::require_binary;

struct Cli {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Cli {
    fn expect_lines(&self, expected: &[&str]) {
        for want in expected {
            let got = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("redis-cli printed nothing more; wanted {want:?}"));
            assert_eq!(got.trim_end(), *want);
        }
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn psubscribe(port: u16, extra: &[&str]) -> Cli {
    let mut child = Command::new(require_binary("redis-cli"))
        .args(["-p", &port.to_string()])
        .args(extra)
        .args(["PSUBSCRIBE", "inbound.*"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start redis-cli");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Cli { child, lines }
}

fn cli_publish(port: u16, channel: &str, payload: &str) -> String {
    let out = Command::new(require_binary("redis-cli"))
        .args(["-p", &port.to_string(), "PUBLISH", channel, payload])
        .output()
        .expect("run redis-cli PUBLISH");
    assert!(out.status.success(), "redis-cli PUBLISH failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn check(extra: &[&str]) {
    let listener = Listener::start(RespConfig::default());
    let port = listener.port();
    let cli = psubscribe(port, extra);
    cli.expect_lines(&["psubscribe", "inbound.*", "1"]);

    listener.runtime.block_on(async {
        listener
            .broker
            .publish(
                &"inbound.discord.1.2.3".parse().expect("topic"),
                "from the broker api".into(),
            )
            .await
            .expect("publish");
    });
    cli.expect_lines(&[
        "pmessage",
        "inbound.*",
        "inbound.discord.1.2.3",
        "from the broker api",
    ]);

    assert_eq!(cli_publish(port, "inbound.cli", "from redis-cli"), "1");
    cli.expect_lines(&["pmessage", "inbound.*", "inbound.cli", "from redis-cli"]);
    // Redis globs cross dots, and a channel outside the pattern reaches nobody.
    assert_eq!(cli_publish(port, "inbound", "no"), "0");
}

#[test]
fn redis_cli_psubscribe_resp2() {
    check(&[]);
}

#[test]
fn redis_cli_psubscribe_resp3() {
    check(&["-3"]);
}
