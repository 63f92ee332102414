//! Against a real IRC server (a private ngircd on a free port): a person joins and speaks and
//! the message arrives on its topic in the envelope; what a bot publishes on the outbound
//! topic arrives as a PRIVMSG, in a channel and privately; a server restart, a KILL and a nick
//! held by someone else are survived, and the channels joined again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::{Broker, Pattern, Subscription, Topic};
use switchyard_irc::{IrcConfig, RunningIrc};
use switchyard_testkit::{IRC_WAIT, IrcClient, IrcServer};

fn config(server: &IrcServer) -> IrcConfig {
    let mut c = IrcConfig::new("test", &server.addr(), "sybot");
    c.channels = vec!["#Rust.Lang".into()];
    c.send_interval_ms = 200;
    c.reconnect_max_ms = 2000;
    c
}

async fn start(config: IrcConfig) -> (Arc<dyn Broker>, RunningIrc, Subscription) {
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::new(Default::default()));
    let inbound = broker
        .subscribe(&Pattern::new("inbound.irc.>").expect("pattern"))
        .await
        .expect("subscribe");
    let irc = switchyard_irc::start(vec![config], broker.clone())
        .await
        .expect("irc starts");
    (broker, irc, inbound)
}

/// Waits until the network's status satisfies `check`.
async fn until(
    irc: &RunningIrc,
    what: &str,
    check: impl Fn(&switchyard_irc::NetworkStatus) -> bool,
) {
    let deadline = tokio::time::Instant::now() + IRC_WAIT + IRC_WAIT;
    loop {
        let status = irc.status();
        if status.iter().any(&check) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen; status: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn joined(irc: &RunningIrc) {
    until(irc, "the bot joins #rust.lang", |s| {
        s.state == "registered" && s.channels.iter().any(|c| c == "#rust.lang")
    })
    .await;
}

/// The next inbound message: its topic and envelope.
async fn next(inbound: &mut Subscription) -> (String, Value) {
    let m = tokio::time::timeout(IRC_WAIT, inbound.recv())
        .await
        .expect("an inbound message in time")
        .expect("subscription open");
    let env: Value = serde_json::from_slice(&m.payload).expect("JSON envelope");
    (m.topic.to_string(), env)
}

async fn publish(broker: &Arc<dyn Broker>, topic: &str, payload: &str) {
    broker
        .publish(
            &Topic::new(topic).expect("topic"),
            Bytes::from(payload.to_owned()),
        )
        .await
        .expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_the_bot_talk_through_topics_and_a_restart_is_survived() {
    let mut server = IrcServer::start();
    let (broker, irc, mut inbound) = start(config(&server)).await;
    joined(&irc).await;
    let mut alice = IrcClient::connect(&server.addr(), "Alice").await;
    alice.join("#Rust.Lang").await;
    alice.say("#Rust.Lang", ",echo hi there").await;
    let (topic, env) = next(&mut inbound).await;
    assert_eq!(topic, "inbound.irc.test.rust%2Elang.alice");
    assert_eq!(env["s"], "irc/test/0");
    assert_eq!(env["t"], "MESSAGE_CREATE");
    assert_eq!(env["d"]["content"], ",echo hi there");
    assert_eq!(env["d"]["author"]["username"], "Alice");
    assert_eq!(env["d"]["irc"]["channel"], "#Rust.Lang");

    let reply = r#"{"content":"ok, you said: hi there","message_reference":{"message_id":"1"}}"#;
    publish(&broker, "outbound.irc.test.rust%2Elang.alice", reply).await;
    alice
        .wait_for(|l| l.contains("PRIVMSG #Rust.Lang :ok, you said: hi there"))
        .await;

    alice.say("sybot", "psst").await;
    let (topic, env) = next(&mut inbound).await;
    assert_eq!(topic, "inbound.irc.test.0.alice");
    assert_eq!(env["d"]["irc"]["channel"], Value::Null);
    publish(&broker, "outbound.irc.test.0.alice", "\"private answer\"").await;
    alice
        .wait_for(|l| l.starts_with(":sybot!") && l.contains("PRIVMSG Alice :private answer"))
        .await;

    // The server goes away and comes back: the bot reconnects and joins again by itself.
    drop(alice);
    server.restart();
    until(&irc, "the bot notices the restart", |s| s.connections >= 2).await;
    joined(&irc).await;
    let mut bob = IrcClient::connect(&server.addr(), "bob").await;
    bob.join("#rust.lang").await;
    bob.say("#rust.lang", "still there?").await;
    let (topic, env) = next(&mut inbound).await;
    assert_eq!(topic, "inbound.irc.test.rust%2Elang.bob");
    assert_eq!(env["d"]["content"], "still there?");
    publish(
        &broker,
        &topic.replacen("inbound", "outbound", 1),
        "\"yes\"",
    )
    .await;
    bob.wait_for(|l| {
        l.contains("PRIVMSG #rust.lang :yes") || l.contains("PRIVMSG #Rust.Lang :yes")
    })
    .await;
    irc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_nick_and_a_kill_are_survived() {
    let server = IrcServer::start();
    // Someone holds the bot's nick: it takes another, and its own back once free.
    let holder = IrcClient::connect(&server.addr(), "sybot").await;
    let (_broker, irc, _inbound) = start(config(&server)).await;
    until(&irc, "the bot registers as sybot_", |s| {
        s.state == "registered" && s.nick == "sybot_"
    })
    .await;
    joined(&irc).await;
    drop(holder);
    until(&irc, "the bot takes its nick back", |s| s.nick == "sybot").await;

    // An operator KILLs it: it comes back and joins again.
    let mut op = IrcClient::connect(&server.addr(), "op").await;
    op.send("OPER oper operpw").await;
    op.wait_for(|l| l.contains(" 381 ")).await;
    op.send("KILL sybot :testing kills").await;
    until(&irc, "the bot reconnects after the KILL", |s| {
        s.connections >= 2 && s.state == "registered"
    })
    .await;
    joined(&irc).await;
    let status = irc.status();
    let last = status[0].last_error.clone().unwrap_or_default();
    assert!(
        last.contains("killed") || last.contains("server_error") || last.contains("closed"),
        "{last}"
    );
    irc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_networks_own_certificate_and_not_without() {
    let server = IrcServer::start_tls();
    // Mozilla's roots do not know the network's own CA: the bot refuses the server.
    let mut untrusted = config(&server);
    untrusted.server = server.tls_addr();
    untrusted.tls = true;
    let (_broker, irc, _inbound) = start(untrusted.clone()).await;
    until(&irc, "the handshake is refused", |s| {
        s.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("connect") && e.contains("certificate"))
    })
    .await;
    assert_ne!(irc.status()[0].state, "registered");
    irc.shutdown().await;

    let mut trusted = untrusted;
    trusted.tls_ca = Some(server.tls_ca());
    let (broker, irc, mut inbound) = start(trusted).await;
    joined(&irc).await;
    let mut alice = IrcClient::connect(&server.addr(), "alice").await;
    alice.join("#Rust.Lang").await;
    alice.say("#Rust.Lang", "over tls?").await;
    let (topic, env) = next(&mut inbound).await;
    assert_eq!(env["d"]["content"], "over tls?");
    publish(
        &broker,
        &topic.replacen("inbound", "outbound", 1),
        "\"yes, tls\"",
    )
    .await;
    alice
        .wait_for(|l| l.contains("PRIVMSG #Rust.Lang :yes, tls"))
        .await;
    irc.shutdown().await;
}
