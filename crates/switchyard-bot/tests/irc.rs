//! A bot written for Discord answers on IRC unchanged: an IRC message (the envelope
//! switchyard-irc publishes, `s` = `irc/{network}/0`) reaches the same handler, which sees the
//! platform, and its reply goes to the IRC outbound topic it came from; Discord REST helpers
//! say they do not exist there; a worker group reads both platforms.

mod support;

use std::sync::{Arc, Mutex};

use serde_json::json;
use support::*;
use switchyard_bot::{Bot, BotError, ErrorReport, HandlerError};
use switchyard_broker::Topic;
use switchyard_core::envelope::{Source, encode_into};
use switchyard_core::route::{Dispatch, RoutingIds};

#[switchyard_bot::bot(name = "everywhere")]
mod everywhere {
    use switchyard_bot::prelude::*;

    #[on_message(r",echo (.*)")]
    async fn echo(ctx: Context<Message>, text: String) -> Result<(), BotError> {
        ctx.reply(format!("ok, you said: {text} (on {})", ctx.platform()))
            .await
    }

    #[on_message(r"^,react$")]
    async fn react(ctx: Context<Message>) -> Result<(), BotError> {
        ctx.react("👍").await
    }
}

/// An IRC message as switchyard-irc publishes it.
fn irc_envelope(content: &str) -> Vec<u8> {
    let d = json!({
        "id": "1340000000000000001", "channel_id": "4242", "content": content,
        "author": {"id": "77", "username": "Ferris", "global_name": "Ferris",
                   "discriminator": "0", "avatar": null, "bot": false},
        "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0,
        "components": [],
        "irc": {"network": "libera", "channel": "#Rust", "nick": "Ferris", "user": "~f",
                "host": "h", "action": false}
    })
    .to_string();
    let source = Source {
        platform: "irc",
        bot: "libera",
        shard: 0,
        session: "c1",
        epoch: None,
    };
    let dispatch = Dispatch {
        event: "MESSAGE_CREATE".into(),
        seq: Some(1),
        data: &d,
        ids: RoutingIds::default(),
    };
    let mut out = Vec::new();
    encode_into(&mut out, &source, &dispatch, 1_767_225_600_000, None);
    out
}

const IRC_TOPIC: &str = "inbound.irc.libera.rust.ferris";

async fn say_on_irc(broker: &dyn switchyard_broker::Broker, content: &str) {
    broker
        .publish(
            &Topic::new(IRC_TOPIC).expect("topic"),
            irc_envelope(content).into(),
        )
        .await
        .expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_handler_answers_on_irc_and_on_discord() {
    let broker = embedded();
    let mut irc_out = subscribe(broker.as_ref(), "outbound.irc.>").await;
    let mut discord_out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = failures.clone();
    let bot = everywhere::bot().on_error(move |r: &ErrorReport| {
        if let HandlerError::Failed(e) = &r.error {
            seen.lock().expect("lock").push(e.to_string());
        }
    });
    let (stop, task) = start(&broker, vec![bot]);
    identified(&mut control, "everywhere").await;

    say_on_irc(broker.as_ref(), ",echo hi").await;
    let (topic, v) = recv_json(&mut irc_out).await;
    assert_eq!(topic.as_str(), "outbound.irc.libera.rust.ferris");
    assert_eq!(v["content"], "ok, you said: hi (on irc)");

    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        2,
        &message(9, ",echo hi"),
    )
    .await;
    let (topic, content) = recv_sent(&mut discord_out).await;
    assert_eq!(
        topic.as_str(),
        inbound_topic().as_str().replacen("inbound", "outbound", 1)
    );
    assert_eq!(content, "ok, you said: hi (on discord)");

    say_on_irc(broker.as_ref(), ",react").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while failures.lock().expect("lock").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure reported"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let e = failures.lock().expect("lock")[0].clone();
    let want = BotError::Unsupported {
        platform: "irc".into(),
        what: "REST requests",
    }
    .to_string();
    assert_eq!(e, want);
    quiet(&mut irc_out, std::time::Duration::from_millis(200)).await;
    stop.trigger();
    finished(task).await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_group_reads_both_platforms_and_subscribe_narrows() {
    let broker = embedded();
    let mut irc_out = subscribe(broker.as_ref(), "outbound.irc.>").await;
    let mut discord_out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let grouped = everywhere::bot().worker_group("echoes");
    let (stop, task) = start(&broker, vec![grouped]);
    identified(&mut control, "everywhere").await;
    say_on_irc(broker.as_ref(), ",echo grouped").await;
    let (_, v) = recv_json(&mut irc_out).await;
    assert_eq!(v["content"], "ok, you said: grouped (on irc)");
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        3,
        &message(10, ",echo g"),
    )
    .await;
    let (_, content) = recv_sent(&mut discord_out).await;
    assert_eq!(content, "ok, you said: g (on discord)");
    stop.trigger();
    finished(task).await.expect("clean stop");

    // Discord only: IRC messages are not read.
    let narrow: Bot = everywhere::bot().subscribe("inbound.discord.>");
    let (stop, task) = start(&broker, vec![narrow]);
    identified(&mut control, "everywhere").await;
    say_on_irc(broker.as_ref(), ",echo ignored").await;
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        4,
        &message(11, ",echo d"),
    )
    .await;
    let (_, content) = recv_sent(&mut discord_out).await;
    assert_eq!(content, "ok, you said: d (on discord)");
    quiet(&mut irc_out, std::time::Duration::from_millis(200)).await;
    stop.trigger();
    finished(task).await.expect("clean stop");
}
