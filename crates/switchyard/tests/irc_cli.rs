//! `switchyard run` with an `[[irc]]` network, end to end: a private ngircd, the fake Discord,
//! the gateway process, and the unchanged echo bots (the Rust example and the Python one)
//! connected to its RESP port. A person on IRC says `,echo …` and the bot answers in the
//! channel; the IRC server restarts and the bot answers again; Discord answers all along;
//! `/status` shows the network.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_sim::{Inject, Sim, SimConfig, SimHandle, Snowflake};
use switchyard_testkit::{IrcClient, IrcServer, Proc, free_port};

const WAIT: Duration = Duration::from_secs(60);

/// The `echo` example of switchyard-bot, as `cargo test --workspace` builds it.
fn echo_example() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile.join("examples").join("echo");
    assert!(
        path.is_file(),
        "the echo example is not built at {}: run `cargo build -p switchyard-bot --example echo` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

async fn status(admin: &str) -> Option<Value> {
    let text = reqwest::get(format!("http://{admin}/status"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// The sum of the samples of `name` in the admin listener's `/metrics` whose labels include
/// every one of `labels` (`key="value"`).
async fn metric(admin: &str, name: &str, labels: &[&str]) -> f64 {
    let text = match reqwest::get(format!("http://{admin}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|k| l.contains(k)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the network `test` is registered with `#echo` joined, `connections` or more
/// connections made.
async fn irc_ready(admin: &str, run: &Proc, connections: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(s) = status(admin).await {
            let net = &s["irc"][0];
            if net["state"] == "registered"
                && net["connections"].as_u64() >= Some(connections)
                && net["channels"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c == "#echo"))
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the IRC network did not come up: {:?}\n{}",
            status(admin).await,
            run.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Says `,echo {text}` in a Discord channel of the fake and waits for the bot's answer.
async fn discord_echo(sim: &SimHandle, text: &str) {
    let channel = sim
        .world()
        .guilds
        .iter()
        .find_map(|g| g.channels.iter().find(|c| c.kind == 0).map(|c| c.id))
        .expect("a text channel");
    sim.inject(&Inject::Message {
        channel_id: Snowflake(channel),
        content: format!(",echo {text}"),
        author_id: None,
    })
    .expect("inject");
    let want = format!("ok, you said: {text}");
    let deadline = Instant::now() + WAIT;
    while !sim
        .messages(channel)
        .iter()
        .any(|m| m["content"].as_str() == Some(&want))
    {
        assert!(Instant::now() < deadline, "Discord never got {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unchanged_echo_bots_answer_on_irc_and_survive_a_server_restart() {
    let echo = echo_example();
    let python = switchyard_testkit::python_with(&["redis"]);
    let mut ircd = IrcServer::start();
    let mut config = SimConfig::fast();
    config.world.guilds = 1;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[[irc]]\nnetwork = \"test\"\nserver = \"{}\"\nnick = \"sybot\"\n\
         channels = [\"#echo\"]\nsend_interval_ms = 200\nreconnect_max_ms = 2000\n",
        ircd.addr()
    );
    let config_path = dir.path().join("switchyard.toml");
    std::fs::write(&config_path, toml).expect("config");
    let (resp, admin) = (free_port(), format!("127.0.0.1:{}", free_port()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("run")
        .arg("--config")
        .arg(&config_path)
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "info")
        .env("DISCORD_TOKEN", "irc-cli-test-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env(
            "SWITCHYARD_GATEWAY_SESSION_DIR",
            dir.path().join("sessions"),
        )
        .env("SWITCHYARD_BROKER_RESP_PORT", resp.to_string())
        .env("SWITCHYARD_ADMIN_BIND", &admin);
    let run = Proc::spawn("run", cmd, dir.path());
    irc_ready(&admin, &run, 1).await;
    let resp_url = format!("redis://127.0.0.1:{resp}");

    // The Rust echo example, unchanged.
    let mut cmd = Command::new(echo);
    cmd.env("SWITCHYARD_BROKER", &resp_url)
        .env("ECHO_INSTANCE", "echo-irc")
        .env("RUST_LOG", "info");
    let rust_bot = Proc::spawn("echo", cmd, dir.path());
    rust_bot.wait_for("bot serving").await;
    let mut alice = IrcClient::connect(&ircd.addr(), "alice").await;
    alice.join("#echo").await;
    alice.say("#echo", ",echo hello from irc").await;
    alice
        .wait_for(|l| {
            l.starts_with(":sybot!") && l.ends_with("PRIVMSG #echo :ok, you said: hello from irc")
        })
        .await;
    discord_echo(&sim, "from discord").await;

    // The IRC server restarts: the network comes back by itself, Discord is not touched.
    drop(alice);
    ircd.restart();
    irc_ready(&admin, &run, 2).await;
    let mut bob = IrcClient::connect(&ircd.addr(), "bob").await;
    bob.join("#echo").await;
    bob.say("#echo", ",echo after the restart").await;
    bob.wait_for(|l| l.ends_with("PRIVMSG #echo :ok, you said: after the restart"))
        .await;
    discord_echo(&sim, "still discord").await;
    drop(rust_bot);

    // The Python example, unchanged, over the same RESP port.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python/echo_bot.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).env("SWITCHYARD_REDIS", &resp_url);
    let py = Proc::spawn("python-echo", cmd, dir.path());
    py.wait_for("listening on").await;
    bob.say("#echo", ",echo from python").await;
    bob.wait_for(|l| l.ends_with("PRIVMSG #echo :ok, you said: from python"))
        .await;
    py.wait_for("answered on outbound.irc.test.echo.bob").await;

    // Counted: what people said, what the bots answered, and the restart.
    let said = metric(
        &admin,
        "switchyard_irc_messages_total",
        &["network=\"test\"", "direction=\"in\""],
    )
    .await;
    let answered = metric(
        &admin,
        "switchyard_irc_messages_total",
        &["network=\"test\"", "direction=\"out\""],
    )
    .await;
    let dropped = metric(
        &admin,
        "switchyard_irc_disconnects_total",
        &["network=\"test\""],
    )
    .await;
    assert!(
        said >= 3.0 && answered >= 3.0 && dropped >= 1.0,
        "in {said}, out {answered}, disconnects {dropped}"
    );

    let s = status(&admin).await.expect("status");
    assert_eq!(s["irc"][0]["network"], "test");
    assert_eq!(s["irc"][0]["nick"], "sybot");
    let shards = s["gateway"]["shards"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !shards.is_empty() && shards.iter().all(|sh| sh["state"] == "active"),
        "{shards:?}"
    );
}
