//! Handlers against real envelopes on the embedded broker: replies on the outbound topic,
//! typed captures, bad input reported with the field, panics caught, the concurrency limit,
//! reaction regexes and the catch-all.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use switchyard_bot::{Bot, ErrorReport, HandlerError};

#[switchyard_bot::bot(name = "tester")]
mod tester {
    use switchyard_bot::prelude::*;

    #[on_message(r",echo (.*)")]
    async fn echo(ctx: Context<Message>, text: String) -> Result<(), BotError> {
        ctx.reply(format!("ok, you said: {text}")).await
    }

    #[on_message(r"^,roll (\d+)(?: times (\d+))?$")]
    async fn roll(ctx: Context<Message>, sides: u32, times: Option<u8>) -> Result<(), BotError> {
        ctx.send(format!("rolled d{sides} x{}", times.unwrap_or(1)))
            .await
    }

    #[on_message(r"^,panic$")]
    async fn explode(_ctx: Context<Message>) {
        panic!("boom in the handler");
    }

    #[on_message(r"^,fail$")]
    async fn fail(_ctx: Context<Message>) -> Result<(), String> {
        Err("this handler failed on purpose".into())
    }

    #[on_reaction_add(r"([😄😸])")]
    async fn smile(ctx: Context<GatewayReaction>, emoji: String) -> Result<(), BotError> {
        ctx.send(format!(
            "got smiley = {emoji} on {}",
            ctx.event().message_id
        ))
        .await
    }

    #[on_message_update(r"^,edited")]
    async fn edited(ctx: Context<Message>) -> Result<(), HandlerError> {
        let before = ctx.old::<Message>()?.map(|m| m.content);
        ctx.send(format!("before: {before:?}")).await?;
        Ok(())
    }

    #[on_event("GUILD_ROLE_CREATE")]
    async fn role(ctx: Context<serde_json::Value>) -> Result<(), BotError> {
        let name = ctx.event()["role"]["name"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        ctx.send(format!("new role {name}")).await
    }
}

type Reports = Arc<Mutex<Vec<(String, String, String)>>>;

fn collecting(bot: Bot) -> (Bot, Reports) {
    let reports: Reports = Arc::default();
    let r = reports.clone();
    let bot = bot.on_error(move |rep: &ErrorReport| {
        let path = match &rep.error {
            HandlerError::Payload { path, .. } => format!(" at {path}"),
            _ => String::new(),
        };
        r.lock().expect("lock").push((
            rep.handler.clone(),
            rep.event.clone(),
            format!("{}{path}", rep.error),
        ));
    });
    (bot, reports)
}

async fn wait_reports(reports: &Reports, n: usize) -> Vec<(String, String, String)> {
    for _ in 0..500 {
        let r = reports.lock().expect("lock").clone();
        if r.len() >= n {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {n} reports, got {:?}",
        reports.lock().expect("lock")
    );
}

#[tokio::test]
async fn echo_replies_on_the_outbound_topic_of_the_event() {
    let broker = embedded();
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let (stop, task) = start(&broker, vec![tester::bot()]);
    identified(&mut control, "tester").await;
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        1,
        &message(1001, ",echo hello there"),
    )
    .await;
    let (topic, body) = recv_json(&mut out).await;
    assert_eq!(
        topic.as_str(),
        format!("outbound.discord.{GUILD}.{CHANNEL}.{USER}")
    );
    assert_eq!(body["content"], "ok, you said: hello there");
    assert_eq!(body["message_reference"]["message_id"], "1001");
    // A message that matches nothing gets no answer; neither do bots' messages.
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        2,
        &message(1002, "just chatting"),
    )
    .await;
    let mut from_bot = message(1003, ",echo loop");
    from_bot["author"]["bot"] = json!(true);
    publish_event(broker.as_ref(), "MESSAGE_CREATE", 3, &from_bot).await;
    quiet(&mut out, Duration::from_millis(300)).await;
    stop.trigger();
    finished(task).await.expect("clean stop");
}

#[tokio::test]
async fn captures_are_typed_and_bad_ones_are_reported_without_stopping() {
    let broker = embedded();
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let (bot, reports) = collecting(tester::bot());
    let (stop, task) = start(&broker, vec![bot]);
    identified(&mut control, "tester").await;
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        1,
        &message(1, ",roll 20 times 3"),
    )
    .await;
    assert_eq!(recv_sent(&mut out).await.1, "rolled d20 x3");
    publish_event(broker.as_ref(), "MESSAGE_CREATE", 2, &message(2, ",roll 6")).await;
    assert_eq!(recv_sent(&mut out).await.1, "rolled d6 x1");
    // 99999999999 does not fit a u32: reported with the argument, the value and the type.
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        3,
        &message(3, ",roll 99999999999"),
    )
    .await;
    let r = wait_reports(&reports, 1).await;
    assert_eq!(r[0].0, "roll");
    assert!(
        r[0].2.contains("sides") && r[0].2.contains("99999999999") && r[0].2.contains("u32"),
        "{r:?}"
    );
    // ... and the bot keeps serving.
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        4,
        &message(4, ",echo still here"),
    )
    .await;
    assert_eq!(
        recv_json(&mut out).await.1["content"],
        "ok, you said: still here"
    );
    stop.trigger();
    finished(task).await.expect("clean stop");
}

#[tokio::test]
async fn a_payload_of_the_wrong_shape_is_reported_with_event_and_field() {
    let broker = embedded();
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let (bot, reports) = collecting(tester::bot());
    let (stop, task) = start(&broker, vec![bot]);
    identified(&mut control, "tester").await;
    let mut bad = message(7, ",echo x");
    bad["author"]["username"] = json!(42);
    publish_event(broker.as_ref(), "MESSAGE_CREATE", 1, &bad).await;
    let r = wait_reports(&reports, 1).await;
    // Every MESSAGE_CREATE handler reports it; each names the event and the field.
    assert!(
        r.iter()
            .all(|(_, event, text)| event == "MESSAGE_CREATE" && text.contains("author.username")),
        "{r:?}"
    );
    assert!(r[0].2.contains("Message"), "{r:?}");
    // Garbage that is not even an envelope is reported too.
    broker
        .publish(&inbound_topic(), "[1, 2]".into())
        .await
        .expect("publish");
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        2,
        &message(8, ",echo fine"),
    )
    .await;
    assert_eq!(recv_json(&mut out).await.1["content"], "ok, you said: fine");
    assert!(
        reports
            .lock()
            .expect("lock")
            .iter()
            .any(|(h, e, _)| h == "-" && e == "(unknown)")
    );
    stop.trigger();
    finished(task).await.expect("clean stop");
}

#[tokio::test]
async fn panics_and_errors_are_caught_reported_and_the_bot_keeps_running() {
    let broker = embedded();
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let (bot, reports) = collecting(tester::bot());
    let (stop, task) = start(&broker, vec![bot]);
    identified(&mut control, "tester").await;
    publish_event(broker.as_ref(), "MESSAGE_CREATE", 1, &message(1, ",panic")).await;
    publish_event(broker.as_ref(), "MESSAGE_CREATE", 2, &message(2, ",fail")).await;
    let r = wait_reports(&reports, 2).await;
    let panic = r.iter().find(|x| x.0 == "explode").expect("panic reported");
    assert!(
        panic.2.contains("panicked") && panic.2.contains("boom in the handler"),
        "{r:?}"
    );
    let fail = r.iter().find(|x| x.0 == "fail").expect("error reported");
    assert_eq!(fail.2, "this handler failed on purpose");
    publish_event(
        broker.as_ref(),
        "MESSAGE_CREATE",
        3,
        &message(3, ",echo alive"),
    )
    .await;
    assert_eq!(
        recv_json(&mut out).await.1["content"],
        "ok, you said: alive"
    );
    stop.trigger();
    finished(task).await.expect("clean stop");
}

#[tokio::test]
async fn reactions_and_the_catch_all_reach_their_handlers() {
    let broker = embedded();
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let (stop, task) = start(&broker, vec![tester::bot()]);
    identified(&mut control, "tester").await;
    publish_event(
        broker.as_ref(),
        "MESSAGE_REACTION_ADD",
        1,
        &reaction(55, "👍"),
    )
    .await;
    publish_event(
        broker.as_ref(),
        "MESSAGE_REACTION_ADD",
        2,
        &reaction(56, "😸"),
    )
    .await;
    assert_eq!(recv_sent(&mut out).await.1, "got smiley = 😸 on 56");
    let role = json!({"guild_id": GUILD.to_string(), "role": {"id": "9", "name": "mods"}});
    publish_event(broker.as_ref(), "GUILD_ROLE_CREATE", 3, &role).await;
    // The role event has no channel in its payload; the answer uses the topic's.
    let (topic, body) = recv_sent(&mut out).await;
    assert_eq!(body, "new role mods");
    assert!(topic.as_str().contains(&CHANNEL.to_string()));
    stop.trigger();
    finished(task).await.expect("clean stop");
}

#[tokio::test]
async fn handlers_run_concurrently_up_to_the_limit() {
    let broker = embedded();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (r, p, d) = (running.clone(), peak.clone(), done.clone());
    let slow = switchyard_bot::Handler::on::<switchyard_bot::events::MessageCreate, _, _>(
        "slow",
        None,
        move |_ctx, _caps| {
            let (r, p, d) = (r.clone(), p.clone(), d.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(150)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                d.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
    );
    let bot = Bot::new("slowpoke").handler(slow).concurrency(3);
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let (stop, task) = start(&broker, vec![bot]);
    identified(&mut control, "slowpoke").await;
    for i in 0..9 {
        publish_event(
            broker.as_ref(),
            "MESSAGE_CREATE",
            i,
            &message(100 + i, "hi"),
        )
        .await;
    }
    for _ in 0..300 {
        if done.load(Ordering::SeqCst) == 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(done.load(Ordering::SeqCst), 9, "every event handled");
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "three at a time, never more"
    );
    stop.trigger();
    finished(task).await.expect("clean stop");
}

#[test]
fn the_module_macro_collects_every_handler() {
    let bot = tester::bot();
    assert_eq!(bot.name(), "tester");
    assert_eq!(
        bot.handler_names(),
        ["echo", "roll", "explode", "fail", "smile", "edited", "role"]
    );
    let events: Vec<&str> = bot.handler_list().iter().map(|h| h.event()).collect();
    assert_eq!(events[4], "MESSAGE_REACTION_ADD");
    assert_eq!(events[5], "MESSAGE_UPDATE");
    assert_eq!(events[6], "GUILD_ROLE_CREATE");
    assert_eq!(bot.handler_list()[0].pattern(), Some(",echo (.*)"));
    let _: Value = json!(null);
}

#[tokio::test]
async fn an_update_handler_reads_the_previous_state_typed() {
    let broker = embedded();
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let (stop, task) = start(&broker, vec![tester::bot()]);
    identified(&mut control, "tester").await;
    // As the gateway publishes it with its cache on: `old` is the message before the edit.
    let with_old = |seq: u64, old: Option<&Value>| {
        let mut env: Value =
            serde_json::from_slice(&envelope("MESSAGE_UPDATE", seq, &message(7, ",edited now")))
                .expect("json");
        if let Some(old) = old {
            env["old"] = old.clone();
        }
        env.to_string()
    };
    let before = message(7, "the first words");
    for payload in [with_old(1, Some(&before)), with_old(2, None)] {
        broker
            .publish(&inbound_topic(), payload.into())
            .await
            .expect("publish");
    }
    assert_eq!(
        recv_json(&mut out).await.1["content"],
        "before: Some(\"the first words\")"
    );
    assert_eq!(recv_json(&mut out).await.1["content"], "before: None");
    stop.trigger();
    finished(task).await.expect("clean stop");
}

#[tokio::test]
async fn an_event_from_a_shard_s_former_owner_is_dropped() {
    let broker = embedded();
    let mut out = subscribe(broker.as_ref(), "outbound.discord.>").await;
    let mut control = subscribe(broker.as_ref(), "control.gateway").await;
    let (stop, task) = start(&broker, vec![tester::bot()]);
    identified(&mut control, "tester").await;
    let send = |seq, id, text: &str, epoch| {
        let payload = envelope_in_epoch("MESSAGE_CREATE", seq, &message(id, text), Some(epoch));
        let broker = broker.clone();
        async move {
            broker
                .publish(&inbound_topic(), payload.into())
                .await
                .expect("publish");
        }
    };
    // the shard's new owner (epoch 9), then its former one (epoch 5), then the new again
    send(1, 2001, ",echo new owner", 9).await;
    assert_eq!(recv_sent(&mut out).await.1, "ok, you said: new owner");
    send(2, 2002, ",echo former owner", 5).await;
    send(3, 2003, ",echo new again", 9).await;
    assert_eq!(
        recv_sent(&mut out).await.1,
        "ok, you said: new again",
        "the former owner's event was not handled"
    );
    stop.trigger();
    finished(task).await.expect("clean stop");
}
