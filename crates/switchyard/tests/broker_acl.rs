//! The broker permissions of docs/security.md, on real servers started with exactly the files
//! `docs/security/redis.acl` and `docs/security/nats.conf`: a bot (`alpha`) reads its inbound,
//! reply and control topics and writes its outbound and command topics and IDENTIFY on
//! `control.gateway`, but cannot write another bot's or the gateway's topics, nor read
//! another bot's (`beta`); an operator can send control messages and nothing else.
//!
//! Subscriptions are made through Switchyard's own broker clients, so that the patterns they
//! send (Redis 7.0 checks a PSUBSCRIBE pattern literally against the ACL's) are the ones the
//! ACL lists.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchyard_broker::{Broker, BrokerOptions, Pattern, Subscription, Topic};
use switchyard_testkit::{NatsServer, RedisServer};

const WAIT: Duration = Duration::from_secs(10);

fn doc(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/security")
        .join(name)
}

/// The users of the files, with their passwords as written there.
struct Users {
    gateway: Arc<dyn Broker>,
    alpha: Arc<dyn Broker>,
    beta: Arc<dyn Broker>,
    ops: Arc<dyn Broker>,
}

async fn users(scheme: &str, port: u16) -> Users {
    let connect = async |user: &str| {
        let url = format!("{scheme}://{user}:{user}-password@127.0.0.1:{port}");
        switchyard_broker::connect(&url, &BrokerOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{user} connects to {scheme}: {e}"))
    };
    Users {
        gateway: connect("gateway").await,
        alpha: connect("alpha").await,
        beta: connect("beta").await,
        ops: connect("ops").await,
    }
}

fn topic(t: &str) -> Topic {
    Topic::new(t).expect("topic")
}

/// `who` subscribes to `pattern`; `None` when the broker refuses at once (Redis).
async fn sub(who: &Arc<dyn Broker>, pattern: &str) -> Option<Subscription> {
    who.subscribe(&Pattern::new(pattern).expect("pattern"))
        .await
        .ok()
}

/// `from` publishes on `t` until `sub` receives it (a new NATS subscription takes effect a
/// little later); fails after [`WAIT`].
async fn delivered(from: &Arc<dyn Broker>, t: &str, sub: &mut Subscription) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        from.publish(&topic(t), Bytes::from_static(b"m"))
            .await
            .unwrap_or_else(|e| panic!("publishing on {t}: {e}"));
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
            assert_eq!(msg.topic.as_str(), t);
            while sub.try_recv().is_some() {}
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{t} never arrived");
    }
}

/// `who`'s publications on each of `denied` never arrive: the gateway, reading every prefix,
/// gets the one `who` publishes on `allowed` after them, and none of them.
async fn cannot_publish(users: &Users, who: &Arc<dyn Broker>, denied: &[&str], allowed: &str) {
    let mut subs = Vec::new();
    for prefix in ["inbound", "outbound", "control", "command", "gateway-proxy"] {
        let mut s = sub(&users.gateway, &format!("{prefix}.>"))
            .await
            .expect("the gateway reads everything");
        delivered(&users.gateway, &format!("{prefix}.probe"), &mut s).await;
        subs.push(s);
    }
    for t in denied {
        // Redis refuses with NOPERM; NATS drops it (and tells the client asynchronously).
        let _ = who.publish(&topic(t), Bytes::from_static(b"denied")).await;
    }
    who.publish(&topic(allowed), Bytes::from_static(b"allowed"))
        .await
        .unwrap_or_else(|e| panic!("publishing on {allowed}: {e}"));
    let prefix = allowed.split('.').next().unwrap_or_default();
    let i = ["inbound", "outbound", "control", "command", "gateway-proxy"]
        .iter()
        .position(|p| *p == prefix)
        .expect("a known prefix");
    let first = tokio::time::timeout(WAIT, subs[i].recv())
        .await
        .expect("the allowed message in time")
        .expect("open");
    assert_eq!(
        (first.topic.as_str(), &first.payload[..]),
        (allowed, &b"allowed"[..]),
        "a denied publication went through"
    );
    // The others were published before it: had they passed, they would be here by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for s in &mut subs {
        if let Some(m) = s.try_recv() {
            panic!("a denied publication went through: {}", m.topic);
        }
    }
}

/// `who` never gets what the gateway publishes on each of `denied` (pattern, topic), while
/// `beta`, who may read them, does.
async fn cannot_read(users: &Users, who: &Arc<dyn Broker>, denied: &[(&str, &str)]) {
    for (pattern, t) in denied {
        let mut theirs = sub(&users.beta, pattern).await.expect("beta reads its own");
        // Refused at once (Redis), or accepted and then never fed (NATS).
        let ours = sub(who, pattern).await;
        delivered(&users.gateway, t, &mut theirs).await;
        if let Some(mut ours) = ours {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(ours.try_recv().is_none(), "read {t}");
        }
    }
}

async fn check(users: Users, backend: &str) {
    // What a bot may read: its inbound topics, its replies, its control topic.
    for (pattern, t) in [
        ("inbound.alpha.>", "inbound.alpha.1.2.3"),
        ("inbound.rest.alpha.>", "inbound.rest.alpha.alpha-1.7"),
        ("errors.outbound.alpha.>", "errors.outbound.alpha.1.2.3"),
        ("control.alpha", "control.alpha"),
    ] {
        let mut s = sub(&users.alpha, pattern)
            .await
            .unwrap_or_else(|| panic!("{backend}: alpha reads {pattern}"));
        delivered(&users.gateway, t, &mut s).await;
    }
    // What it may write: outbound, commands, IDENTIFY; the gateway reads them.
    for (pattern, t) in [
        ("outbound.>", "outbound.alpha.1.2.3"),
        ("command.>", "command.discord.alpha.0"),
        ("control.gateway", "control.gateway"),
    ] {
        let mut s = sub(&users.gateway, pattern).await.expect("gateway reads");
        delivered(&users.alpha, t, &mut s).await;
    }

    // What it may not write: another bot's topics, the gateway's, other control topics.
    let denied = [
        "inbound.alpha.1.2.3",
        "control.alpha",
        "inbound.beta.1.2.3",
        "outbound.beta.1.2.3",
        "inbound.rest.beta.beta-1.1",
        "control.beta",
        "control.pool.alpha",
        "gateway-proxy.alpha.outbound.beta.1.2.3",
        "inbound.discord.1.2.3",
    ];
    cannot_publish(&users, &users.alpha, &denied, "outbound.alpha.9.9.9").await;
    // Nor read another bot's.
    cannot_read(
        &users,
        &users.alpha,
        &[
            ("inbound.beta.>", "inbound.beta.1.2.3"),
            ("inbound.rest.beta.>", "inbound.rest.beta.beta-1.1"),
            ("control.beta", "control.beta"),
        ],
    )
    .await;

    // An operator sends control messages, and nothing else.
    let mut control = sub(&users.alpha, "control.alpha").await.expect("alpha");
    delivered(&users.ops, "control.alpha", &mut control).await;
    cannot_publish(
        &users,
        &users.ops,
        &[
            "outbound.alpha.1.2.3",
            "inbound.alpha.1.2.3",
            "errors.outbound.alpha.1.2.3",
            "control.pool.alpha",
        ],
        "control.beta",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_acl_confines_each_bot_to_its_topics() {
    let server = RedisServer::start_with_acl(&doc("redis.acl"));
    check(users("redis", server.port()).await, "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_permissions_confine_each_bot_to_its_topics() {
    let conf = std::fs::read_to_string(doc("nats.conf")).expect("docs/security/nats.conf");
    let server = NatsServer::start_with(&conf);
    check(users("nats", server.port()).await, "nats").await;
}

/// Kills the process when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `switchyard run` as the `gateway` user, serving bot `alpha` in its own namespace, answers
/// alpha's request on a `reply_to` of alpha's, and refuses one on beta's (reported on
/// alpha's error topic): the gateway publishes for nobody outside their namespace.
async fn the_gateway_answers_only_in_the_namespace(scheme: &str, port: u16) {
    let sim = switchyard_sim::Sim::start(switchyard_sim::SimConfig::fast())
        .await
        .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = std::fs::File::create(dir.path().join("run.log")).expect("log");
    let url = format!("{scheme}://gateway:gateway-password@127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("DISCORD_TOKEN", "acl-test-token")
        .env("SWITCHYARD_BROKER_URL", &url)
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.path())
        .env("SWITCHYARD_GATEWAY_BOT", "alpha")
        .env(
            "SWITCHYARD_GATEWAY_TOPIC_TEMPLATE",
            "inbound.alpha.{guild}.{channel}.{user}",
        )
        .env("SWITCHYARD_GATEWAY_OUTBOUND_PATTERN", "outbound.alpha.>")
        .env("SWITCHYARD_GATEWAY_REPLY_PREFIX", "inbound.rest.alpha")
        .env("SWITCHYARD_CONTROL_KEY", "acl-control-key")
        .env("SWITCHYARD_ADMIN_BIND", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("switchyard run starts");
    let _run = Running(child);
    let users = users(scheme, port).await;
    let guild = &sim.world().guilds[0];
    let (g, c) = (guild.id, guild.channels[0].id);
    let outbound = format!("outbound.alpha.{g}.{c}.0");
    let request = |reply_to: &str| {
        Bytes::from(serde_json::json!({"content": "hello", "reply_to": reply_to}).to_string())
    };
    let mut answers = sub(&users.alpha, "inbound.rest.alpha.>")
        .await
        .expect("alpha");
    let mut errors = sub(&users.alpha, "errors.outbound.alpha.>")
        .await
        .expect("alpha");
    let mut beta = sub(&users.beta, "inbound.rest.beta.>").await.expect("beta");
    // Until the gateway listens: a request answered on alpha's reply topic.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        users
            .alpha
            .publish(&topic(&outbound), request("inbound.rest.alpha.1"))
            .await
            .expect("alpha publishes its outbound");
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), answers.recv()).await
        {
            assert_eq!(m.topic.as_str(), "inbound.rest.alpha.1");
            let answer: serde_json::Value = serde_json::from_slice(&m.payload).expect("json");
            assert_eq!(answer["ok"], true, "{answer}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway never answered:\n{}",
            std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default()
        );
    }
    while errors.try_recv().is_some() {}
    users
        .alpha
        .publish(&topic(&outbound), request("inbound.rest.beta.1"))
        .await
        .expect("alpha publishes its outbound");
    let refused = tokio::time::timeout(WAIT, errors.recv())
        .await
        .expect("the refusal in time")
        .expect("open");
    let report: serde_json::Value = serde_json::from_slice(&refused.payload).expect("json");
    assert_eq!(report["kind"], "reply_to_not_allowed", "{report}");
    // Had the gateway answered on beta's topic, it would have done so with the report.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        beta.try_recv().is_none(),
        "the gateway answered on beta's topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_the_gateway_publishes_for_a_bot_only_in_its_namespace() {
    let server = RedisServer::start_with_acl(&doc("redis.acl"));
    the_gateway_answers_only_in_the_namespace("redis", server.port()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_the_gateway_publishes_for_a_bot_only_in_its_namespace() {
    let conf = std::fs::read_to_string(doc("nats.conf")).expect("docs/security/nats.conf");
    let server = NatsServer::start_with(&conf);
    the_gateway_answers_only_in_the_namespace("nats", server.port()).await;
}
