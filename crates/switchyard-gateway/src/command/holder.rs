//! The holder's side: one task per running shard reads `command.discord.{bot}.{shard}`,
//! confirms to the forwarding process that the shard has a holder, checks the command again
//! (anyone may publish on the topic directly) and queues it for the shard's runner in a
//! bounded queue. A full queue is refused with when to retry.

use std::sync::Arc;
use std::time::Duration;

use switchyard_broker::{Broker, BrokerError, Message, Pattern, Subscription};
use switchyard_core::Topic;
use switchyard_core::outbound::{
    Answer, CommandTopics, ErrorKind, GatewayCommand, ReplyNamespace, parse_command, shard_of,
};
use tokio::sync::{mpsc, watch};

use super::{COMMANDS_PER_MINUTE, now_ms, publish, refuse};
use crate::config::GatewayConfig;

/// A command waiting for its shard's runner.
#[derive(Debug)]
pub(crate) struct Queued {
    /// The command.
    pub command: GatewayCommand,
    /// The requester's topic.
    pub reply_to: Option<Topic>,
    /// Unix milliseconds when the requester's message was read.
    pub at_ms: u64,
}

/// What a shard's holder task needs.
pub(crate) struct Holder {
    pub broker: Arc<dyn Broker>,
    pub shard: u32,
    pub total: u32,
    /// The bot's intent bits.
    pub intents: u64,
    pub pattern: Pattern,
    /// Where acknowledgements may go: the bot's ack topics, nowhere else.
    pub topics: CommandTopics,
    /// Where answers may go: anyone can publish on the command topic, and a `reply_to`
    /// elsewhere would make the gateway publish as the gateway.
    pub replies: ReplyNamespace,
    /// The queue's capacity, for the retry hint.
    pub capacity: usize,
    /// How old a command may be.
    pub max_age: Duration,
}

impl Holder {
    /// The holder of `shard` among `total`, reading `topics.shard(shard)`, with the bot's
    /// intents and outbound settings from `config`.
    pub(crate) fn new(
        broker: Arc<dyn Broker>,
        topics: &CommandTopics,
        shard: u32,
        total: u32,
        config: &GatewayConfig,
    ) -> Self {
        Holder {
            broker,
            shard,
            total,
            intents: config.intents.bits(),
            pattern: topics.shard_pattern(shard),
            topics: topics.clone(),
            replies: config.replies.clone(),
            capacity: config.command_queue.max(1),
            max_age: config.command_max_age,
        }
    }

    /// Subscribes to the shard's command topic.
    pub(crate) async fn subscribe(&self) -> Result<Subscription, BrokerError> {
        self.broker.subscribe(&self.pattern).await
    }

    /// Reads commands into `tx` until `stop` or until the runner is gone.
    pub(crate) async fn run(
        self,
        mut sub: Subscription,
        tx: mpsc::Sender<Queued>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let msg = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                msg = sub.recv() => msg,
            };
            let Some(msg) = msg else { return };
            if !self.take(msg, &tx).await {
                return;
            }
        }
    }

    /// Handles one message; false once the runner is gone.
    async fn take(&self, msg: Message, tx: &mpsc::Sender<Queued>) -> bool {
        let topic = msg.topic.as_str();
        let routed = match parse_command(&msg.payload) {
            Ok(c) => c,
            Err(r) => {
                let answer = Answer::failed(r.kind, r.reason);
                let reply_to = r.reply_to.filter(|t| self.replies.contains(t));
                refuse(
                    &*self.broker,
                    topic,
                    &msg.payload,
                    reply_to.as_ref(),
                    answer,
                )
                .await;
                return true;
            }
        };
        // The forwarding process hears that the shard has a holder; whatever happens next,
        // the requester hears it from here.
        if let Some(ack) = routed
            .ack_to
            .as_deref()
            .and_then(|t| Topic::new(t).ok())
            .filter(|t| self.topics.is_ack(t))
        {
            publish(&*self.broker, &ack, r#"{"ok":true}"#.to_owned()).await;
        }
        let named = routed.reply_to.as_deref().and_then(|t| Topic::new(t).ok());
        let reply_to = named.clone().filter(|t| self.replies.contains(t));
        let command = routed.command;
        let at_ms = routed.at_ms.unwrap_or_else(now_ms);
        let refusal = if let Some(t) = named.filter(|t| !self.replies.contains(t)) {
            Some(Answer::failed(
                ErrorKind::ReplyToNotAllowed,
                format!(
                    "reply_to {t} is outside the reply namespace {}.…; the command was not sent",
                    self.replies.prefix()
                ),
            ))
        } else if let Err((kind, why)) = command.check(self.intents) {
            Some(Answer::failed(kind, why))
        } else if let Some(guild) = command.guild()
            && shard_of(guild, self.total) != self.shard
        {
            Some(Answer::failed(
                ErrorKind::NoShard,
                format!(
                    "guild {guild} is on shard {} of {}, not on shard {} (publish on the bot's outbound topics and the gateway picks the shard)",
                    shard_of(guild, self.total),
                    self.total,
                    self.shard
                ),
            ))
        } else if now_ms().saturating_sub(at_ms) > self.max_age.as_millis() as u64 {
            Some(Answer::failed(
                ErrorKind::Expired,
                format!(
                    "the {} command waited {} ms, longer than {} s, before reaching shard {}",
                    command.name(),
                    now_ms().saturating_sub(at_ms),
                    self.max_age.as_secs(),
                    self.shard
                ),
            ))
        } else {
            None
        };
        if let Some(answer) = refusal {
            refuse(
                &*self.broker,
                topic,
                &msg.payload,
                reply_to.as_ref(),
                answer,
            )
            .await;
            return true;
        }
        let name = command.name();
        match tx.try_send(Queued {
            command,
            reply_to,
            at_ms,
        }) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(queued)) => {
                let retry =
                    Duration::from_secs(60) * self.capacity as u32 / COMMANDS_PER_MINUTE as u32;
                let mut answer = Answer::failed(
                    ErrorKind::QueueFull,
                    format!(
                        "shard {} has {} commands waiting (Discord allows 120 a minute per shard); the {name} command was not sent, retry in {} s",
                        self.shard,
                        self.capacity,
                        retry.as_secs().max(1)
                    ),
                );
                answer.retry_after_ms = Some(retry.as_millis() as u64);
                refuse(
                    &*self.broker,
                    topic,
                    &msg.payload,
                    queued.reply_to.as_ref(),
                    answer,
                )
                .await;
                true
            }
            Err(mpsc::error::TrySendError::Closed(queued)) => {
                let mut answer = Answer::failed(
                    ErrorKind::NoHolder,
                    format!(
                        "shard {} stopped here before the {name} command could be queued; retry once a process holds it",
                        self.shard
                    ),
                );
                answer.retry_after_ms = Some(1000);
                refuse(
                    &*self.broker,
                    topic,
                    &msg.payload,
                    queued.reply_to.as_ref(),
                    answer,
                )
                .await;
                false
            }
        }
    }
}
