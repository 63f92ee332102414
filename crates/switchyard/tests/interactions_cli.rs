//! Discord's HTTP interactions endpoint in `switchyard run`, against the fake Discord, which
//! delivers signed interactions as Discord does, and a bot on the broker that answers through
//! the outbound topics:
//! - a PING is answered with a PONG; a request signed with another key or an old timestamp
//!   gets a 401 and is never published;
//! - a command, a component and an autocomplete answered in time: the bot's callback is the
//!   HTTP answer (and its `reply_to` hears that it was delivered);
//! - a command answered late: the endpoint defers it (type 5), the bot's late callback edits
//!   the deferred message, and its follow-up goes through the webhook route;
//! - autocomplete results after the time: answered with no choices, and the bot told why.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_broker::{Broker, BrokerOptions, Pattern, Subscription, Topic};
use switchyard_sim::{
    Delivered, Delivery, DeliveryKind, Signing, Sim, SimConfig, SimHandle, Snowflake,
};
use switchyard_testkit::free_port;

/// Generous: the machine may be loaded.
const DEADLINE: Duration = Duration::from_secs(60);

struct Running {
    child: Child,
    log: std::path::PathBuf,
}

impl Running {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bot's side: its broker connection, the interactions it receives and its replies.
struct Bot {
    broker: std::sync::Arc<dyn Broker>,
    inbound: Subscription,
    replies: Subscription,
    sent: u32,
}

impl Bot {
    /// The next INTERACTION_CREATE: its topic and envelope.
    async fn interaction(&mut self) -> (Topic, Value) {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let msg = tokio::time::timeout_at(until, self.inbound.recv())
                .await
                .expect("an interaction within the deadline")
                .expect("subscription open");
            let envelope: Value = serde_json::from_slice(&msg.payload).expect("an envelope");
            if envelope["t"] == "INTERACTION_CREATE" {
                return (msg.topic, envelope);
            }
        }
    }

    /// Publishes a REST request on the outbound topic matching `topic`; returns its reply_to.
    async fn request(&mut self, topic: &Topic, method: &str, path: &str, body: Value) -> String {
        self.sent += 1;
        let reply_to = format!("inbound.rest.test.r{}", self.sent);
        let outbound = topic.as_str().replacen("inbound.", "outbound.", 1);
        let payload = json!({"method": method, "path": path, "body": body, "reply_to": reply_to});
        self.broker
            .publish(
                &Topic::new(&outbound).expect("topic"),
                Bytes::from(payload.to_string()),
            )
            .await
            .expect("publish");
        reply_to
    }

    /// Answers the interaction of `envelope` with a callback.
    async fn callback(&mut self, topic: &Topic, envelope: &Value, body: Value) -> String {
        let d = &envelope["d"];
        let path = format!(
            "/interactions/{}/{}/callback",
            d["id"].as_str().expect("id"),
            d["token"].as_str().expect("token")
        );
        self.request(topic, "POST", &path, body).await
    }

    /// The answer published on `reply_to`.
    async fn reply(&mut self, reply_to: &str) -> Value {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let msg = tokio::time::timeout_at(until, self.replies.recv())
                .await
                .expect("a reply within the deadline")
                .expect("subscription open");
            if msg.topic.as_str() == reply_to {
                return serde_json::from_slice(&msg.payload).expect("json");
            }
        }
    }
}

fn delivery(url: &str, kind: DeliveryKind, channel: u64, name: &str) -> Delivery {
    Delivery {
        url: url.to_owned(),
        kind,
        channel_id: Some(Snowflake(channel)),
        name: Some(name.to_owned()),
        value: Some("ap".into()),
        bot_id: None,
        user_id: None,
        signing: Signing::Valid,
    }
}

async fn deliver(sim: &SimHandle, d: &Delivery) -> Delivered {
    let answer = sim.deliver(d).await.expect("delivered");
    assert!(answer.error.is_none(), "{answer:?}");
    answer
}

/// Waits until `channel` holds a message with `content`.
async fn message_with(sim: &SimHandle, channel: u64, content: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(m) = sim
            .messages(channel)
            .into_iter()
            .find(|m| m["content"] == content)
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no message {content:?} in channel {channel}: {:?}",
            sim.messages(channel)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_verifies_publishes_and_answers_in_time_or_defers() {
    let sim = Sim::start(SimConfig::fast()).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let (resp, admin, port) = (free_port(), free_port(), free_port());
    let log = dir.path().join("run.log");
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "info")
        .env("DISCORD_TOKEN", "interactions-cli-test-token")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env(
            "SWITCHYARD_GATEWAY_SESSION_DIR",
            dir.path().join("sessions"),
        )
        .env("SWITCHYARD_BROKER_RESP_PORT", resp.to_string())
        .env("SWITCHYARD_ADMIN_BIND", format!("127.0.0.1:{admin}"))
        .env("SWITCHYARD_INTERACTIONS_ENABLED", "true")
        .env("SWITCHYARD_INTERACTIONS_BIND", format!("127.0.0.1:{port}"))
        .env(
            "SWITCHYARD_INTERACTIONS_PUBLIC_KEY",
            sim.interactions_public_key(),
        )
        .env("SWITCHYARD_INTERACTIONS_ANSWER_WITHIN_MS", "2900")
        .stdout(Stdio::from(out.try_clone().expect("log")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("switchyard run starts");
    let run = Running { child, log };
    let url = format!("http://127.0.0.1:{port}/interactions");
    let channel = sim.world().guilds[0]
        .channels
        .iter()
        .find(|c| c.kind == 0)
        .expect("a text channel")
        .id;

    // A PING, once the endpoint listens: a PONG.
    let ping = Delivery {
        channel_id: None,
        ..delivery(&url, DeliveryKind::Ping, channel, "")
    };
    let deadline = Instant::now() + DEADLINE;
    let pong = loop {
        let answer = sim.deliver(&ping).await.expect("delivered");
        if answer.status != 0 {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "the endpoint never listened:\n{}",
            run.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((pong.status, &pong.body), (200, &json!({"type": 1})));

    let broker = switchyard_broker::connect(
        &format!("redis://127.0.0.1:{resp}"),
        &BrokerOptions::default(),
    )
    .await
    .expect("RESP");
    let inbound = broker
        .subscribe(&Pattern::new("inbound.discord.>").expect("pattern"))
        .await
        .expect("subscribe");
    let replies = broker
        .subscribe(&Pattern::new("inbound.rest.>").expect("pattern"))
        .await
        .expect("subscribe");
    let mut bot = Bot {
        broker,
        inbound,
        replies,
        sent: 0,
    };

    // Signed with another key, or too long ago: refused, and no bot hears of them.
    for signing in [Signing::WrongKey, Signing::Stale] {
        let forged = Delivery {
            signing,
            ..delivery(&url, DeliveryKind::Command, channel, "forged")
        };
        let answer = deliver(&sim, &forged).await;
        assert_eq!(answer.status, 401, "{signing:?}: {answer:?}");
    }

    // A command answered in time: the callback is the HTTP answer.
    let command = delivery(&url, DeliveryKind::Command, channel, "fast");
    let (answer, reply_to) = tokio::join!(deliver(&sim, &command), async {
        let (topic, envelope) = bot.interaction().await;
        assert_eq!(
            envelope["d"]["data"]["name"], "fast",
            "forged ones were not published"
        );
        assert_eq!(envelope["s"], "discord/switchyard/0");
        let guild = sim.world().guilds[0].id;
        assert!(
            topic
                .as_str()
                .starts_with(&format!("inbound.discord.{guild}.{channel}.")),
            "{topic}"
        );
        let body = json!({"type": 4, "data": {"content": "pong"}});
        bot.callback(&topic, &envelope, body).await
    });
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({"type": 4, "data": {"content": "pong"}}));
    let reply = bot.reply(&reply_to).await;
    assert_eq!(
        (&reply["ok"], &reply["status"]),
        (&json!(true), &json!(204))
    );
    message_with(&sim, channel, "pong").await;

    // A component answered in time with an update of its message.
    let component = delivery(&url, DeliveryKind::Component, channel, "btn");
    let (answer, _) = tokio::join!(deliver(&sim, &component), async {
        let (topic, envelope) = bot.interaction().await;
        assert_eq!(envelope["d"]["type"], 3);
        let body = json!({"type": 7, "data": {"content": "clicked", "components": []}});
        bot.callback(&topic, &envelope, body).await
    });
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["type"], 7);
    message_with(&sim, channel, "clicked").await;

    // Autocomplete answered in time: its choices.
    let search = delivery(&url, DeliveryKind::Autocomplete, channel, "fruit");
    let (answer, _) = tokio::join!(deliver(&sim, &search), async {
        let (topic, envelope) = bot.interaction().await;
        assert_eq!(envelope["d"]["data"]["options"][0]["focused"], true);
        let choices = json!([{"name": "apple", "value": "apple"}]);
        let body = json!({"type": 8, "data": {"choices": choices}});
        bot.callback(&topic, &envelope, body).await
    });
    assert_eq!(answer.body["data"]["choices"][0]["value"], "apple");

    // A command answered late: deferred; the late answer edits the deferred message, and a
    // follow-up goes through the webhook.
    let slow = delivery(&url, DeliveryKind::Command, channel, "slow");
    let answer = deliver(&sim, &slow).await;
    assert_eq!((answer.status, &answer.body), (200, &json!({"type": 5})));
    let (topic, envelope) = bot.interaction().await;
    assert_eq!(envelope["d"]["data"]["name"], "slow");
    let late = json!({"type": 4, "data": {"content": "late pong"}});
    let reply_to = bot.callback(&topic, &envelope, late).await;
    let reply = bot.reply(&reply_to).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let edited = message_with(&sim, channel, "late pong").await;
    let app = envelope["d"]["application_id"].as_str().expect("app");
    let token = envelope["d"]["token"].as_str().expect("token");
    let path = format!("/webhooks/{app}/{token}");
    let reply_to = bot
        .request(&topic, "POST", &path, json!({"content": "follow-up"}))
        .await;
    assert_eq!(bot.reply(&reply_to).await["ok"], true);
    let follow_up = message_with(&sim, channel, "follow-up").await;
    assert_ne!(edited["id"], follow_up["id"]);

    // Autocomplete results after the time: no choices were shown, and the bot hears why.
    let search = delivery(&url, DeliveryKind::Autocomplete, channel, "slow-fruit");
    let answer = deliver(&sim, &search).await;
    assert_eq!(answer.body, json!({"type": 8, "data": {"choices": []}}));
    let (topic, envelope) = bot.interaction().await;
    let body = json!({"type": 8, "data": {"choices": [{"name": "a", "value": "a"}]}});
    let reply_to = bot.callback(&topic, &envelope, body).await;
    let reply = bot.reply(&reply_to).await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["kind"], "too_late", "{reply}");
    let error = reply["error"].as_str().unwrap_or_default();
    assert!(error.contains("cannot be deferred"), "{reply}");

    let metrics = reqwest::get(format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        r#"switchyard_interactions_refused_total{reason="bad_signature"} 1"#,
        r#"switchyard_interactions_refused_total{reason="stale_timestamp"} 1"#,
        r#"switchyard_interactions_total{kind="command",answer="deferred"} 1"#,
        r#"switchyard_outbound_errors_total{kind="too_late"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let output = run.output();
    assert!(
        !output.contains(token),
        "an interaction token was logged:\n{output}"
    );
}
