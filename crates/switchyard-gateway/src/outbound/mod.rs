//! The outbound path: subscribes to the bot's outbound topics (`outbound.discord.>` for the
//! first bot) and turns each message into a rate-limited REST call (through
//! `switchyard-rest`, never a second limiter) or a gateway command (see [`crate::command`]).
//! The shapes are `switchyard_core::outbound`'s; this module holds the gateway's policy: the
//! route allowlist and the reply namespace.
//!
//! Every process of a bot joins one keyed group on the pattern (`outbound-{bot}`, keyed by
//! channel), so a message is sent once however many processes share the bot's shards, and a
//! channel's messages stay with one process. Within it, messages are spread over a fixed set
//! of workers by channel (or topic), so messages to one channel keep their order.
//!
//! A callback (`POST /interactions/{id}/{token}/callback`) of an interaction that came to the
//! HTTP endpoint goes to the endpoint's table first (see [`crate::interactions`]).
//!
//! Whatever is invalid (bad JSON, channel `0`, a route not allowed, a `reply_to` outside the
//! reply namespace, a Discord error) is published on `errors.{topic}` (for example
//! `errors.outbound.discord.1.2.3`) with the reason, logged and counted; nothing crashes.

mod inbox;

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchyard_broker::{Broker, BrokerError, Message, PartitionKey, Pattern, Topic};
use switchyard_core::outbound::{
    Answer, ErrorKind, Outbound, Rejected, parse_routed, segment_of, topic_channel,
};
use switchyard_rest::{HttpRequest, RestClient};
use tokio::sync::{mpsc, watch};

use crate::command::forward::Forwarder;
use crate::config::GatewayConfig;
use crate::interactions::{Claim, OpenInteractions};
use crate::secret::Secret;
use crate::{report, route_allowlist};
use inbox::{Inbox, Job, Outcome};

/// The keyed group in which every process of `bot` reads its outbound topics, so that each
/// message is sent once however many processes run the bot: `outbound-{bot}`, the name made
/// a group name by [`segment_of`].
pub(crate) fn group_of(bot: &str) -> String {
    format!("outbound-{}", segment_of(bot))
}

/// The partition key of outbound topics: the channel segment, the one before the last of
/// `{prefix}.{guild}.{channel}.{user}` (see [`topic_channel`]).
pub(crate) fn channel_key(pattern: &Pattern) -> PartitionKey {
    let segments = pattern.as_str().split('.').count();
    if pattern.as_str().ends_with('>') {
        // `{prefix}.>`: the guild follows the prefix, the channel follows the guild.
        PartitionKey::Segment(segments)
    } else {
        PartitionKey::Segment(segments.saturating_sub(2))
    }
}

/// Subscribes `bot`'s outbound path to `pattern`: every process of the bot reads the
/// outbound topics in one keyed group ([`group_of`]), by channel, so that each message is
/// sent once and a channel's messages keep their order; durable on a durable broker.
pub(crate) async fn subscribe(
    broker: &dyn Broker,
    pattern: &Pattern,
    bot: &str,
) -> Result<Inbox, BrokerError> {
    Inbox::join(broker, pattern, &group_of(bot), channel_key(pattern)).await
}

/// What a worker needs.
#[derive(Clone)]
pub(crate) struct Worker {
    pub broker: Arc<dyn Broker>,
    pub rest: RestClient,
    pub token: Secret,
    pub config: Arc<GatewayConfig>,
    /// Where gateway commands go; `None` when the broker refused the command topics.
    pub commands: Option<Arc<Forwarder>>,
    /// The HTTP endpoint's interactions: a callback for one of them is its HTTP answer.
    pub interactions: Arc<OpenInteractions>,
}

/// Runs the workers until `stop`; then lets them finish what they hold. The workers belong
/// to this task: aborting it (a crash, or a shutdown that ran out of time) aborts them.
pub(crate) async fn run(
    out: Worker,
    pattern: Pattern,
    mut inbox: Inbox,
    mut stop: watch::Receiver<bool>,
) {
    let durable = inbox.durable();
    tracing::info!(pattern = %pattern, durable, "outbound path listening");
    let mut tasks = tokio::task::JoinSet::new();
    let workers: Vec<mpsc::Sender<(Job, Option<u64>)>> = (0..out.config.outbound_workers)
        .map(|_| {
            let (tx, mut rx) = mpsc::channel::<(Job, Option<u64>)>(1024);
            let out = out.clone();
            tasks.spawn(async move {
                while let Some((job, channel)) = rx.recv().await {
                    let retry = durable.then_some(job.attempt);
                    let outcome = out.handle(&job.msg, channel, job.published_ms, retry).await;
                    job.settle(outcome).await;
                }
            });
            tx
        })
        .collect();
    loop {
        let job = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            job = inbox.recv() => job,
        };
        let Some(job) = job else {
            tracing::warn!("the outbound subscription ended");
            break;
        };
        let topic = job.msg.topic.as_str();
        let channel = topic_channel(topic);
        let key = channel.map_or_else(
            || {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                topic.hash(&mut h);
                h.finish()
            },
            |c| c >> 22 ^ c,
        );
        let worker = &workers[(key % workers.len() as u64) as usize];
        if worker.send((job, channel)).await.is_err() {
            break;
        }
    }
    // Said before the workers finish, so that the others take this process's partitions
    // while it still runs: a goodbye sent in the background dies with the process.
    inbox.close().await;
    drop(workers);
    while tasks.join_next().await.is_some() {}
}

fn lossy(payload: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(max)]);
    text.into_owned()
}

/// The payload as shown in an error report: at most 2 KiB, with the token of a webhook or
/// interaction `path` replaced by `{token}`. Only a payload that names such a route is read
/// again for that; every other one is shown as it came.
fn report_payload(payload: &[u8]) -> String {
    let names_token_route = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
    if (names_token_route(b"webhooks") || names_token_route(b"interactions"))
        && let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(payload)
        && let Some(Value::String(path)) = obj.get("path")
        && let std::borrow::Cow::Owned(redacted) = switchyard_rest::redact_token(path)
    {
        obj.insert("path".into(), Value::String(redacted));
        let text = Value::Object(obj).to_string();
        return lossy(text.as_bytes(), 2048);
    }
    lossy(payload, 2048)
}

impl Worker {
    /// Handles one message; `channel` is its topic's, `published_ms` when a durable broker
    /// stored it, and `retry` the delivery's attempt when the broker keeps what is not done
    /// (so that it comes back).
    async fn handle(
        &self,
        msg: &Message,
        channel: Option<u64>,
        published_ms: Option<u64>,
        retry: Option<u32>,
    ) -> Outcome {
        let topic = msg.topic.as_str();
        let payload = &msg.payload;
        let parsed = parse_routed(topic, channel, payload)
            .and_then(|o| self.admit_reply_to(o))
            .and_then(|o| self.young_enough(o, published_ms));
        let outbound = match parsed {
            Ok(o) => o,
            Err(r) => {
                self.refused(topic, payload, r).await;
                return Outcome::Done;
            }
        };
        let token = Some(self.token.expose());
        let (req, reply_to) = match outbound {
            Outbound::Message {
                channel,
                body,
                reply_to,
            } => (
                HttpRequest::new(
                    http::Method::POST,
                    &format!("/channels/{channel}/messages"),
                    token,
                )
                .json(&body),
                reply_to,
            ),
            Outbound::Request { call, reply_to } => {
                let (method, path) =
                    match route_allowlist::admit(&call, &self.config.allowed_routes) {
                        Ok(admitted) => admitted,
                        Err(mut r) => {
                            r.reply_to = reply_to;
                            self.refused(topic, payload, r).await;
                            return Outcome::Done;
                        }
                    };
                // A callback of an HTTP interaction is its HTTP answer while Discord waits.
                let (method, path, body) =
                    match self.interactions.claim(&method, &path, call.body.as_ref()) {
                        Claim::Rest => (method, path, call.body),
                        Claim::Instead { method, path, body } => (method, path, Some(body)),
                        Claim::Answered | Claim::AlreadyDeferred => {
                            metrics::counter!("switchyard_outbound_total", "result" => "ok")
                                .increment(1);
                            if let Some(reply) = reply_to {
                                let answer = Answer {
                                    ok: true,
                                    status: Some(204),
                                    ..Answer::default()
                                };
                                report::publish(&*self.broker, &reply, answer.to_json()).await;
                            }
                            return Outcome::Done;
                        }
                        Claim::TooLate(reason) => {
                            let r = Rejected {
                                kind: ErrorKind::TooLate,
                                reason,
                                reply_to,
                            };
                            self.refused(topic, payload, r).await;
                            return Outcome::Done;
                        }
                    };
                let mut req = HttpRequest::new(method, &path, token);
                if let Some(body) = &body {
                    req = req.json(body);
                }
                req.query = call.query;
                (req, reply_to)
            }
            Outbound::Command { command, reply_to } => {
                match &self.commands {
                    Some(commands) => {
                        return commands
                            .forward(topic, payload, command, reply_to, retry, published_ms)
                            .await
                            .map_or(Outcome::Done, Outcome::Forwarded);
                    }
                    None => {
                        let r = Rejected {
                            kind: ErrorKind::NoHolder,
                            reason: "this gateway cannot forward gateway commands: the broker refused the command.… topics (see its log; with a durable broker, add `command` to broker.durable_prefixes)".into(),
                            reply_to,
                        };
                        self.refused(topic, payload, r).await;
                    }
                }
                return Outcome::Done;
            }
        };
        // Webhook and interaction paths carry a token: never log or report it.
        let what = format!(
            "{} {}",
            req.method,
            switchyard_rest::redact_token(&req.path)
        );
        let res = match self.rest.send(req).await {
            Ok(r) => r,
            // Discord did not answer: a durable broker delivers it again (and a message's
            // nonce keeps a second send from creating a second message).
            Err(e) if retry.is_some() => {
                metrics::counter!("switchyard_outbound_retries_total").increment(1);
                let reason = format!(
                    "{what}: {e}; the broker delivers it again after its ack wait (attempt {})",
                    retry.unwrap_or(1)
                );
                // Reported on errors.… each time; the requester waits for the outcome.
                let answer = Answer::failed(ErrorKind::RestError, reason);
                self.failed(topic, payload, None, answer, None).await;
                return Outcome::Retry;
            }
            Err(e) => {
                let reason = format!("{what}: {e}");
                let answer = Answer::failed(ErrorKind::RestError, reason);
                self.failed(topic, payload, reply_to, answer, None).await;
                return Outcome::Done;
            }
        };
        let status = res.status.as_u16();
        let queued_ms = res.queued.as_millis() as u64;
        let body = match res.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let reason = format!("{what}: reading the response: {e}");
                let mut answer = Answer::failed(ErrorKind::RestError, reason);
                answer.status = Some(status);
                self.failed(topic, payload, reply_to, answer, None).await;
                return Outcome::Done;
            }
        };
        let body_json: Value =
            serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(lossy(&body, 4096)));
        let ok = (200..300).contains(&status);
        let mut answer = Answer {
            ok,
            status: Some(status),
            queued_ms: Some(queued_ms),
            ..Answer::default()
        };
        if ok {
            metrics::counter!("switchyard_outbound_total", "result" => "ok").increment(1);
            tracing::debug!(%topic, %what, status, queued_ms, "outbound sent");
            answer.body = Some(body_json);
            if let Some(reply) = reply_to {
                report::publish(&*self.broker, &reply, answer.to_json()).await;
            }
        } else {
            answer.kind = Some(ErrorKind::DiscordError);
            answer.error = Some(format!(
                "Discord answered {status} to {what}: {}",
                body_json
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ));
            answer.body = Some(body_json);
            self.failed(topic, payload, reply_to, answer, Some(status))
                .await;
        }
        Outcome::Done
    }

    /// Refuses what waited longer than its age limit while no gateway read it: a message
    /// more than `message_max_age` old, a command more than `command_max_age`.
    fn young_enough(
        &self,
        outbound: Outbound,
        published_ms: Option<u64>,
    ) -> Result<Outbound, Rejected> {
        let Some(published) = published_ms else {
            return Ok(outbound);
        };
        let age = Duration::from_millis(crate::command::now_ms().saturating_sub(published));
        let (limit, key) = match outbound {
            Outbound::Command { .. } => (self.config.command_max_age, "command_max_age_ms"),
            _ => (self.config.message_max_age, "outbound_max_age_ms"),
        };
        if age <= limit {
            return Ok(outbound);
        }
        Err(Rejected {
            kind: ErrorKind::Expired,
            reason: format!(
                "published {} ms ago, while no gateway read the outbound topics, older than gateway.{key} ({} ms); not sent",
                age.as_millis(),
                limit.as_millis()
            ),
            reply_to: outbound.reply_to().cloned(),
        })
    }

    /// Refuses a `reply_to` outside the reply namespace: the gateway would otherwise publish
    /// Discord's answer wherever a consumer asks, as the gateway.
    fn admit_reply_to(&self, outbound: Outbound) -> Result<Outbound, Rejected> {
        match outbound.reply_to() {
            Some(t) if !self.config.replies.contains(t) => Err(Rejected::new(
                ErrorKind::ReplyToNotAllowed,
                format!(
                    "reply_to {t} is outside this bot's reply namespace {}.… (set gateway.reply_prefix to change it); the message was not sent",
                    self.config.replies.prefix()
                ),
            )),
            _ => Ok(outbound),
        }
    }

    /// Reports a refusal, and answers its `reply_to` when it lies in the namespace.
    async fn refused(&self, topic: &str, payload: &[u8], r: Rejected) {
        let reply_to = r.reply_to.filter(|t| self.config.replies.contains(t));
        let answer = Answer::failed(r.kind, r.reason);
        self.failed(topic, payload, reply_to, answer, None).await;
    }

    /// Counts, logs and reports a failed message on `errors.{topic}`, and answers `reply_to`.
    async fn failed(
        &self,
        topic: &str,
        payload: &[u8],
        reply_to: Option<Topic>,
        answer: Answer,
        status: Option<u16>,
    ) {
        let kind = answer.kind.unwrap_or(ErrorKind::BadPayload);
        let reason = answer.error.as_deref().unwrap_or_default();
        metrics::counter!("switchyard_outbound_total", "result" => "error").increment(1);
        metrics::counter!("switchyard_outbound_errors_total", "kind" => kind.as_str()).increment(1);
        tracing::warn!(%topic, %kind, %reason, "outbound message refused");
        let shown = report_payload(payload);
        report::refused(
            &*self.broker,
            topic,
            shown,
            reply_to.as_ref(),
            &answer,
            status,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_hide_path_tokens() {
        let shown = report_payload(
            br#"{"method":"PATCH","path":"/webhooks/7/SECRET-TOKEN/messages/@original","body":{"content":"x"}}"#,
        );
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("/webhooks/7/{token}/messages/@original"),
            "{shown}"
        );
        assert_eq!(report_payload(br#""hello""#), r#""hello""#);
        assert_eq!(report_payload(&[0xff]), "\u{fffd}");
    }

    #[test]
    fn one_group_per_bot_keyed_by_channel() {
        assert_eq!(group_of("helper"), "outbound-helper");
        let odd = group_of("my bot.v2");
        assert!(odd.starts_with("outbound-my_bot_v2-"), "{odd}");
        assert_ne!(odd, group_of("my_bot_v2"));
        let topic = Topic::new("outbound.discord.1.22.3").expect("topic");
        for p in ["outbound.discord.>", "outbound.discord.*.*.*"] {
            let key = channel_key(&Pattern::new(p).expect("pattern"));
            assert_eq!(key.key_of(&topic), "22", "{p}");
        }
        let deeper = Topic::new("out.a.b.1.22.3").expect("topic");
        let key = channel_key(&Pattern::new("out.a.b.>").expect("pattern"));
        assert_eq!(key.key_of(&deeper), "22");
    }
}
