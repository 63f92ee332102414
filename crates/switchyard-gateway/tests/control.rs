//! Service control as a service sees it, on the embedded broker: IDENTIFY answered (accepted,
//! or refused with the reason), the registry of live services and its TTL, SHUTDOWN and
//! REBOOT addressed to a service or an instance, and the `gateway-proxy.` mark.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::{Broker, Pattern, Subscription, Topic};
use switchyard_core::control::auth::{self, ControlKey};
use switchyard_core::control::{ControlMessage, ControlOp};
use switchyard_gateway::Secret;
use switchyard_gateway::services::{self, ControlConfig, RunningControl};

const WAIT: Duration = Duration::from_secs(5);

fn broker() -> Arc<dyn Broker> {
    Arc::new(EmbeddedBroker::new(Default::default()))
}

async fn start(broker: &Arc<dyn Broker>, key: Option<&str>, ttl_ms: u64) -> RunningControl {
    let config = ControlConfig {
        key: key.map(Secret::new),
        allow_unsigned_remote: false,
        service_ttl: Duration::from_millis(ttl_ms),
        proxy: true,
    };
    services::start(broker.clone(), config)
        .await
        .expect("control starts")
}

async fn sub(broker: &Arc<dyn Broker>, pattern: &str) -> Subscription {
    broker
        .subscribe(&Pattern::new(pattern).expect("pattern"))
        .await
        .expect("subscribe")
}

async fn publish(broker: &Arc<dyn Broker>, topic: &str, payload: impl Into<Bytes>) {
    broker
        .publish(&Topic::new(topic).expect("topic"), payload.into())
        .await
        .expect("publish");
}

/// An IDENTIFY as the SDK sends it, signed with `key` (unless empty).
async fn identify(broker: &Arc<dyn Broker>, name: &str, instance: &str, key: &str, envelope: u32) {
    let hello = json!({"name": name, "instance": instance, "version": "1.2.3", "envelope_version": envelope});
    send_signed(broker, key, "control.gateway", ControlOp::Identify, hello).await;
}

/// Publishes a control message on `topic`, signed with `key` (unless empty).
async fn send_signed(broker: &Arc<dyn Broker>, key: &str, topic: &str, op: ControlOp, d: Value) {
    let msg = ControlMessage::new("test/1", op, &d).expect("object");
    let key = (!key.is_empty()).then(|| ControlKey::new(key.as_bytes()));
    publish(broker, topic, auth::encode(key.as_ref(), topic, &msg)).await;
}

async fn next(sub: &mut Subscription) -> ControlMessage {
    let msg = tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("an answer in time")
        .expect("open");
    ControlMessage::decode(&msg.payload).expect("a control message")
}

#[tokio::test]
async fn identify_is_answered_and_registered_until_the_ttl_lapses() {
    let broker = broker();
    let control = start(&broker, Some("s3cret"), 300).await;
    let mut answers = sub(&broker, "control.echo").await;
    identify(&broker, "echo", "echo-1", "s3cret", 1).await;
    let answer = next(&mut answers).await;
    assert_eq!(answer.op, ControlOp::Identify);
    assert_eq!(answer.fields["ok"], json!(true));
    assert_eq!(answer.fields["instance"], json!("echo-1"));
    let services = control.services();
    assert_eq!(services.len(), 1);
    assert_eq!(
        (
            services[0].name.as_str(),
            services[0].instance.as_str(),
            services[0].version.as_str()
        ),
        ("echo", "echo-1", "1.2.3")
    );

    // Repeated IDENTIFY is the heartbeat: the entry outlives the TTL while it goes on.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        identify(&broker, "echo", "echo-1", "s3cret", 1).await;
        next(&mut answers).await;
    }
    assert_eq!(control.services().len(), 1, "kept alive by heartbeats");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(control.services().is_empty(), "lapsed after the TTL");
    let status = (control.status_fn())();
    assert_eq!(status["services"], json!([]));
}

#[tokio::test]
async fn a_bad_key_or_an_old_envelope_version_is_refused_with_the_reason() {
    let broker = broker();
    let control = start(&broker, Some("s3cret"), 30_000).await;
    let mut answers = sub(&broker, "control.echo").await;
    identify(&broker, "echo", "echo-1", "guess", 1).await;
    let answer = next(&mut answers).await;
    assert_eq!(answer.fields["ok"], json!(false));
    let reason = answer.fields["reason"].as_str().expect("reason");
    assert!(reason.contains("bad signature"), "{reason}");
    identify(&broker, "echo", "echo-1", "", 1).await;
    let answer = next(&mut answers).await;
    let reason = answer.fields["reason"].as_str().expect("reason");
    assert!(reason.contains("unsigned"), "{reason}");
    identify(&broker, "echo", "echo-2", "s3cret", 0).await;
    let answer = next(&mut answers).await;
    assert_eq!(answer.fields["instance"], json!("echo-2"));
    let reason = answer.fields["reason"].as_str().expect("reason");
    assert!(reason.contains("unsupported envelope version"), "{reason}");
    assert!(
        control.services().is_empty(),
        "refused services are not registered"
    );

    // Garbage on control.gateway is logged and skipped; the loop keeps serving.
    publish(&broker, "control.gateway", "not json").await;
    send_signed(
        &broker,
        "s3cret",
        "control.gateway",
        ControlOp::Identify,
        json!({"name": "echo"}),
    )
    .await;
    let answer = next(&mut answers).await;
    assert!(
        answer.fields["reason"]
            .as_str()
            .is_some_and(|r| r.contains("malformed IDENTIFY"))
    );
    identify(&broker, "echo", "echo-3", "s3cret", 1).await;
    assert_eq!(next(&mut answers).await.fields["ok"], json!(true));
}

#[tokio::test]
async fn shutdown_and_reboot_reach_a_service_or_one_instance() {
    let broker = broker();
    let control = start(&broker, None, 30_000).await;
    let mut echo = sub(&broker, "control.echo").await;
    identify(&broker, "echo", "echo-1", "anything", 1).await;
    identify(&broker, "echo", "echo-2", "anything", 1).await;
    next(&mut echo).await;
    next(&mut echo).await;
    assert_eq!(control.services().len(), 2);

    control
        .reboot("echo", None, Some("new config"))
        .await
        .expect("reboot");
    let msg = next(&mut echo).await;
    assert_eq!(msg.op, ControlOp::Reboot);
    assert_eq!(msg.fields["name"], json!("echo"));
    assert!(msg.fields.get("instance").is_none(), "every instance");
    assert_eq!(msg.fields["reason"], json!("new config"));

    control
        .shutdown("echo", Some("echo-2"), None)
        .await
        .expect("shutdown");
    let msg = next(&mut echo).await;
    assert_eq!(msg.op, ControlOp::Shutdown);
    assert_eq!(msg.fields["instance"], json!("echo-2"));
    let left: Vec<String> = control.services().into_iter().map(|s| s.instance).collect();
    assert_eq!(left, ["echo-1"]);
}

#[tokio::test]
async fn proxied_messages_are_counted_per_source_and_republished_unchanged() {
    let broker = broker();
    let control = start(&broker, None, 30_000).await;
    let mut out = sub(&broker, "outbound.>").await;
    let mut loops = sub(&broker, "gateway-proxy.x.>").await;
    publish(
        &broker,
        "gateway-proxy.echo.outbound.discord.1.2.3",
        r#"{"content":"hi"}"#,
    )
    .await;
    publish(&broker, "gateway-proxy.echo.outbound.discord.1.2.4", "two").await;
    publish(&broker, "gateway-proxy.mod.outbound.discord.9.9.9", "three").await;
    // Refused: no target, and a target that would loop.
    publish(&broker, "gateway-proxy.echo", "none").await;
    publish(&broker, "gateway-proxy.echo.gateway-proxy.x.y", "loop").await;

    let mut got = Vec::new();
    for _ in 0..3 {
        let msg = tokio::time::timeout(WAIT, out.recv())
            .await
            .expect("republished")
            .expect("open");
        got.push((
            msg.topic.to_string(),
            String::from_utf8_lossy(&msg.payload).into_owned(),
        ));
    }
    assert_eq!(
        got,
        [
            (
                "outbound.discord.1.2.3".to_owned(),
                r#"{"content":"hi"}"#.to_owned()
            ),
            ("outbound.discord.1.2.4".to_owned(), "two".to_owned()),
            ("outbound.discord.9.9.9".to_owned(), "three".to_owned()),
        ]
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(out.try_recv().is_none(), "nothing else republished");
    assert!(
        loops.try_recv().is_none(),
        "the looping message was not republished"
    );
    let counts = control.proxied();
    assert_eq!(counts.get("echo"), Some(&2));
    assert_eq!(counts.get("mod"), Some(&1));
    let status: Value = (control.status_fn())();
    assert_eq!(status["proxied"]["echo"], json!(2));
}

#[tokio::test]
async fn proxied_sources_are_counted_by_name_up_to_a_cap() {
    use switchyard_gateway::services::proxy::{MAX_SOURCES, OTHER_SOURCE};
    let broker = broker();
    let control = start(&broker, None, 30_000).await;
    let mut out = sub(&broker, "replies.>").await;
    let sources = MAX_SOURCES + 6;
    for i in 0..sources {
        publish(&broker, &format!("gateway-proxy.svc{i}.replies.x"), "m").await;
    }
    for _ in 0..sources {
        tokio::time::timeout(WAIT, out.recv())
            .await
            .expect("every message is still republished")
            .expect("open");
    }
    // the count follows the republish: wait for the last one
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut counts = control.proxied();
    while counts.values().sum::<u64>() < sources as u64 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        counts = control.proxied();
    }
    assert_eq!(counts.len(), MAX_SOURCES + 1, "{counts:?}");
    assert_eq!(counts.get("svc0"), Some(&1));
    assert_eq!(counts.get(OTHER_SOURCE), Some(&6));
    assert!(!counts.contains_key(&format!("svc{}", sources - 1)));
}

#[tokio::test]
async fn two_gateway_processes_republish_each_proxied_message_once() {
    let broker = broker();
    let first = start(&broker, None, 30_000).await;
    let second = start(&broker, None, 30_000).await;
    let mut out = sub(&broker, "replies.>").await;
    for i in 0..20 {
        publish(
            &broker,
            &format!("gateway-proxy.svc{}.replies.x", i % 5),
            "m",
        )
        .await;
    }
    for _ in 0..20 {
        tokio::time::timeout(WAIT, out.recv())
            .await
            .expect("republished")
            .expect("open");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(out.try_recv().is_none(), "a message was republished twice");
    let counted: u64 = [&first, &second]
        .iter()
        .flat_map(|c| c.proxied().into_values())
        .sum();
    assert_eq!(
        counted, 20,
        "each message counted by the one process that republished it"
    );
}

#[tokio::test]
async fn a_shutdown_sent_by_anyone_takes_the_service_off_the_registry() {
    let broker = broker();
    let control = start(&broker, None, 30_000).await;
    let mut answers = sub(&broker, "control.echo").await;
    for instance in ["echo-1", "echo-2"] {
        identify(&broker, "echo", instance, "", 1).await;
        next(&mut answers).await;
    }
    assert_eq!(control.services().len(), 2);
    // As `switchyard control shutdown echo -i echo-1` sends it, from another process.
    services::send(
        &*broker,
        None,
        ControlOp::Shutdown,
        "echo",
        Some("echo-1"),
        None,
    )
    .await
    .expect("sent");
    let deadline = tokio::time::Instant::now() + WAIT;
    while control.services().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            control.services()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(control.services()[0].instance, "echo-2");
    // A REBOOT keeps it registered.
    services::send(&*broker, None, ControlOp::Reboot, "echo", None, None)
        .await
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(control.services().len(), 1);
}

#[tokio::test]
async fn with_a_key_only_a_signed_shutdown_takes_the_service_off() {
    let broker = broker();
    let control = start(&broker, Some("s3cret"), 30_000).await;
    let mut answers = sub(&broker, "control.echo").await;
    identify(&broker, "echo", "echo-1", "s3cret", 1).await;
    assert_eq!(next(&mut answers).await.fields["ok"], json!(true));
    let shutdown = json!({"name": "echo"});
    for key in ["", "guess"] {
        send_signed(
            &broker,
            key,
            "control.echo",
            ControlOp::Shutdown,
            shutdown.clone(),
        )
        .await;
        next(&mut answers).await;
    }
    // Signed for another topic, then replayed here.
    let msg = ControlMessage::new("ops", ControlOp::Shutdown, &shutdown).expect("object");
    let elsewhere = ControlKey::new(b"s3cret").sign("control.other", &msg);
    publish(&broker, "control.echo", elsewhere).await;
    next(&mut answers).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(control.services().len(), 1, "forged SHUTDOWNs are ignored");
    let key = ControlKey::new(b"s3cret");
    services::send(
        &*broker,
        Some(&key),
        ControlOp::Shutdown,
        "echo",
        None,
        None,
    )
    .await
    .expect("sent");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !control.services().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never forgotten");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
