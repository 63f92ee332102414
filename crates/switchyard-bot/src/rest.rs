//! REST through the outbound topics: a [`RestRequest`] is published as
//! `{method, path, query?, body?, reply_to}` on the bot's outbound topic; the gateway calls
//! Discord and publishes `{ok, status, body, queued_ms}` (or `{ok: false, kind, error}`) on
//! `reply_to`. Each request gets its own reply topic, `inbound.rest.{bot}.{instance}.{n}`, so
//! answers are matched to requests without any field in the answer. The shapes are
//! `switchyard_core::outbound`'s, which the gateway reads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_broker::{Broker, Subscription, Topic};
use switchyard_core::outbound::{Answer, RestCall};
use tokio::sync::{mpsc, oneshot};

use crate::error::BotError;

/// A Discord REST request, sent through the gateway.
///
/// ```
/// use switchyard_bot::RestRequest;
/// let req = RestRequest::patch("/channels/1/messages/2").json(&serde_json::json!({"content": "edited"}))?;
/// assert_eq!(req.describe(), "PATCH /channels/1/messages/2");
/// # Ok::<(), switchyard_bot::BotError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RestRequest {
    call: RestCall,
}

impl RestRequest {
    fn new(method: &'static str, path: impl Into<String>) -> Self {
        RestRequest {
            call: RestCall {
                method: method.to_owned(),
                path: path.into(),
                query: None,
                body: None,
            },
        }
    }

    /// `GET path` (relative to `/api/v10`, such as `/channels/1/messages/2`).
    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    /// `POST path`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new("POST", path)
    }

    /// `PUT path`.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new("PUT", path)
    }

    /// `PATCH path`.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new("PATCH", path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new("DELETE", path)
    }

    /// Adds a JSON body.
    pub fn json(mut self, body: &impl Serialize) -> Result<Self, BotError> {
        self.call.body =
            Some(serde_json::to_value(body).map_err(|e| BotError::Invalid(e.to_string()))?);
        Ok(self)
    }

    /// Adds a query string (without `?`).
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.call.query = Some(query.into());
        self
    }

    /// `METHOD /path`, for errors and logs.
    pub fn describe(&self) -> String {
        format!("{} {}", self.call.method, self.call.path)
    }

    /// The outbound payload, with `reply_to`.
    pub(crate) fn payload(&self, reply_to: &Topic) -> Value {
        self.call.to_payload(Some(reply_to))
    }
}

/// Discord's answer to a request, as the gateway relayed it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body (JSON, or a string when Discord sent no JSON).
    pub body: Value,
    /// How long the request waited in the gateway's rate limiter, in milliseconds.
    pub queued_ms: Option<u64>,
}

impl RestResponse {
    /// The body parsed into `T`; a mismatch names the field.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, BotError> {
        serde_path_to_error::deserialize(&self.body).map_err(|e| BotError::Response {
            what: what.to_owned(),
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        })
    }

    /// Reads the gateway's answer; an error for `ok: false`.
    fn from_answer(what: &str, answer: Value) -> Result<Self, BotError> {
        let answer: Answer = serde_json::from_value(answer).map_err(|e| BotError::Response {
            what: what.to_owned(),
            path: String::new(),
            message: format!("the gateway's answer is not an outbound answer: {e}"),
        })?;
        let body = answer.body.unwrap_or(Value::Null);
        if !answer.ok {
            let message = answer
                .error
                .or_else(|| {
                    body.get("message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| body.to_string());
            return Err(BotError::Rest {
                what: what.to_owned(),
                status: answer.status.unwrap_or(0),
                message,
            });
        }
        Ok(RestResponse {
            status: answer.status.unwrap_or(200),
            body,
            queued_ms: answer.queued_ms,
        })
    }
}

/// Who waits on one reply topic: a REST request (one answer) or a gateway command (its
/// answers, as they come).
enum Waiter {
    Once(oneshot::Sender<Value>),
    Many(mpsc::Sender<Value>),
}

/// Matches answers to requests by reply topic.
pub(crate) struct Replies {
    prefix: String,
    next: AtomicU64,
    pending: Mutex<HashMap<u64, Waiter>>,
}

impl Replies {
    /// Replies for one bot instance, on `inbound.rest.{bot}.{instance}.{n}`.
    pub(crate) fn new(bot: &str, instance: &str) -> Self {
        Replies {
            prefix: format!("inbound.rest.{bot}.{instance}"),
            next: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// The pattern to subscribe to.
    pub(crate) fn pattern(&self) -> String {
        format!("{}.*", self.prefix)
    }

    /// Routes answers to their requests until the subscription ends.
    pub(crate) async fn run(&self, mut sub: Subscription) {
        while let Some(msg) = sub.recv().await {
            let Some(n) = msg
                .topic
                .as_str()
                .rsplit('.')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let value = serde_json::from_slice(&msg.payload).unwrap_or_else(|e| {
                serde_json::json!({"ok": false, "error": format!("the answer is not JSON: {e}")})
            });
            let mut pending = self.lock();
            match pending.remove(&n) {
                Some(Waiter::Once(tx)) => {
                    let _ = tx.send(value);
                }
                // A waiter that stopped reading, or fell 256 answers behind, is dropped.
                Some(Waiter::Many(tx)) if tx.try_send(value).is_ok() => {
                    pending.insert(n, Waiter::Many(tx));
                }
                Some(Waiter::Many(_)) | None => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reply topic whose answers are read as they come, until the returned guard is
    /// dropped (which forgets the topic).
    pub(crate) fn open(
        self: &std::sync::Arc<Self>,
    ) -> Result<(Topic, mpsc::Receiver<Value>, Forget), BotError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let reply_to = Topic::new(&format!("{}.{n}", self.prefix))
            .map_err(|e| BotError::Invalid(format!("reply topic: {e}")))?;
        let (tx, rx) = mpsc::channel(256);
        self.lock().insert(n, Waiter::Many(tx));
        let forget = Forget {
            replies: self.clone(),
            n,
        };
        Ok((reply_to, rx, forget))
    }

    /// Publishes `payload(reply_to)` on `topic` and waits for the answer.
    pub(crate) async fn call(
        &self,
        broker: &dyn Broker,
        topic: &Topic,
        what: &str,
        payload: impl FnOnce(&Topic) -> Value,
        timeout: Duration,
    ) -> Result<RestResponse, BotError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let reply_to = Topic::new(&format!("{}.{n}", self.prefix))
            .map_err(|e| BotError::Invalid(format!("reply topic: {e}")))?;
        let (tx, rx) = oneshot::channel();
        self.lock().insert(n, Waiter::Once(tx));
        let body = Bytes::from(payload(&reply_to).to_string());
        if let Err(e) = broker.publish(topic, body).await {
            self.lock().remove(&n);
            return Err(e.into());
        }
        let answer = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => return Err(BotError::Closed),
            Err(_) => {
                self.lock().remove(&n);
                return Err(BotError::Timeout {
                    what: what.to_owned(),
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
        };
        RestResponse::from_answer(what, answer)
    }
}

/// Forgets a reply topic of [`Replies::open`] when dropped, so that a finished or abandoned
/// command leaves nothing behind.
pub(crate) struct Forget {
    replies: std::sync::Arc<Replies>,
    n: u64,
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.replies.lock().remove(&self.n);
    }
}

/// Percent-encodes an emoji for a reactions path (`👍` → `%F0%9F%91%8D`, `name:id` kept).
pub(crate) fn encode_emoji(emoji: &str) -> String {
    let mut out = String::with_capacity(emoji.len() * 3);
    for b in emoji.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_responses_and_errors() {
        let ok = RestResponse::from_answer(
            "GET /x",
            serde_json::json!({"ok": true, "status": 200, "body": {"id": "5"}, "queued_ms": 3}),
        )
        .expect("ok");
        assert_eq!(ok.status, 200);
        assert_eq!(ok.queued_ms, Some(3));
        let e = RestResponse::from_answer(
            "GET /x",
            serde_json::json!({"ok": false, "status": 404, "body": {"message": "Unknown Message"}}),
        )
        .expect_err("404");
        assert!(
            matches!(&e, BotError::Rest { status: 404, message, .. } if message == "Unknown Message"),
            "{e}"
        );
        let e =
            RestResponse::from_answer("GET /x", serde_json::json!({"ok": false, "error": "boom"}))
                .expect_err("gateway error");
        assert!(matches!(&e, BotError::Rest { status: 0, message, .. } if message == "boom"));
    }

    #[test]
    fn typed_bodies_name_the_field() {
        let r = RestResponse {
            status: 200,
            body: serde_json::json!({"id": 5}),
            queued_ms: None,
        };
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct M {
            id: String,
        }
        let e = r.json::<M>("GET /m").expect_err("id is a number");
        assert!(e.to_string().contains("`id`"), "{e}");
    }

    #[test]
    fn emoji_are_percent_encoded() {
        assert_eq!(encode_emoji("👍"), "%F0%9F%91%8D");
        assert_eq!(encode_emoji("blob:123"), "blob:123");
    }
}
