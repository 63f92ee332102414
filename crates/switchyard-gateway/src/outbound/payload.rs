//! Reading one outbound message: a JSON string (Bytebot's form) or bare text becomes a message
//! to the channel in the topic; an object is a message (content, embeds, reply reference,
//! allowed_mentions...) or a general REST request `{method, path, body, reply_to}`.

use http::Method;
use serde_json::{Map, Value};
use switchyard_core::Topic;

use super::routes::{RouteAllowlist, check_path, strip_api};
use switchyard_rest::route::redact_token;

/// Fields of a message object passed to `POST /channels/{c}/messages`.
const MESSAGE_FIELDS: [&str; 11] = [
    "content",
    "embeds",
    "message_reference",
    "allowed_mentions",
    "components",
    "tts",
    "flags",
    "sticker_ids",
    "nonce",
    "enforce_nonce",
    "poll",
];

/// What an outbound message asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create a message in `channel`.
    Message {
        /// The channel.
        channel: u64,
        /// The JSON body.
        body: Value,
        /// Where to publish Discord's answer.
        reply_to: Option<Topic>,
    },
    /// A general REST request on an allowed route.
    Request {
        /// Method.
        method: Method,
        /// Path relative to `/api/v10`.
        path: String,
        /// Query string.
        query: Option<String>,
        /// JSON body.
        body: Option<Value>,
        /// Where to publish Discord's answer.
        reply_to: Option<Topic>,
    },
}

/// Why an outbound message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// A short kind for metrics: `bad_json`, `bad_payload`, `no_channel`,
    /// `route_not_allowed`.
    pub kind: &'static str,
    /// What was wrong.
    pub reason: String,
}

fn reject(kind: &'static str, reason: impl Into<String>) -> Rejected {
    Rejected {
        kind,
        reason: reason.into(),
    }
}

/// The channel named by `outbound.discord.{guild}.{channel}.{user}`, if any (0 is none).
pub fn topic_channel(topic: &str) -> Option<u64> {
    // `…{guild}.{channel}.{user}`: the channel is the segment before the last, whatever
    // prefix a bot's outbound pattern has (`outbound.discord.…`, `outbound.helper.…`).
    let segments: Vec<&str> = topic.split('.').collect();
    if segments.len() < 5 {
        return None;
    }
    segments[segments.len() - 2]
        .parse::<u64>()
        .ok()
        .filter(|c| *c != 0)
}

fn channel_of(topic: &str) -> Result<u64, Rejected> {
    topic_channel(topic).ok_or_else(|| {
        reject(
            "no_channel",
            format!(
                "a message needs a channel: the topic {topic:?} must be outbound.discord.{{guild}}.{{channel}}.{{user}} with a non-zero channel id"
            ),
        )
    })
}

/// The `reply_to` topic of a payload, if it names a valid one (also of a refused payload).
pub fn reply_to_of(payload: &[u8]) -> Option<Topic> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    Topic::new(value.get("reply_to")?.as_str()?).ok()
}

/// Reads one outbound message published on `topic`.
pub fn parse(topic: &str, payload: &[u8], allow: &RouteAllowlist) -> Result<Action, Rejected> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| reject("bad_payload", "the payload is not UTF-8 text"))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(reject("bad_payload", "the payload is empty"));
    }
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(v) => v,
        // An object or a string that does not parse was meant as JSON; text such as
        // `[bot] hi` was not (an array is never an outbound message).
        Err(e) if trimmed.starts_with(['{', '"']) => {
            return Err(reject(
                "bad_json",
                format!("the payload is not valid JSON: {e}"),
            ));
        }
        // Bare non-JSON text is a message, as Bytebot consumers sometimes send it.
        Err(_) => Value::String(text.to_owned()),
    };
    match value {
        Value::String(content) => text_message(topic, content),
        Value::Number(_) | Value::Bool(_) => text_message(topic, trimmed.to_owned()),
        Value::Object(obj) => object(topic, obj, allow),
        Value::Null | Value::Array(_) => Err(reject(
            "bad_payload",
            "the payload must be a JSON string (text to send) or an object",
        )),
    }
}

fn text_message(topic: &str, content: String) -> Result<Action, Rejected> {
    let channel = channel_of(topic)?;
    if content.trim().is_empty() {
        return Err(reject("bad_payload", "the message text is empty"));
    }
    Ok(Action::Message {
        channel,
        body: serde_json::json!({ "content": content }),
        reply_to: None,
    })
}

fn reply_topic(obj: &mut Map<String, Value>) -> Result<Option<Topic>, Rejected> {
    match obj.remove("reply_to") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => Topic::new(&t)
            .map(Some)
            .map_err(|e| reject("bad_payload", format!("reply_to: {e}"))),
        Some(_) => Err(reject("bad_payload", "reply_to must be a topic string")),
    }
}

fn object(
    topic: &str,
    mut obj: Map<String, Value>,
    allow: &RouteAllowlist,
) -> Result<Action, Rejected> {
    let reply_to = reply_topic(&mut obj)?;
    if obj.contains_key("path") || obj.contains_key("method") {
        return request(obj, reply_to, allow);
    }
    let channel = channel_of(topic)?;
    if let Some(unknown) = obj.keys().find(|k| !MESSAGE_FIELDS.contains(&k.as_str())) {
        return Err(reject(
            "bad_payload",
            format!(
                "unknown field {unknown:?} in a message object; known: {}, reply_to; or send a request with method and path",
                MESSAGE_FIELDS.join(", ")
            ),
        ));
    }
    if !["content", "embeds", "components", "sticker_ids", "poll"]
        .iter()
        .any(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
    {
        return Err(reject(
            "bad_payload",
            "a message needs content, embeds, components, sticker_ids or poll",
        ));
    }
    Ok(Action::Message {
        channel,
        body: Value::Object(obj),
        reply_to,
    })
}

fn request(
    mut obj: Map<String, Value>,
    reply_to: Option<Topic>,
    allow: &RouteAllowlist,
) -> Result<Action, Rejected> {
    let method = match obj.remove("method") {
        None => Method::POST,
        Some(Value::String(m)) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| reject("bad_payload", format!("bad method {m:?}")))?,
        Some(_) => return Err(reject("bad_payload", "method must be a string")),
    };
    let Some(Value::String(full)) = obj.remove("path") else {
        return Err(reject("bad_payload", "a request needs a string path"));
    };
    let (path, mut query) = match full.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (full.clone(), None),
    };
    match obj.remove("query") {
        None | Some(Value::Null) => {}
        Some(Value::String(q)) => query = Some(q),
        Some(_) => return Err(reject("bad_payload", "query must be a string")),
    }
    let body = obj.remove("body").filter(|b| !b.is_null());
    if let Some(unknown) = obj.keys().next() {
        return Err(reject(
            "bad_payload",
            format!(
                "unknown field {unknown:?} in a request; known: method, path, query, body, reply_to"
            ),
        ));
    }
    let checked = match check_path(&path) {
        Err(why) => Err(why),
        Ok(()) if query.as_deref().is_some_and(|q| q.contains('#')) => Err("the query contains #"),
        Ok(()) => Ok(()),
    };
    if let Err(why) = checked {
        return Err(reject(
            "bad_payload",
            format!("unsafe or malformed path {:?}: {why}", redact_token(&full)),
        ));
    }
    if !allow.allows(&method, &path) {
        return Err(reject(
            "route_not_allowed",
            format!(
                "{method} {} is not in gateway.allowed_routes (ids must be numeric; anyone who can publish acts with the bot's token; add the route there if it is meant to be used)",
                redact_token(&path)
            ),
        ));
    }
    Ok(Action::Request {
        method,
        path: strip_api(&path).to_owned(),
        query,
        body,
        reply_to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "outbound.discord.1.2.3";

    fn p(payload: &str) -> Result<Action, Rejected> {
        parse(T, payload.as_bytes(), &RouteAllowlist::default())
    }

    #[test]
    fn strings_and_bare_text_are_messages() {
        for (payload, content) in [
            (r#""hello""#, "hello"),
            ("hello there", "hello there"),
            ("42", "42"),
        ] {
            let Ok(Action::Message { channel, body, .. }) = p(payload) else {
                panic!("{payload}")
            };
            assert_eq!(channel, 2);
            assert_eq!(body["content"], content);
        }
        let e = parse(
            "outbound.discord.1.0.3",
            br#""hi""#,
            &RouteAllowlist::default(),
        )
        .expect_err("no channel");
        assert_eq!(e.kind, "no_channel");
        assert_eq!(p(r#"{"content": "x""#).expect_err("bad").kind, "bad_json");
        assert_eq!(p("   ").expect_err("empty").kind, "bad_payload");
        assert_eq!(p("[1]").expect_err("array").kind, "bad_payload");
        let Ok(Action::Message { body, .. }) = p("[bot] hi") else {
            panic!("bracketed text is text")
        };
        assert_eq!(body["content"], "[bot] hi");
        assert_eq!(
            parse(T, &[0xff, 0xfe], &RouteAllowlist::default())
                .expect_err("utf8")
                .kind,
            "bad_payload"
        );
    }

    #[test]
    fn message_objects() {
        let Ok(Action::Message { body, reply_to, .. }) = p(
            r#"{"content":"hi","message_reference":{"message_id":"9"},"allowed_mentions":{"parse":[]},"reply_to":"replies.x"}"#,
        ) else {
            panic!("message")
        };
        assert_eq!(body["message_reference"]["message_id"], "9");
        assert!(body.get("reply_to").is_none());
        assert_eq!(reply_to.expect("reply").as_str(), "replies.x");
        assert_eq!(
            p(r#"{"contnet":"hi"}"#).expect_err("unknown").kind,
            "bad_payload"
        );
        assert_eq!(
            p(r#"{"tts":true}"#).expect_err("no content").kind,
            "bad_payload"
        );
    }

    #[test]
    fn requests_are_checked_against_the_allowlist() {
        let Ok(Action::Request {
            method,
            path,
            query,
            ..
        }) = p(
            r#"{"method":"put","path":"/api/v10/channels/2/messages/5/reactions/%F0%9F%91%8D/@me?x=1"}"#,
        )
        else {
            panic!("request")
        };
        assert_eq!(method, Method::PUT);
        assert_eq!(path, "/channels/2/messages/5/reactions/%F0%9F%91%8D/@me");
        assert_eq!(query.as_deref(), Some("x=1"));
        let e = p(r#"{"method":"DELETE","path":"/guilds/1"}"#).expect_err("not allowed");
        assert_eq!(e.kind, "route_not_allowed");
        assert!(e.reason.contains("gateway.allowed_routes"), "{}", e.reason);
        let e = p(r#"{"method":"GET","path":"/channels/1%2F..%2Fguilds%2F1/messages"}"#)
            .expect_err("encoded slash");
        assert_eq!(e.kind, "bad_payload");
        assert!(e.reason.contains("percent-encoded"), "{}", e.reason);
        let e =
            p(r#"{"method":"DELETE","path":"/webhooks/1/SECRET-TOKEN"}"#).expect_err("not allowed");
        assert!(!e.reason.contains("SECRET"), "{}", e.reason);
        assert_eq!(
            p(r#"{"method":"GET","path":"/channels/../guilds/1"}"#)
                .expect_err("unsafe")
                .kind,
            "bad_payload"
        );
        assert_eq!(
            p(r#"{"path":"/channels/1/typing","extra":1}"#)
                .expect_err("unknown")
                .kind,
            "bad_payload"
        );
        // a request needs no channel in the topic
        assert!(
            parse(
                "outbound.discord.0.0.0",
                br#"{"path":"/channels/1/typing"}"#,
                &RouteAllowlist::default()
            )
            .is_ok()
        );
    }
}
