//! The embedded broker's ZeroMQ endpoints as a component in another runtime sees them, with
//! pyzmq (from `.venv`, or `SWITCHYARD_PYTHON`) and the `switchyard` binary:
//! - a pyzmq echo bot (`examples/python/zmq_echo_bot.py`) receives a MESSAGE_CREATE from
//!   `switchyard run` over SUB and answers over PUSH; the fake Discord records the message;
//! - garbage, a one-frame message, three frames, a bad topic and an oversized payload on PULL
//!   are dropped and counted on `/metrics`, and a good message after them still arrives; a SUB
//!   that never reads does not hold back one that does, and its drops are counted;
//! - `switchyard tail` and `publish` work with a `zmq://` URL, and `switchyard run` runs on
//!   another switchyard's endpoints through `broker.url = "zmq://…"`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_sim::{Inject, Sim, SimConfig, SimHandle, Snowflake};
use switchyard_testkit::{Proc, free_port};

const WAIT: Duration = Duration::from_secs(60);

/// A `switchyard` command with a clean environment, an admin listener on `admin` and the
/// ZeroMQ endpoints on `ports`.
fn switchyard(sub: &str, admin: &str, ports: (u16, u16)) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg(sub)
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "info")
        .env("SWITCHYARD_BROKER_RESP_PORT", free_port().to_string())
        .env(
            "SWITCHYARD_BROKER_ZMQ_PUB",
            format!("127.0.0.1:{}", ports.0),
        )
        .env(
            "SWITCHYARD_BROKER_ZMQ_PULL",
            format!("127.0.0.1:{}", ports.1),
        )
        .env("SWITCHYARD_ADMIN_BIND", admin);
    cmd
}

async fn get(admin: &str, path: &str) -> String {
    match reqwest::get(format!("http://{admin}{path}")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The sum of the samples of `name` on `/metrics` whose labels include every one of `labels`
/// (`key="value"`); a sample without labels counts when `labels` is empty.
async fn metric(admin: &str, name: &str, labels: &[&str]) -> f64 {
    get(admin, "/metrics")
        .await
        .lines()
        .filter(|l| {
            let rest = l.strip_prefix(name).unwrap_or("");
            (rest.starts_with('{') || (rest.starts_with(' ') && labels.is_empty()))
                && labels.iter().all(|k| l.contains(k))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `name{labels}` on `/metrics` is at least `at_least`.
async fn wait_metric(admin: &str, name: &str, labels: &[&str], at_least: f64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = metric(admin, name, labels).await;
        if value >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} is {value}, expected at least {at_least}:\n{}",
            get(admin, "/metrics").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pyzmq_bot_answers_a_discord_message_through_the_zeromq_endpoints() {
    switchyard_testkit::python_with(&["zmq"]);
    let mut config = SimConfig::fast();
    config.world.guilds = 1;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = format!("127.0.0.1:{}", free_port());
    let ports = (free_port(), free_port());
    let mut cmd = switchyard("run", &admin, ports);
    cmd.env("DISCORD_TOKEN", "zmq-cli-test-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env(
            "SWITCHYARD_GATEWAY_SESSION_DIR",
            dir.path().join("sessions"),
        );
    let run = Proc::spawn("run", cmd, dir.path());
    run.wait_for("ZeroMQ PUB on tcp://").await;
    let status: Value = serde_json::from_str(&get(&admin, "/status").await).expect("status");
    assert_eq!(
        status["broker"]["zmq"]["pub"],
        format!("tcp://127.0.0.1:{}", ports.0)
    );
    assert_eq!(
        status["broker"]["zmq"]["pull"],
        format!("tcp://127.0.0.1:{}", ports.1)
    );

    echo_round_trip(&sim, ports, &run, dir.path()).await;
}

/// Starts the pyzmq echo bot on the endpoints at `ports` and says `,echo …` in the fake until
/// the fake records the bot's answer.
async fn echo_round_trip(sim: &SimHandle, ports: (u16, u16), run: &Proc, dir: &Path) {
    let python = switchyard_testkit::python_with(&["zmq"]);
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python/zmq_echo_bot.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .env("SWITCHYARD_ZMQ_SUB", format!("tcp://127.0.0.1:{}", ports.0))
        .env(
            "SWITCHYARD_ZMQ_PUSH",
            format!("tcp://127.0.0.1:{}", ports.1),
        );
    let bot = Proc::spawn("zmq-echo", cmd, dir);
    bot.wait_for("listening on").await;

    let channel = sim
        .world()
        .guilds
        .iter()
        .find_map(|g| g.channels.iter().find(|c| c.kind == 0).map(|c| c.id))
        .expect("a text channel");
    // A SUB socket's subscription takes effect a moment after it connects, and the shard
    // may still be identifying: say it again until the bot has answered once.
    let deadline = Instant::now() + WAIT;
    let mut said = 0;
    let answered = loop {
        said += 1;
        sim.inject(&Inject::Message {
            channel_id: Snowflake(channel),
            content: format!(",echo over zeromq {said}"),
            author_id: None,
        })
        .expect("inject");
        let poll_until = Instant::now() + Duration::from_secs(2);
        let found = loop {
            let found = sim.messages(channel).into_iter().find_map(|m| {
                let content = m["content"].as_str()?;
                content
                    .starts_with("ok, you said: over zeromq ")
                    .then(|| content.to_owned())
            });
            if found.is_some() || Instant::now() > poll_until {
                break found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "the fake never recorded the bot's answer\nrun:\n{}\nbot:\n{}",
            run.output(),
            bot.output()
        );
    };
    assert!(answered.starts_with("ok, you said: over zeromq "));
    bot.wait_for("answered on outbound.discord.").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_a_stuck_subscriber_are_dropped_and_counted() {
    const MAX_PAYLOAD: usize = 100_000;
    const FLOOD: usize = 2000;
    let python = switchyard_testkit::python_with(&["zmq"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = format!("127.0.0.1:{}", free_port());
    let ports = (free_port(), free_port());
    let mut cmd = switchyard("broker", &admin, ports);
    cmd.env("SWITCHYARD_BROKER_MAX_PAYLOAD", MAX_PAYLOAD.to_string())
        .env("SWITCHYARD_BROKER_SUBSCRIBER_BUFFER", "256");
    let broker = Proc::spawn("broker", cmd, dir.path());
    broker.wait_for("ZeroMQ PUB on tcp://").await;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/zmq_bad_input.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([ports.0, ports.1].map(|p| p.to_string()))
            .args([MAX_PAYLOAD, FLOOD].map(|n| n.to_string()))
            .output()
            .expect("python runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nbroker:\n{}",
        String::from_utf8_lossy(&out.stderr),
        broker.output()
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["received"], FLOOD, "the reading SUB got everything");

    let refused = "switchyard_zmq_refused_total";
    wait_metric(&admin, refused, &["reason=\"greeting\""], 1.0).await;
    wait_metric(&admin, refused, &["reason=\"frames\""], 2.0).await;
    wait_metric(&admin, refused, &["reason=\"topic\""], 1.0).await;
    wait_metric(&admin, refused, &["reason=\"too_large\""], 1.0).await;
    wait_metric(&admin, "switchyard_zmq_dropped_total", &[], 1.0).await;
    let log = broker.output();
    assert!(
        log.contains("ZeroMQ PULL endpoint dropped a message") && log.contains("too slow"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_and_publish_take_a_zmq_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = format!("127.0.0.1:{}", free_port());
    let ports = (free_port(), free_port());
    let broker = Proc::spawn("broker", switchyard("broker", &admin, ports), dir.path());
    broker.wait_for("ZeroMQ PUB on tcp://").await;
    let url = format!("zmq://127.0.0.1:{}?pull={}", ports.0, ports.1);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["tail", "--broker", &url, "inbound.discord.*.2.>"])
        .env_remove("SWITCHYARD_CONFIG");
    let tail = Proc::spawn("tail", cmd, dir.path());
    tail.wait_for("tailing inbound.discord.*.2.>").await;
    for (topic, payload) in [
        ("inbound.discord.1.3.4", "not this one"),
        (
            "inbound.discord.1.2.3",
            "{\"content\":\"hello over zeromq\"}",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["publish", "--broker", &url, topic, payload])
            .env_remove("SWITCHYARD_CONFIG")
            .output()
            .expect("publish runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    tail.wait_for("hello over zeromq").await;
    tail.wait_for("inbound.discord.1.2.3").await;
    assert!(!tail.output().contains("not this one"), "{}", tail.output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_runs_on_another_switchyards_zeromq_endpoints() {
    switchyard_testkit::python_with(&["zmq"]);
    let mut config = SimConfig::fast();
    config.world.guilds = 1;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = (free_port(), free_port());
    let broker_admin = format!("127.0.0.1:{}", free_port());
    let broker = Proc::spawn(
        "broker",
        switchyard("broker", &broker_admin, ports),
        dir.path(),
    );
    broker.wait_for("ZeroMQ PUB on tcp://").await;
    let admin = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "info")
        .env(
            "SWITCHYARD_BROKER_URL",
            format!("zmq://127.0.0.1:{}?pull={}", ports.0, ports.1),
        )
        .env("SWITCHYARD_ADMIN_BIND", &admin)
        .env("DISCORD_TOKEN", "zmq-cli-test-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env(
            "SWITCHYARD_GATEWAY_SESSION_DIR",
            dir.path().join("sessions"),
        );
    let run = Proc::spawn("run", cmd, dir.path());
    run.wait_for("on zmq://127.0.0.1:").await;
    echo_round_trip(&sim, ports, &run, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_heartbeats_are_answered() {
    let python = switchyard_testkit::python_with(&["zmq"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = format!("127.0.0.1:{}", free_port());
    let ports = (free_port(), free_port());
    let broker = Proc::spawn("broker", switchyard("broker", &admin, ports), dir.path());
    broker.wait_for("ZeroMQ PUB on tcp://").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/zmq_heartbeat.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([ports.0, ports.1].map(|p| p.to_string()))
            .output()
            .expect("python runs")
    })
    .await
    .expect("joined");
    assert!(
        out.status.success(),
        "{}\n{}\nbroker:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        broker.output()
    );
}
