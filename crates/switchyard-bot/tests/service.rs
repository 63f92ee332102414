//! Service behaviour: IDENTIFY at start, SHUTDOWN and REBOOT from the control topic, graceful
//! stop with running handlers finishing, several bots in one `serve` (one failing does not
//! stop the others), and queue-group replicas handling each event once; IDENTIFY names the
//! worker groups joined.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use support::*;
use switchyard_bot::{BotStartError, GroupKind, ServeError};
use switchyard_broker::Topic;
use switchyard_core::control::{ControlMessage, ControlOp, Lifecycle};

#[switchyard_bot::bot]
mod echo {
    use switchyard_bot::prelude::*;

    #[on_message(r",echo (.*)")]
    async fn echo(ctx: Context<Message>, text: String) -> Result<(), BotError> {
        ctx.send(format!("{}: {text}", ctx.instance())).await
    }

    #[on_message(r"^,slow (\d+)$")]
    async fn slow(ctx: Context<Message>, ms: u64) -> Result<(), BotError> {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        ctx.send(format!("slept {ms}")).await
    }
}

async fn control(
    broker: &dyn switchyard_broker::Broker,
    bot: &str,
    op: ControlOp,
    instance: Option<&str>,
) {
    let l = Lifecycle {
        name: bot.into(),
        instance: instance.map(Into::into),
        reason: Some("test".into()),
    };
    let msg = ControlMessage::new("gateway", op, &l).expect("object");
    let topic = Topic::new(&format!("control.{bot}")).expect("topic");
    broker
        .publish(&topic, Bytes::from(msg.encode()))
        .await
        .expect("publish");
}

#[tokio::test]
async fn identify_then_reboot_then_shutdown() {
    let broker = embedded();
    let mut ctl = subscribe(broker.as_ref(), "control.gateway").await;
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let bot = echo::bot().instance("echo-a").version("1.2.3");
    let (_stop, task) = start(&broker, vec![bot]);
    let hello = identified(&mut ctl, "echo").await;
    assert_eq!(hello["s"], "echo/echo-a");
    assert_eq!(
        hello["d"].get("groups"),
        None,
        "no group joined, none named"
    );
    assert_eq!(hello["d"]["opcode"], 0);
    assert_eq!(hello["d"]["instance"], "echo-a");
    assert_eq!(hello["d"]["version"], "1.2.3");
    assert_eq!(hello["d"]["envelope_version"], 1);

    // REBOOT for another instance is ignored; for ours the bot identifies again and serves.
    control(broker.as_ref(), "echo", ControlOp::Reboot, Some("echo-b")).await;
    quiet(&mut ctl, Duration::from_millis(300)).await;
    control(broker.as_ref(), "echo", ControlOp::Reboot, None).await;
    identified(&mut ctl, "echo").await;
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        1,
        &message(1, ",echo after reboot"),
    )
    .await;
    assert_eq!(recv_sent(&mut out).await.1, "echo-a: after reboot");

    control(broker.as_ref(), "echo", ControlOp::Shutdown, Some("echo-a")).await;
    finished(task).await.expect("SHUTDOWN stops serve cleanly");
}

#[tokio::test]
async fn stopping_lets_running_handlers_finish() {
    let broker = embedded();
    let mut ctl = subscribe(broker.as_ref(), "control.gateway").await;
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let (stop, task) = start(&broker, vec![echo::bot()]);
    identified(&mut ctl, "echo").await;
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        1,
        &message(1, ",slow 400"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.trigger();
    // The answer of the handler still running is published before serve returns.
    finished(task).await.expect("clean stop");
    assert_eq!(recv_sent(&mut out).await.1, "slept 400");
    // Nothing is handled after the stop.
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        2,
        &message(2, ",echo late"),
    )
    .await;
    quiet(&mut out, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn one_failing_bot_does_not_stop_the_others() {
    let broker = embedded();
    let mut ctl = subscribe(broker.as_ref(), "control.gateway").await;
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    // The embedded broker has no durable groups: this bot fails at start.
    let durable = switchyard_bot::Bot::new("durable")
        .handler(switchyard_bot::Handler::on_event(
            "MESSAGE_CREATE",
            "any",
            |_ctx: switchyard_bot::Context<serde_json::Value>| async { Ok(()) },
        ))
        .worker_group_kind("durable", GroupKind::Durable);
    let broken_regex = switchyard_bot::Bot::new("broken").handler(switchyard_bot::Handler::on::<
        switchyard_bot::events::MessageCreate,
        _,
        _,
    >(
        "bad",
        Some("(unclosed"),
        |_, _| async { Ok(()) },
    ));
    let working = echo::bot().instance("other-1");
    let (stop, task) = start(&broker, vec![durable, broken_regex, working]);
    identified(&mut ctl, "echo").await;
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        1,
        &message(1, ",echo still served"),
    )
    .await;
    assert_eq!(recv_sent(&mut out).await.1, "other-1: still served");
    stop.trigger();
    let Err(ServeError::Bots(failures)) = finished(task).await else {
        panic!("the two failures are reported");
    };
    let names: Vec<&str> = failures.iter().map(|f| f.bot.as_str()).collect();
    assert_eq!(names, ["durable", "broken"]);
    assert!(
        matches!(&failures[0].error, BotStartError::Broker(e) if e.to_string().contains("durable")),
        "{:?}",
        failures[0]
    );
    let text = failures[1].error.to_string();
    assert!(text.contains("bad") && text.contains("(unclosed"), "{text}");
}

#[tokio::test]
async fn queue_group_replicas_handle_each_event_once() {
    let broker = embedded();
    let mut ctl = subscribe(broker.as_ref(), "control.gateway").await;
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let a = echo::bot()
        .worker_group_kind("echo", GroupKind::Queue)
        .instance("r1");
    let b = echo::bot()
        .worker_group_kind("echo", GroupKind::Queue)
        .instance("r2");
    let (stop_a, task_a) = start(&broker, vec![a]);
    let (stop_b, task_b) = start(&broker, vec![b]);
    identified(&mut ctl, "echo").await;
    identified(&mut ctl, "echo").await;
    let n = 40;
    for i in 0..n {
        publish_event(
            broker.as_ref(),
            "MESSAGE_CREATE",
            i,
            &message(i + 1, &format!(",echo m{i}")),
        )
        .await;
    }
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_instance: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..n {
        let (_, text) = recv_sent(&mut out).await;
        let (instance, said) = text.split_once(": ").expect("instance: text");
        *by_instance.entry(instance.to_owned()).or_default() += 1;
        *answers.entry(said.to_owned()).or_default() += 1;
    }
    quiet(&mut out, Duration::from_millis(300)).await;
    assert_eq!(answers.len(), n as usize, "every message answered");
    assert!(
        answers.values().all(|c| *c == 1),
        "each exactly once: {answers:?}"
    );
    assert_eq!(
        by_instance.len(),
        2,
        "both replicas worked: {by_instance:?}"
    );
    stop_a.trigger();
    stop_b.trigger();
    finished(task_a).await.expect("stop");
    finished(task_b).await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_replicas_keep_each_guild_on_one_replica() {
    let broker = embedded();
    let mut ctl = subscribe(broker.as_ref(), "control.gateway").await;
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    // `worker_group` on the embedded broker: keyed by guild.
    let (stop_a, task_a) = start(
        &broker,
        vec![echo::bot().worker_group("echo").instance("r1")],
    );
    let hello = identified(&mut ctl, "echo").await;
    // IDENTIFY names the groups as joined, one per pattern: `Auto` became keyed on this
    // broker.
    assert_eq!(
        hello["d"]["groups"],
        json!([
            {"name": "echo", "pattern": "inbound.discord.>", "kind": "keyed"},
            {"name": "echo-irc", "pattern": "inbound.irc.>", "kind": "keyed"},
        ]),
        "{hello}"
    );
    let (stop_b, task_b) = start(
        &broker,
        vec![echo::bot().worker_group("echo").instance("r2")],
    );
    identified(&mut ctl, "echo").await;
    // Both replicas have settled into the group once each has identified.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let n = 64u64;
    for i in 0..n {
        let guild = 1000 + i % 16;
        let mut d = message(i + 1, &format!(",echo m{i}"));
        d["guild_id"] = json!(guild.to_string());
        let topic =
            Topic::new(&format!("inbound.discord.{guild}.{CHANNEL}.{USER}")).expect("topic");
        broker
            .publish(&topic, envelope("MESSAGE_CREATE", i, &d).into())
            .await
            .expect("publish");
    }
    let mut guild_of: BTreeMap<String, String> = BTreeMap::new();
    let mut answered = 0;
    for _ in 0..n {
        let (topic, text) = recv_sent(&mut out).await;
        let guild = topic.segments().nth(2).expect("guild").to_owned();
        let (instance, _) = text.split_once(": ").expect("instance: text");
        let first = guild_of
            .entry(guild.clone())
            .or_insert_with(|| instance.to_owned());
        assert_eq!(first, instance, "guild {guild} answered by two replicas");
        answered += 1;
    }
    quiet(&mut out, Duration::from_millis(300)).await;
    assert_eq!(answered, n, "every event answered once");
    let replicas: std::collections::BTreeSet<&String> = guild_of.values().collect();
    assert_eq!(replicas.len(), 2, "both replicas worked: {guild_of:?}");
    stop_a.trigger();
    stop_b.trigger();
    finished(task_a).await.expect("stop");
    finished(task_b).await.expect("stop");
}

#[tokio::test]
async fn a_refused_identify_stops_that_bot_with_the_reason() {
    let broker = embedded();
    let mut ctl = subscribe(broker.as_ref(), "control.gateway").await;
    let (_stop, task) = start(&broker, vec![echo::bot().instance("echo-x")]);
    identified(&mut ctl, "echo").await;
    let no = ControlMessage::new(
        "gateway",
        ControlOp::Identify,
        &json!({"ok": false, "reason": "wrong key", "instance": "echo-x"}),
    )
    .expect("object");
    let topic = Topic::new("control.echo").expect("topic");
    broker
        .publish(&topic, Bytes::from(no.encode()))
        .await
        .expect("publish");
    let Err(ServeError::Bots(failures)) = finished(task).await else {
        panic!("the refusal stops the bot with an error");
    };
    assert!(
        matches!(&failures[0].error, BotStartError::IdentifyRefused(r) if r == "wrong key"),
        "{failures:?}"
    );
}
