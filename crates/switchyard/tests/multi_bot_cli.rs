//! Several bots in one `switchyard run`, from `[[gateway.bots]]`: each identifies with its own
//! token, publishes on its own inbound template, and answers its own outbound pattern with its
//! own token; `switchyard status` shows both. Neither token is ever logged, even at debug
//! level and through a RESUME and a new IDENTIFY.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use switchyard_broker::{BrokerOptions, Pattern, Topic};
use switchyard_sim::{Fault, Inject, Sim, SimConfig, Snowflake};
use switchyard_testkit::free_port;

/// Tokens shaped like Discord's: base64 user id, base64 timestamp, HMAC.
const MAIN_TOKEN: &str = "MTM3MDAwMDAwMDAwMDAwMDAx.GmAiNx.mainHmacPart_Zq8Xv2Lw9Kc4Rt7Yp1Nb3Md6";
const HELPER_TOKEN: &str = "MTM3MDAwMDAwMDAwMDAwMDAy.GhElPr.helperHmacPart_Jf5Ws8Qa2Eg7Uk0Hy4Vo";

/// Fails if a token, or any of its parts, appears in `logs`.
fn assert_no_token(logs: &str) {
    for token in [MAIN_TOKEN, HELPER_TOKEN] {
        for part in std::iter::once(token).chain(token.split('.')) {
            assert!(!logs.contains(part), "{part:?} was logged:\n{logs}");
        }
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn user_id(api: &str, token: &str) -> String {
    let body = reqwest::Client::new()
        .get(format!("{api}/api/v10/users/@me"))
        .header("Authorization", format!("Bot {token}"))
        .send()
        .await
        .expect("users/@me")
        .bytes()
        .await
        .expect("body");
    let v: Value = serde_json::from_slice(&body).expect("json");
    v["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_in_one_process_keep_to_their_own_topics_and_tokens() {
    let sim = Sim::start(SimConfig::fast()).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let (resp, admin) = (free_port(), free_port());
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[broker]
resp_port = {resp}
[admin]
bind = "127.0.0.1:{admin}"
[gateway]
api_url = "{api}"
identify_window_ms = 20
session_dir = "{sessions}"

[[gateway.bots]]
bot = "main"
token = "{MAIN_TOKEN}"

[[gateway.bots]]
bot = "helper"
token_env = "HELPER_BOT_TOKEN"
outbound_pattern = "outbound.helper.>"
topic_template = "inbound.helper.{{guild}}.{{channel}}.{{user}}"
"#,
            api = sim.http_url(),
            sessions = dir.path().join("sessions").display(),
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.path().join("run.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("DISCORD_TOKEN")
        .env("HELPER_BOT_TOKEN", HELPER_TOKEN)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("run starts");
    let _run = Running(child);
    let logs = || std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();

    let admin = format!("127.0.0.1:{admin}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["status", "--admin", &admin])
            .output()
            .expect("status");
        let shown = String::from_utf8_lossy(&out.stdout).into_owned();
        if shown.contains("bot main: shards ready 1/1")
            && shown.contains("bot helper: shards ready 1/1")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both bots never ready:\n{shown}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let broker = switchyard_broker::connect(
        &format!("redis://127.0.0.1:{resp}"),
        &BrokerOptions::default(),
    )
    .await
    .expect("RESP");
    let mut main_in = broker
        .subscribe(&Pattern::new("inbound.discord.>").expect("pattern"))
        .await
        .expect("subscribe");
    let mut helper_in = broker
        .subscribe(&Pattern::new("inbound.helper.>").expect("pattern"))
        .await
        .expect("subscribe");
    let guild = sim.world().guilds[0].clone();
    let channel = guild
        .channels
        .iter()
        .find(|c| c.kind == 0)
        .expect("text channel")
        .id;
    sim.inject(&Inject::Message {
        channel_id: Snowflake(channel),
        content: "hello both".into(),
        author_id: None,
    })
    .expect("inject");
    for (name, sub) in [("main", &mut main_in), ("helper", &mut helper_in)] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let msg = tokio::time::timeout_at(deadline, sub.recv())
                .await
                .unwrap_or_else(|_| panic!("{name} never published the message\n{}", logs()))
                .expect("open");
            let v: Value = serde_json::from_slice(&msg.payload).expect("envelope");
            if v["t"] == "MESSAGE_CREATE" && v["d"]["content"] == "hello both" {
                assert_eq!(v["bot"], name, "the envelope names the bot");
                break;
            }
        }
    }

    // Each outbound pattern is answered with its own bot's token.
    let user = 1u64;
    for (prefix, text) in [
        ("outbound.discord", "from main"),
        ("outbound.helper", "from helper"),
    ] {
        let topic = Topic::new(&format!("{prefix}.{}.{channel}.{user}", guild.id)).expect("topic");
        broker
            .publish(&topic, Bytes::from(format!("\"{text}\"")))
            .await
            .expect("publish");
    }
    let (main_id, helper_id) = (
        user_id(sim.http_url(), MAIN_TOKEN).await,
        user_id(sim.http_url(), HELPER_TOKEN).await,
    );
    assert_ne!(main_id, helper_id);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let calls = sim.counters().rest_calls;
        let by = |text: &str| {
            calls
                .iter()
                .find(|c| c.method == "POST" && c.body.contains(text))
                .and_then(|c| c.bot_id.clone())
        };
        if let (Some(m), Some(h)) = (by("from main"), by("from helper")) {
            assert_eq!(m, main_id, "main's answer went out with main's token");
            assert_eq!(h, helper_id, "helper's answer went out with helper's token");
            break;
        }
        assert!(Instant::now() < deadline, "answers not posted\n{}", logs());
        std::thread::sleep(Duration::from_millis(50));
    }

    // A RESUME and a new IDENTIFY send the tokens again; the logs still hold neither.
    sim.fault(&Fault::Reconnect { session_id: None })
        .expect("reconnect");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sim
        .counters()
        .sessions
        .iter()
        .all(|s| s.resumes >= 1 && s.connected)
    {
        assert!(Instant::now() < deadline, "no RESUME\n{}", logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    sim.fault(&Fault::InvalidSession {
        resumable: false,
        session_id: None,
    })
    .expect("invalid session");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim
        .counters()
        .sessions
        .iter()
        .filter(|s| s.connected)
        .count()
        < 2
        || sim.counters().sessions.len() < 4
    {
        assert!(Instant::now() < deadline, "no new IDENTIFY\n{}", logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_no_token(&logs());
}
