//! The binary as a user runs it: `switchyard broker`, `redis-cli`, `tail` and `publish`
//! against it, the admin listener, configuration errors and `--help`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchyard_testkit::{free_port, require_binary};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A child process killed when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn switchyard(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "warn");
    cmd
}

fn start_broker() -> (Running, u16, u16) {
    let resp = free_port();
    let admin = free_port();
    let mut child = switchyard(&[
        "broker",
        "--resp-port",
        &resp.to_string(),
        "--admin",
        &format!("127.0.0.1:{admin}"),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start switchyard broker");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    assert!(
        line.contains(&format!("127.0.0.1:{resp}")),
        "startup line: {line}"
    );
    (Running(child), resp, admin)
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("admin listener");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("read");
    body
}

fn wait_for_subscriber(resp: u16, pattern_count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let out = Command::new(require_binary("redis-cli"))
            .args(["-p", &resp.to_string(), "PUBSUB", "NUMPAT"])
            .output()
            .expect("redis-cli");
        if String::from_utf8_lossy(&out.stdout).trim() == pattern_count.to_string() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("subscribers did not appear");
}

fn output_within(child: Child, limit: Duration) -> Output {
    let mut running = Running(child);
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = running.0.try_wait() {
            let mut stdout = String::new();
            if let Some(mut out) = running.0.stdout.take() {
                out.read_to_string(&mut stdout).expect("stdout");
            }
            return Output {
                status: running.0.wait().expect("status"),
                stdout: stdout.into_bytes(),
                stderr: Vec::new(),
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("process did not finish within {limit:?}");
}

#[test]
fn redis_cli_and_tail_see_what_publish_sends() {
    let (_broker, resp, admin) = start_broker();
    let url = format!("redis://127.0.0.1:{resp}");

    let mut cli = Running(
        Command::new(require_binary("redis-cli"))
            .args(["-p", &resp.to_string(), "PSUBSCRIBE", "inbound.*"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli"),
    );
    let tail = switchyard(&[
        "tail",
        "--broker",
        &url,
        "--json",
        "-n",
        "1",
        "inbound.discord.>",
    ])
    .stdout(Stdio::piped())
    .spawn()
    .expect("tail");
    wait_for_subscriber(resp, 2);

    let published = switchyard(&[
        "publish",
        "--broker",
        &url,
        "inbound.discord.1.2.3",
        r#"{"hello":"world"}"#,
    ])
    .output()
    .expect("publish");
    assert!(published.status.success(), "{published:?}");
    assert!(
        String::from_utf8_lossy(&published.stderr).contains("2 receiver(s)"),
        "{published:?}"
    );

    let tail = output_within(tail, Duration::from_secs(10));
    assert!(tail.status.success());
    assert_eq!(
        String::from_utf8_lossy(&tail.stdout).trim(),
        r#"{"topic":"inbound.discord.1.2.3","payload":{"hello":"world"}}"#
    );

    // redis-cli prints pmessage, pattern, channel, payload, one per line.
    let mut reader = BufReader::new(cli.0.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    while lines.len() < 7 {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 {
            break;
        }
        lines.push(line.trim().to_owned());
    }
    assert_eq!(
        lines[3..],
        [
            "pmessage",
            "inbound.*",
            "inbound.discord.1.2.3",
            r#"{"hello":"world"}"#
        ],
        "redis-cli output: {lines:?}"
    );

    let metrics = http_get(admin, "/metrics");
    assert!(
        metrics.contains("switchyard_broker_published_total"),
        "{metrics}"
    );
    let status = http_get(admin, "/status");
    assert!(
        status.contains("\"command\":\"broker\"") && status.contains("\"published\":1"),
        "{status}"
    );
}

#[test]
fn bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, "[broker]\nresp_prot = 1\n").expect("write");
    let out = switchyard(&["--config", path.to_str().expect("utf-8"), "broker"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("resp_prot") && err.contains("switchyard.toml"),
        "{err}"
    );

    let out = switchyard(&["broker"])
        .env("SWITCHYARD_BROKER_RESP_BIND", "0.0.0.0")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("resp_password"));
}

#[test]
fn unreachable_broker_and_bad_topic_are_explained() {
    let port = free_port();
    let out = switchyard(&[
        "publish",
        "--broker",
        &format!("redis://:hunter2@127.0.0.1:{port}"),
        "a.b",
        "x",
    ])
    .output()
    .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the broker") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "the password must never be printed: {err}"
    );

    let out = switchyard(&["publish", "a..b", "x"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid topic \"a..b\""));
}

#[test]
fn help_explains_every_subcommand() {
    for (sub, needle) in [
        ("broker", "--resp-port"),
        ("tail", "--json"),
        ("publish", "standard input"),
    ] {
        let out = switchyard(&[sub, "--help"]).output().expect("run");
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(needle), "{sub} --help lacks {needle}: {help}");
    }
}

#[test]
fn tail_and_publish_work_over_nats() {
    let nats = switchyard_testkit::NatsServer::start();
    let url = nats.url();
    let mut tail = Running(
        switchyard(&["tail", "--broker", &url, "--json", "-n", "1", "guild.>"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tail"),
    );
    // tail says so on stderr once the server has the subscription.
    let mut stderr = BufReader::new(tail.0.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("tail's first line");
    assert!(line.contains("tailing guild.>"), "{line}");

    let published = switchyard(&["publish", "--broker", &url, "guild.1.2", "[1,2]"])
        .output()
        .expect("publish");
    assert!(published.status.success(), "{published:?}");
    let child = std::mem::replace(
        &mut tail.0,
        Command::new("true").spawn().expect("placeholder"),
    );
    let out = output_within(child, Duration::from_secs(10));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"topic":"guild.1.2","payload":[1,2]}"#
    );
}

#[test]
fn durable_publish_drops_a_replayed_id_and_embedded_is_refused() {
    let redis = switchyard_testkit::RedisServer::start();
    let url = format!("{}?durable=streams&prefixes=evt", redis.url());
    let publish = || {
        switchyard(&["publish", "--broker", &url, "--id", "e-1", "evt.1", "x"])
            .output()
            .expect("publish")
    };
    let first = publish();
    assert!(first.status.success(), "{first:?}");
    assert!(!String::from_utf8_lossy(&first.stderr).contains("duplicate"));
    let again = publish();
    assert!(again.status.success(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("duplicate id, dropped"),
        "{again:?}"
    );

    let out = switchyard(&["publish", "--broker", "embedded", "a.b", "x"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RESP port"));
}

#[test]
fn the_face_refuses_what_would_cost_its_clients_events_and_names_why() {
    let token = "ODAzNTExMTAyMjQ2Nzg5MTI.0123456789abcdef0123";
    let run = |env: &[(&str, &str)]| {
        let mut cmd = switchyard(&["run"]);
        cmd.env("DISCORD_TOKEN", "t")
            .env("SWITCHYARD_FACE_ENABLED", "true")
            .env("SWITCHYARD_FACE_TOKENS", token);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&[
        (
            "SWITCHYARD_GATEWAY_DROP_EVENTS",
            r#"["PRESENCE_UPDATE", "TYPING_START"]"#,
        ),
        (
            "SWITCHYARD_GATEWAY_INTENTS",
            r#"["GUILDS", "GUILD_MESSAGES", "GUILD_PRESENCES"]"#,
        ),
    ]);
    assert!(err.contains("drop_events drops PRESENCE_UPDATE"), "{err}");
    assert!(
        !err.contains("TYPING_START"),
        "typing needs an intent the bot lacks: {err}"
    );
    let err = run(&[("SWITCHYARD_GATEWAY_PROFILE", "bytebot")]);
    assert!(err.contains("bytebot"), "{err}");
    let err = run(&[("SWITCHYARD_FACE_TOKENS", "hunter2")]);
    assert!(
        err.contains("face.tokens") && !err.contains("hunter2"),
        "{err}"
    );
    // a token is shown once, in Discord's form, for the bot's id
    let out = switchyard(&["face", "--mint-token", "80351110224678912"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let minted = String::from_utf8_lossy(&out.stdout);
    assert!(
        minted.starts_with("ODAzNTExMTAyMjQ2Nzg5MTI.") && minted.trim().len() > 60,
        "{minted}"
    );
    let out = switchyard(&["face"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cache"));
}
