//! Running one bot: subscribe (plain, queue, keyed or durable group), IDENTIFY, then read
//! events and control messages; every matching handler call runs in its own task slot (at
//! most [`Bot::concurrency`] at once), panics are caught, failures go to the error hook, and
//! durable deliveries are acknowledged once their handlers are done.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::value::RawValue;
use switchyard_broker::{
    Broker, BrokerError, Delivery, DurableSubscription, Message, PartitionKey, Pattern,
    Subscription,
};
use switchyard_core::Envelope;
use switchyard_core::control::JoinedGroup;
use switchyard_core::control::auth::{ControlKey, Verifier};
use switchyard_core::outbound::OutboundTopics;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::bot::{Bot, ErrorReport, GroupKind, WorkerGroup, check_name};
use crate::context::{BotShared, Ids, Incoming};
use crate::error::{BotStartError, HandlerError};
use crate::handler::HandlerFuture;
use crate::lifecycle::{self, Command};
use crate::rest::Replies;

/// Why one run of a bot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// SHUTDOWN for this bot.
    Shutdown,
    /// REBOOT: run again.
    Reboot,
    /// The whole process is stopping (signal or [`crate::Shutdown`]).
    Stopped,
}

enum Events {
    Plain(Subscription),
    Durable(DurableSubscription),
    /// Several subscriptions read by tasks of their own into one channel; `None` in it
    /// says one of them closed.
    Merged {
        rx: mpsc::Receiver<Option<(Message, Option<Delivery>)>>,
        _readers: Vec<AbortOnDrop>,
    },
}

impl Events {
    async fn next(&mut self) -> Option<(Message, Option<Delivery>)> {
        match self {
            Events::Plain(s) => s.recv().await.map(|m| (m, None)),
            Events::Durable(s) => s.recv().await.map(|d| (d.message.clone(), Some(d))),
            Events::Merged { rx, .. } => rx.recv().await.flatten(),
        }
    }

    /// One stream of several subscriptions (of the same bot, in arrival order).
    fn merge(all: Vec<Events>) -> Events {
        let (tx, rx) = mpsc::channel(16);
        let readers = all
            .into_iter()
            .map(|mut events| {
                let tx = tx.clone();
                AbortOnDrop(tokio::spawn(async move {
                    loop {
                        let next = events.next().await;
                        let closed = next.is_none();
                        if tx.send(next).await.is_err() || closed {
                            return;
                        }
                    }
                }))
            })
            .collect();
        Events::Merged {
            rx,
            _readers: readers,
        }
    }
}

/// What [`run`] needs besides the bot.
pub(crate) struct RunDeps {
    pub(crate) broker: Arc<dyn Broker>,
    /// The control key, if any.
    pub(crate) key: Option<ControlKey>,
    pub(crate) instance: String,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) drain: Duration,
    pub(crate) heartbeat: Duration,
}

/// Checks what can be checked before connecting.
pub(crate) fn check(bot: &Bot) -> Result<Vec<Pattern>, BotStartError> {
    check_name("bot name", &bot.name).map_err(BotStartError::Config)?;
    for h in &bot.handlers {
        h.check()?;
    }
    if bot.patterns.is_empty() {
        return Err(BotStartError::Config(format!(
            "bot {}: no pattern to subscribe to",
            bot.name
        )));
    }
    bot.patterns
        .iter()
        .map(|p| {
            Pattern::new(p)
                .map_err(|e| BotStartError::Config(format!("bot {}: pattern: {e}", bot.name)))
        })
        .collect()
}

/// Subscribes to every pattern: one stream of events.
async fn subscribe_all(
    bot: &Bot,
    broker: &dyn Broker,
    patterns: &[Pattern],
) -> Result<(Events, Vec<JoinedGroup>), BotStartError> {
    let mut all = Vec::with_capacity(patterns.len());
    let mut joined = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let group = bot.group.as_ref().map(|g| WorkerGroup {
            name: group_name(&g.name, pattern, i),
            kind: g.kind,
        });
        let (events, group) = subscribe(bot, group.as_ref(), broker, pattern).await?;
        all.push(events);
        joined.extend(group);
    }
    let events = match all.len() {
        1 => all.remove(0),
        _ => Events::merge(all),
    };
    Ok((events, joined))
}

/// The group reading the `i`-th pattern: the bot's group for the first, then
/// `{group}-{platform}` (the pattern's second segment, or `i` when that is a wildcard).
fn group_name(group: &str, pattern: &Pattern, i: usize) -> String {
    if i == 0 {
        return group.to_owned();
    }
    match pattern.as_str().split('.').nth(1) {
        Some(seg) if seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            format!("{group}-{seg}")
        }
        _ => format!("{group}-{i}"),
    }
}

async fn subscribe(
    bot: &Bot,
    group: Option<&WorkerGroup>,
    broker: &dyn Broker,
    pattern: &Pattern,
) -> Result<(Events, Option<JoinedGroup>), BotStartError> {
    let Some(group) = group else {
        return Ok((Events::Plain(broker.subscribe(pattern).await?), None));
    };
    let caps = broker.capabilities();
    let kind = match group.kind {
        GroupKind::Auto if caps.durable && caps.keyed_partitioning => GroupKind::DurableKeyed,
        GroupKind::Auto if caps.durable => GroupKind::Durable,
        GroupKind::Auto if caps.keyed_partitioning => GroupKind::Keyed,
        GroupKind::Auto if caps.queue_groups => GroupKind::Queue,
        GroupKind::Auto => {
            return Err(BotStartError::Config(format!(
                "bot {}: the {} broker has no worker groups (use redis://…?durable=streams, nats://…, or the embedded broker)",
                bot.name,
                broker.backend()
            )));
        }
        k => k,
    };
    tracing::info!(bot = %bot.name, group = %group.name, ?kind, "joining worker group");
    let joined = JoinedGroup {
        name: group.name.clone(),
        pattern: pattern.as_str().to_owned(),
        kind: match kind {
            GroupKind::Durable => "durable",
            GroupKind::DurableKeyed => "durable-keyed",
            GroupKind::Keyed => "keyed",
            GroupKind::Queue | GroupKind::Auto => "queue",
        }
        .to_owned(),
    };
    let events = match kind {
        GroupKind::Durable => {
            Events::Durable(broker.subscribe_durable(pattern, &group.name).await?)
        }
        GroupKind::DurableKeyed => Events::Durable(
            broker
                .subscribe_keyed_durable(pattern, &group.name, PartitionKey::DISCORD_GUILD)
                .await?,
        ),
        GroupKind::Keyed => Events::Plain(
            broker
                .subscribe_keyed(pattern, &group.name, PartitionKey::DISCORD_GUILD)
                .await?,
        ),
        _ => Events::Plain(broker.subscribe_group(pattern, &group.name).await?),
    };
    Ok((events, Some(joined)))
}

/// Runs `bot` once, until SHUTDOWN, REBOOT, the process stopping, or an error.
pub(crate) async fn run(bot: &Bot, deps: &mut RunDeps) -> Result<Exit, BotStartError> {
    let patterns = check(bot)?;
    let outbound = OutboundTopics::from_pattern(&bot.outbound)
        .map_err(|e| BotStartError::Config(format!("Bot::outbound {:?}: {e}", bot.outbound)))?;
    let broker = deps.broker.clone();
    let control_topic = lifecycle::topic(&bot.name)?;
    let mut control_sub = broker.subscribe(&(&control_topic).into()).await?;
    let verifier = Verifier::new(deps.key.clone());
    let replies = Arc::new(Replies::new(&bot.name, &deps.instance));
    let reply_pattern = Pattern::new(&replies.pattern())
        .map_err(|e| BotStartError::Config(format!("reply topic: {e}")))?;
    let reply_sub = broker.subscribe(&reply_pattern).await?;
    let reply_task = {
        let replies = replies.clone();
        AbortOnDrop(tokio::spawn(async move { replies.run(reply_sub).await }))
    };
    let (mut events, groups) = subscribe_all(bot, broker.as_ref(), &patterns).await?;
    let hello = lifecycle::hello(&bot.name, &deps.instance, &bot.version, groups);
    lifecycle::identify(broker.as_ref(), &hello, deps.key.as_ref()).await?;
    let pattern = bot.patterns.join(" ");
    tracing::info!(bot = %bot.name, instance = %deps.instance, %pattern, handlers = bot.handlers.len(), "bot serving");

    let shared = Arc::new(BotShared {
        name: bot.name.clone(),
        instance: deps.instance.clone(),
        broker: broker.clone(),
        replies,
        request_timeout: bot.request_timeout,
        include_bots: bot.include_bots,
        outbound,
        epochs: Default::default(),
    });
    let slots = Arc::new(Semaphore::new(bot.concurrency));
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + deps.heartbeat, deps.heartbeat);
    let mut identified = false;
    let result = loop {
        tokio::select! {
            _ = stopped(&mut deps.stop) => break Ok(Exit::Stopped),
            _ = heartbeat.tick() => {
                // Repeated IDENTIFY keeps this instance in the gateway's registry.
                if let Err(e) = lifecycle::identify(broker.as_ref(), &hello, deps.key.as_ref()).await {
                    tracing::warn!(bot = %bot.name, error = %e, "cannot repeat IDENTIFY");
                }
            }
            msg = control_sub.recv() => match msg {
                None => break Err(BotStartError::SubscriptionClosed),
                Some(m) => match lifecycle::interpret(&verifier, control_topic.as_str(), &m.payload, &bot.name, &deps.instance) {
                    Command::Shutdown(reason) => {
                        tracing::info!(bot = %bot.name, ?reason, "SHUTDOWN");
                        break Ok(Exit::Shutdown);
                    }
                    Command::Reboot(reason) => {
                        tracing::info!(bot = %bot.name, ?reason, "REBOOT");
                        break Ok(Exit::Reboot);
                    }
                    Command::Refused(reason) => break Err(BotStartError::IdentifyRefused(reason)),
                    Command::Identified if !identified => {
                        identified = true;
                        tracing::info!(bot = %bot.name, "the gateway accepted IDENTIFY");
                    }
                    Command::Identified => {}
                    Command::Ignore => {}
                },
            },
            next = events.next() => match next {
                None => break Err(BotStartError::SubscriptionClosed),
                Some((msg, delivery)) => dispatch(bot, &shared, &slots, msg, delivery).await,
            },
        }
    };
    drop(events);
    drain(&slots, bot.concurrency, deps.drain, &bot.name).await;
    drop(reply_task);
    result
}

/// Resolves once the process is stopping (or the stop handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Waits until running handlers are done (at most `timeout`).
async fn drain(slots: &Arc<Semaphore>, all: usize, timeout: Duration, bot: &str) {
    let n = u32::try_from(all).unwrap_or(u32::MAX);
    if tokio::time::timeout(timeout, slots.acquire_many(n))
        .await
        .is_err()
    {
        tracing::warn!(%bot, timeout_ms = timeout.as_millis() as u64, "handlers still running after the drain timeout");
    }
}

/// Aborts a task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the envelope: a Switchyard envelope, or (Bytebot's raw profile) a bare message
/// object, taken as MESSAGE_CREATE.
fn incoming(msg: &Message) -> Result<Incoming, HandlerError> {
    let (platform, event, id, d, old, epoch) = match Envelope::decode(&msg.payload) {
        Ok(env) => (
            env.s.split('/').next().unwrap_or("discord").to_owned(),
            env.t.into_owned(),
            env.id.into_owned(),
            env.d.to_owned(),
            env.old.map(RawValue::to_owned),
            env.epoch.map(|e| (env.s.into_owned(), e)),
        ),
        Err(e) => {
            let raw: Box<RawValue> =
                serde_json::from_slice(&msg.payload).map_err(|_| HandlerError::Payload {
                    event: "(envelope)".into(),
                    ty: "Envelope",
                    path: ".".into(),
                    message: e.to_string(),
                })?;
            if !raw.get().trim_start().starts_with('{') {
                return Err(HandlerError::Payload {
                    event: "(envelope)".into(),
                    ty: "Envelope",
                    path: ".".into(),
                    message: e.to_string(),
                });
            }
            (
                "discord".to_owned(),
                "MESSAGE_CREATE".to_owned(),
                String::new(),
                raw,
                None,
                None,
            )
        }
    };
    let ids = Ids::read(&event, &d, &msg.topic);
    Ok(Incoming {
        topic: msg.topic.clone(),
        platform,
        event,
        id,
        d,
        old,
        ids,
        epoch,
    })
}

fn report(bot: &Bot, handler: &str, event: &str, event_id: &str, topic: &str, error: HandlerError) {
    let r = ErrorReport {
        bot: bot.name.clone(),
        handler: handler.to_owned(),
        event: event.to_owned(),
        event_id: event_id.to_owned(),
        topic: topic.to_owned(),
        error,
    };
    // A panicking hook must not take the bot down either.
    if std::panic::catch_unwind(AssertUnwindSafe(|| (bot.error_hook)(&r))).is_err() {
        tracing::error!(bot = %r.bot, "the error hook panicked");
    }
}

async fn settle(delivery: Option<Delivery>) {
    if let Some(d) = delivery
        && let Err(e) = d.ack().await
    {
        log_ack(&e);
    }
}

fn log_ack(e: &BrokerError) {
    tracing::warn!(error = %e, "cannot acknowledge a delivery (it will be delivered again)");
}

async fn dispatch(
    bot: &Bot,
    shared: &Arc<BotShared>,
    slots: &Arc<Semaphore>,
    msg: Message,
    delivery: Option<Delivery>,
) {
    let inc = match incoming(&msg) {
        Ok(i) => Arc::new(i),
        Err(e) => {
            report(bot, "-", "(unknown)", "", msg.topic.as_str(), e);
            settle(delivery).await;
            return;
        }
    };
    if let Some((source, epoch)) = &inc.epoch
        && !shared.epochs.fresh(source, *epoch)
    {
        // A gateway node that had lost the shard sent it; its new owner sends the event too.
        metrics::counter!("switchyard_bot_stale_epoch_dropped_total").increment(1);
        tracing::debug!(%source, epoch, event = %inc.event, "dropped an event from a shard's former owner");
        settle(delivery).await;
        return;
    }
    let mut calls: Vec<(String, HandlerFuture)> = Vec::new();
    for h in bot.handlers.iter().filter(|h| h.event() == inc.event) {
        match h.prepare(&inc, shared) {
            Ok(Some(fut)) => calls.push((h.name().to_owned(), fut)),
            Ok(None) => {}
            Err(e) => report(bot, h.name(), &inc.event, &inc.id, inc.topic.as_str(), e),
        }
    }
    if calls.is_empty() {
        settle(delivery).await;
        return;
    }
    let want = u32::try_from(calls.len().min(bot.concurrency)).unwrap_or(1);
    let Ok(permit) = slots.clone().acquire_many_owned(want).await else {
        return;
    };
    let hook = bot.error_hook.clone();
    let bot_name = bot.name.clone();
    tokio::spawn(async move {
        let runs = calls.into_iter().map(|(name, fut)| async move {
            let outcome = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(r) => r,
                Err(panic) => Err(HandlerError::Panicked(panic_message(panic.as_ref()))),
            };
            (name, outcome)
        });
        for (name, outcome) in futures_util::future::join_all(runs).await {
            if let Err(error) = outcome {
                let r = ErrorReport {
                    bot: bot_name.clone(),
                    handler: name,
                    event: inc.event.clone(),
                    event_id: inc.id.clone(),
                    topic: inc.topic.to_string(),
                    error,
                };
                if std::panic::catch_unwind(AssertUnwindSafe(|| hook(&r))).is_err() {
                    tracing::error!(bot = %r.bot, "the error hook panicked");
                }
            }
        }
        settle(delivery).await;
        drop(permit);
    });
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_broker::Topic;

    fn message(payload: &str) -> Message {
        Message {
            topic: Topic::new("inbound.discord.1.2.3").expect("topic"),
            payload: payload.to_owned().into(),
        }
    }

    #[test]
    fn envelopes_raw_messages_and_garbage() {
        let env = r#"{"v":1,"id":"ab","s":"discord/b/0","t":"TYPING_START","seq":1,"shard":0,"bot":"b","received_ms":1,"d":{"channel_id":"5"}}"#;
        let i = incoming(&message(env)).expect("envelope");
        assert_eq!(
            (i.event.as_str(), i.id.as_str(), i.ids.channel),
            ("TYPING_START", "ab", Some(5))
        );
        let raw = incoming(&message(r#"{"id":"9","content":"hi","channel_id":"2"}"#)).expect("raw");
        assert_eq!(raw.event, "MESSAGE_CREATE");
        assert_eq!(raw.ids.message, Some(9));
        let e = incoming(&message("\"text\"")).expect_err("not an object");
        assert!(e.to_string().contains("(envelope)"), "{e}");
    }
}
