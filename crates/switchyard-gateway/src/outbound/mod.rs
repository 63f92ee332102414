//! The outbound path: subscribes to `outbound.discord.>` and turns each message into a
//! rate-limited REST call (through `switchyard-rest`, never a second limiter).
//!
//! Every process of a bot joins one keyed group on the pattern (`outbound-{bot}`, keyed by
//! channel), so a message is sent once however many processes share the bot's shards, and a
//! channel's messages stay with one process. Within it, messages are spread over a fixed set
//! of workers by channel (or topic), so messages to one channel keep their order.
//!
//! Whatever is invalid (bad JSON, channel `0`, a route not allowed, a Discord error) is
//! published on `errors.{topic}` (for example `errors.outbound.discord.1.2.3`) with the
//! reason, logged and counted; nothing crashes.

pub mod payload;
pub mod routes;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_broker::{Broker, BrokerError, Message, PartitionKey, Pattern, Subscription, Topic};
use switchyard_rest::{RestClient, RestRequest};
use tokio::sync::{mpsc, watch};

use crate::secret::Secret;
pub use payload::{Action, Rejected, parse, topic_channel};
pub use routes::RouteAllowlist;

/// Settings of the outbound path.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Whether outbound messages are read at all.
    pub enabled: bool,
    /// The pattern subscribed to.
    pub pattern: String,
    /// Routes general requests may use.
    pub allowed_routes: RouteAllowlist,
    /// Workers (messages of one channel always go to the same one, in order).
    pub workers: usize,
    /// The first segment of error topics.
    pub error_prefix: String,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            enabled: true,
            pattern: "outbound.discord.>".into(),
            allowed_routes: RouteAllowlist::default(),
            workers: 8,
            error_prefix: "errors".into(),
        }
    }
}

/// The keyed group in which every process of `bot` reads its outbound topics, so that each
/// message is sent once however many processes run the bot: `outbound-{bot}`, the name
/// reduced to the characters a group name may hold (and made unique again by a hash if that
/// changed it).
pub(crate) fn group_of(bot: &str) -> String {
    let clean: String = bot
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if clean == bot {
        format!("outbound-{clean}")
    } else {
        let hash = xxhash_rust::xxh3::xxh3_64(bot.as_bytes());
        format!("outbound-{clean}-{:08x}", hash as u32)
    }
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
/// sent once and a channel's messages keep their order.
pub(crate) async fn subscribe(
    broker: &dyn Broker,
    pattern: &Pattern,
    bot: &str,
) -> Result<Subscription, BrokerError> {
    crate::shared_sub::subscribe_shared(
        broker,
        pattern,
        &group_of(bot),
        channel_key(pattern),
        "a REST call",
    )
    .await
}

/// What a worker needs.
#[derive(Clone)]
pub(crate) struct Outbound {
    pub broker: Arc<dyn Broker>,
    pub rest: RestClient,
    pub token: Secret,
    pub config: Arc<OutboundConfig>,
}

/// Subscribes and runs the workers until `stop`.
pub(crate) async fn run(
    out: Outbound,
    pattern: Pattern,
    mut sub: Subscription,
    mut stop: watch::Receiver<bool>,
) {
    tracing::info!(pattern = %pattern, "outbound path listening");
    let workers: Vec<mpsc::Sender<Message>> = (0..out.config.workers.max(1))
        .map(|_| {
            let (tx, mut rx) = mpsc::channel::<Message>(1024);
            let out = out.clone();
            tokio::spawn(async move {
                while let Some(msg) = rx.recv().await {
                    out.handle(msg).await;
                }
            });
            tx
        })
        .collect();
    loop {
        let msg = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            msg = sub.recv() => msg,
        };
        let Some(msg) = msg else {
            tracing::warn!("the outbound subscription ended");
            return;
        };
        let key = topic_channel(msg.topic.as_str()).map_or_else(
            || {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                msg.topic.as_str().hash(&mut h);
                h.finish()
            },
            |c| c >> 22 ^ c,
        );
        let worker = &workers[(key % workers.len() as u64) as usize];
        if worker.send(msg).await.is_err() {
            return;
        }
    }
}

fn lossy(payload: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(max)]);
    text.into_owned()
}

/// The payload as shown in an error report: at most 2 KiB, with the token of a webhook or
/// interaction `path` replaced by `{token}`.
fn report_payload(payload: &[u8]) -> String {
    if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(payload)
        && let Some(Value::String(path)) = obj.get("path")
        && let std::borrow::Cow::Owned(redacted) = switchyard_rest::route::redact_token(path)
    {
        obj.insert("path".into(), Value::String(redacted));
        let text = Value::Object(obj).to_string();
        return lossy(text.as_bytes(), 2048);
    }
    lossy(payload, 2048)
}

impl Outbound {
    async fn handle(&self, msg: Message) {
        let topic = msg.topic.as_str();
        let action = match parse(topic, &msg.payload, &self.config.allowed_routes) {
            Ok(a) => a,
            Err(rejected) => {
                self.error(topic, &msg.payload, rejected.kind, &rejected.reason, None)
                    .await;
                // A caller waiting on reply_to hears the refusal instead of timing out.
                if let Some(reply) = payload::reply_to_of(&msg.payload) {
                    let answer =
                        json!({"ok": false, "kind": rejected.kind, "error": rejected.reason});
                    self.publish(&reply, answer).await;
                }
                return;
            }
        };
        let token = Some(self.token.expose());
        let (req, reply_to) = match action {
            Action::Message {
                channel,
                body,
                reply_to,
            } => (
                RestRequest::new(
                    http::Method::POST,
                    &format!("/channels/{channel}/messages"),
                    token,
                )
                .json(&body),
                reply_to,
            ),
            Action::Request {
                method,
                path,
                query,
                body,
                reply_to,
            } => {
                let mut req = RestRequest::new(method, &path, token);
                if let Some(body) = body {
                    req = req.json(&body);
                }
                req.query = query;
                (req, reply_to)
            }
        };
        // Webhook and interaction paths carry a token: never log or report it.
        let what = format!(
            "{} {}",
            req.method,
            switchyard_rest::route::redact_token(&req.path)
        );
        let res = match self.rest.send(req).await {
            Ok(r) => r,
            Err(e) => {
                let reason = format!("{what}: {e}");
                self.error(topic, &msg.payload, "rest_error", &reason, None)
                    .await;
                if let Some(reply) = reply_to {
                    self.publish(&reply, json!({"ok": false, "error": reason}))
                        .await;
                }
                return;
            }
        };
        let status = res.status.as_u16();
        let queued_ms = res.queued.as_millis() as u64;
        let body = match res.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let reason = format!("{what}: reading the response: {e}");
                self.error(topic, &msg.payload, "rest_error", &reason, Some(status))
                    .await;
                if let Some(reply) = reply_to {
                    self.publish(
                        &reply,
                        json!({"ok": false, "status": status, "error": reason}),
                    )
                    .await;
                }
                return;
            }
        };
        let body_json: Value =
            serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(lossy(&body, 4096)));
        let ok = (200..300).contains(&status);
        if ok {
            metrics::counter!("switchyard_outbound_total", "result" => "ok").increment(1);
            tracing::debug!(%topic, %what, status, queued_ms, "outbound sent");
        } else {
            let reason = format!(
                "Discord answered {status} to {what}: {}",
                body_json
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            );
            self.error_with(
                topic,
                &msg.payload,
                "discord_error",
                &reason,
                Some(status),
                Some(&body_json),
            )
            .await;
        }
        if let Some(reply) = reply_to {
            self.publish(
                &reply,
                json!({"ok": ok, "status": status, "body": body_json, "queued_ms": queued_ms}),
            )
            .await;
        }
    }

    async fn error(
        &self,
        topic: &str,
        payload: &[u8],
        kind: &'static str,
        reason: &str,
        status: Option<u16>,
    ) {
        self.error_with(topic, payload, kind, reason, status, None)
            .await;
    }

    async fn error_with(
        &self,
        topic: &str,
        payload: &[u8],
        kind: &'static str,
        reason: &str,
        status: Option<u16>,
        discord: Option<&Value>,
    ) {
        metrics::counter!("switchyard_outbound_total", "result" => "error").increment(1);
        metrics::counter!("switchyard_outbound_errors_total", "kind" => kind).increment(1);
        tracing::warn!(%topic, kind, %reason, "outbound message refused");
        let mut report = json!({
            "topic": topic,
            "kind": kind,
            "reason": reason,
            "payload": report_payload(payload),
        });
        if let Some(status) = status {
            report["status"] = json!(status);
        }
        if let Some(d) = discord {
            report["discord"] = d.clone();
        }
        match Topic::new(&format!("{}.{topic}", self.config.error_prefix)) {
            Ok(t) => self.publish(&t, report).await,
            Err(e) => tracing::warn!(error = %e, "cannot name the error topic"),
        }
    }

    async fn publish(&self, topic: &Topic, value: Value) {
        if let Err(e) = self
            .broker
            .publish(topic, Bytes::from(value.to_string()))
            .await
        {
            tracing::warn!(%topic, error = %e, "cannot publish an outbound result");
        }
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
