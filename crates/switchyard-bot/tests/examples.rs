//! The examples, end to end against the fake Discord through the real gateway: the Rust echo
//! example over the embedded broker's RESP port (and its SIGTERM stop), the redis-py bot, and
//! the redis-cli one-liners.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::WAIT;
use support::gateway::GatewayEnv;
use support::process::{Proc, echo_bot, python_with_redis};
use switchyard_broker::Broker;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::embedded::resp::{RespConfig, RespServer, RunningRespServer};

/// The gateway on an embedded broker with its RESP listener on a free port.
async fn env() -> (GatewayEnv, RunningRespServer) {
    let embedded = EmbeddedBroker::new(Default::default());
    let resp = RespServer::bind(&embedded, RespConfig::on_port(0))
        .await
        .expect("RESP listener")
        .spawn();
    let broker: Arc<dyn Broker> = Arc::new(embedded);
    (GatewayEnv::start(broker).await, resp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_echo_example_answers_over_resp_and_stops_on_sigterm() {
    let (env, resp) = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("redis://{}", resp.local_addr());
    let mut bot = echo_bot("echo-rust", &url, None, dir.path());
    bot.wait_for("bot serving", WAIT);
    let id = env.say(",echo hi from rust");
    let body = env.wait_post("ok, you said: hi from rust").await;
    assert_eq!(body["message_reference"]["message_id"], id.to_string());
    let status = bot
        .terminate(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status}: {}", bot.output());
    assert!(bot.output().contains("signal received"), "{}", bot.output());
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_example_answers_through_the_resp_listener() {
    let python = python_with_redis();
    let (env, resp) = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = support::workspace().join("examples/python/echo_bot.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .env("SWITCHYARD_REDIS", format!("redis://{}", resp.local_addr()));
    let mut bot = Proc::spawn("python-echo", cmd, dir.path());
    bot.wait_for("listening on", WAIT);
    let id = env.say(",echo hi from python");
    let body = env.wait_post("ok, you said: hi from python").await;
    assert_eq!(body["message_reference"]["message_id"], id.to_string());
    env.say("not a command");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answers = env
        .posted()
        .iter()
        .filter(|c| c.starts_with("ok, you said"))
        .count();
    assert_eq!(
        answers,
        1,
        "only the command is answered, and its answer (a bot's message) is not: {:?}",
        env.posted()
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_one_liners_watch_and_answer() {
    switchyard_testkit::require_binary("redis-cli");
    switchyard_testkit::require_binary("jq");
    let (env, resp) = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = resp.local_addr().port().to_string();
    let shell = support::workspace().join("examples/shell");
    let script = |name: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg(shell.join(name)).env("REDIS_PORT", &port);
        cmd
    };
    // Watch: the user's message shows up in the watcher's output.
    let mut watch = Proc::spawn("watch", script("watch.sh"), dir.path());
    let mut echo = Proc::spawn("echo", script("echo.sh"), dir.path());
    watch.wait_for("psubscribe", WAIT);
    echo.wait_for("watching inbound.discord.*", WAIT);
    env.say(",echo hi from the shell");
    watch.wait_for(",echo hi from the shell", WAIT);
    // The redis-cli | jq | redis-cli pipeline answers it.
    let body = env.wait_post("ok, you said: hi from the shell").await;
    assert!(
        body["message_reference"]["message_id"].is_string(),
        "{body}"
    );
    // Answer by hand: a JSON string to a channel.
    let mut say = script("say.sh");
    say.args([
        env.channel.to_string(),
        "hello \"from\" the shell".to_owned(),
    ]);
    let out = say.output().expect("say.sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.wait_post("hello \"from\" the shell").await;
    echo.kill();
    watch.kill();
    env.shutdown().await;
}

/// The command examples: the shell's presence one-liner and the redis-py client's member
/// request, through the RESP listener to the gateway and the fake's sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_examples_set_presence_and_list_members() {
    switchyard_testkit::require_binary("redis-cli");
    switchyard_testkit::require_binary("jq");
    let python = python_with_redis();
    let (env, resp) = env().await;
    let port = resp.local_addr().port().to_string();

    let out = tokio::task::spawn_blocking({
        let port = port.clone();
        move || {
            Command::new("sh")
                .arg(support::workspace().join("examples/shell/presence.sh"))
                .args(["idle", "the tests"])
                .env("REDIS_PORT", &port)
                .output()
                .expect("presence.sh runs")
        }
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(r#""command":"update_presence""#),
        "{stdout}"
    );
    let session = env.sim.counters().sessions[0].clone();
    assert_eq!(session.presence["status"], "idle", "{session:?}");
    assert_eq!(session.presence["activities"][0]["name"], "the tests");

    let guild = &env.sim.world().guilds[0];
    let member = &guild.members[0].user;
    let prefix: String = member.username.chars().take(3).collect();
    let out = tokio::task::spawn_blocking({
        let (guild, prefix, port) = (guild.id.to_string(), prefix.clone(), port.clone());
        move || {
            Command::new(python)
                .arg(support::workspace().join("examples/python/commands.py"))
                .args(["members", &guild, &prefix])
                .env("SWITCHYARD_REDIS", format!("redis://127.0.0.1:{port}"))
                .output()
                .expect("commands.py runs")
        }
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<&str> = stdout.lines().collect();
    assert!(
        listed.contains(&format!("{} {}", member.id, member.username).as_str()),
        "{stdout}"
    );
    assert!(
        listed.iter().all(|l| l
            .split(' ')
            .nth(1)
            .is_some_and(|name| name.to_lowercase().starts_with(&prefix.to_lowercase()))),
        "only members named {prefix}…: {stdout}"
    );
    env.shutdown().await;
}
