//! Reading one outbound payload, once: a JSON string (Bytebot's form) or bare text is a message
//! to the channel in the topic; an object is a message (content, embeds, reply reference...),
//! a REST request `{method, path, query?, body?}` or a gateway command `{command, …}`; each
//! object may carry `reply_to`. Which routes a request may use is the gateway's policy, not
//! part of the shape.

use serde_json::{Map, Value};

use super::answer::ErrorKind;
use super::command::{CommandMessage, GatewayCommand};
use super::topics::topic_channel;
use crate::topic::Topic;

/// Fields of a message object, passed to `POST /channels/{c}/messages`.
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

/// A REST request through the gateway: `{method, path, query?, body?}` (`path` relative to
/// `/api/v10`; `method` defaults to POST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestCall {
    /// The method, upper case.
    pub method: String,
    /// The path, as given (the gateway checks and normalises it).
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// The JSON body.
    pub body: Option<Value>,
}

impl RestCall {
    /// The outbound payload, with `reply_to` when the answer is wanted.
    pub fn to_payload(&self, reply_to: Option<&Topic>) -> Value {
        let mut obj = Map::new();
        obj.insert("method".into(), self.method.clone().into());
        obj.insert("path".into(), self.path.clone().into());
        if let Some(q) = &self.query {
            obj.insert("query".into(), q.clone().into());
        }
        if let Some(b) = &self.body {
            obj.insert("body".into(), b.clone());
        }
        if let Some(r) = reply_to {
            obj.insert("reply_to".into(), r.as_str().into());
        }
        Value::Object(obj)
    }
}

/// What one outbound message asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// Create a message in `channel` with this body.
    Message {
        /// The channel, from the topic.
        channel: u64,
        /// The message object.
        body: Value,
        /// Where to publish Discord's answer.
        reply_to: Option<Topic>,
    },
    /// A REST request.
    Request {
        /// The request.
        call: RestCall,
        /// Where to publish Discord's answer.
        reply_to: Option<Topic>,
    },
    /// A gateway command.
    Command {
        /// The command.
        command: GatewayCommand,
        /// Where to publish the outcome and the events that answer it.
        reply_to: Option<Topic>,
    },
}

impl Outbound {
    /// Where the answer goes, if anywhere.
    pub fn reply_to(&self) -> Option<&Topic> {
        match self {
            Outbound::Message { reply_to, .. }
            | Outbound::Request { reply_to, .. }
            | Outbound::Command { reply_to, .. } => reply_to.as_ref(),
        }
    }
}

/// Why an outbound message was refused, with the `reply_to` it named (when it named a valid
/// topic), so that a caller waiting there hears the refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Why, in short.
    pub kind: ErrorKind,
    /// What was wrong.
    pub reason: String,
    /// The payload's `reply_to`.
    pub reply_to: Option<Topic>,
}

impl Rejected {
    /// A refusal of `kind`.
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Rejected {
            kind,
            reason: reason.into(),
            reply_to: None,
        }
    }

    fn to(mut self, reply_to: Option<Topic>) -> Self {
        self.reply_to = reply_to;
        self
    }
}

/// Reads one outbound message published on `topic`.
pub fn parse(topic: &str, payload: &[u8]) -> Result<Outbound, Rejected> {
    parse_routed(topic, topic_channel(topic), payload)
}

/// [`parse`], with the topic's channel (see [`topic_channel`]) already known to the caller,
/// which derived it to route the message.
pub fn parse_routed(
    topic: &str,
    channel: Option<u64>,
    payload: &[u8],
) -> Result<Outbound, Rejected> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| Rejected::new(ErrorKind::BadPayload, "the payload is not UTF-8 text"))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Rejected::new(ErrorKind::BadPayload, "the payload is empty"));
    }
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(v) => v,
        // An object or a string that does not parse was meant as JSON; text such as
        // `[bot] hi` was not (an array is never an outbound message).
        Err(e) if trimmed.starts_with(['{', '"']) => {
            return Err(Rejected::new(
                ErrorKind::BadJson,
                format!("the payload is not valid JSON: {e}"),
            ));
        }
        // Bare non-JSON text is a message, as Bytebot consumers sometimes send it.
        Err(_) => Value::String(text.to_owned()),
    };
    match value {
        Value::String(content) => text_message(topic, channel, content),
        Value::Number(_) | Value::Bool(_) => text_message(topic, channel, trimmed.to_owned()),
        Value::Object(mut obj) => {
            let reply_to = reply_topic(&mut obj)?;
            object(topic, channel, obj, reply_to.clone()).map_err(|r| r.to(reply_to))
        }
        Value::Null | Value::Array(_) => Err(Rejected::new(
            ErrorKind::BadPayload,
            "the payload must be a JSON string (text to send) or an object",
        )),
    }
}

fn channel_of(topic: &str, channel: Option<u64>) -> Result<u64, Rejected> {
    channel.ok_or_else(|| {
        Rejected::new(
            ErrorKind::NoChannel,
            format!(
                "a message needs a channel: the topic {topic:?} must be {{prefix}}.{{guild}}.{{channel}}.{{user}} with a non-zero channel id"
            ),
        )
    })
}

fn text_message(topic: &str, channel: Option<u64>, content: String) -> Result<Outbound, Rejected> {
    let channel = channel_of(topic, channel)?;
    if content.trim().is_empty() {
        return Err(Rejected::new(
            ErrorKind::BadPayload,
            "the message text is empty",
        ));
    }
    Ok(Outbound::Message {
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
            .map_err(|e| Rejected::new(ErrorKind::BadPayload, format!("reply_to: {e}"))),
        Some(_) => Err(Rejected::new(
            ErrorKind::BadPayload,
            "reply_to must be a topic string",
        )),
    }
}

fn object(
    topic: &str,
    channel: Option<u64>,
    obj: Map<String, Value>,
    reply_to: Option<Topic>,
) -> Result<Outbound, Rejected> {
    if obj.contains_key("command") {
        let command = command(obj)?;
        return Ok(Outbound::Command { command, reply_to });
    }
    if obj.contains_key("path") || obj.contains_key("method") {
        return Ok(Outbound::Request {
            call: request(obj)?,
            reply_to,
        });
    }
    let channel = channel_of(topic, channel)?;
    if let Some(unknown) = obj.keys().find(|k| !MESSAGE_FIELDS.contains(&k.as_str())) {
        return Err(Rejected::new(
            ErrorKind::BadPayload,
            format!(
                "unknown field {unknown:?} in a message object; known: {}, reply_to; or send a request with method and path, or a command",
                MESSAGE_FIELDS.join(", ")
            ),
        ));
    }
    if !["content", "embeds", "components", "sticker_ids", "poll"]
        .iter()
        .any(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
    {
        return Err(Rejected::new(
            ErrorKind::BadPayload,
            "a message needs content, embeds, components, sticker_ids or poll",
        ));
    }
    Ok(Outbound::Message {
        channel,
        body: Value::Object(obj),
        reply_to,
    })
}

fn command(obj: Map<String, Value>) -> Result<GatewayCommand, Rejected> {
    let name = obj
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    serde_json::from_value(Value::Object(obj)).map_err(|e| {
        Rejected::new(
            ErrorKind::BadPayload,
            format!(
                "bad command {name:?}: {e} (commands: update_presence, update_voice_state, request_guild_members)"
            ),
        )
    })
}

/// Reads a command sent to a shard's command topic (see [`CommandMessage`]).
pub fn parse_command(payload: &[u8]) -> Result<CommandMessage, Rejected> {
    let mut obj: Map<String, Value> = serde_json::from_slice(payload).map_err(|e| {
        Rejected::new(
            ErrorKind::BadJson,
            format!("a command must be a JSON object: {e}"),
        )
    })?;
    let reply_to = reply_topic(&mut obj)?;
    let routing = (|| {
        let ack_to = match obj.remove("ack_to") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t),
            Some(_) => {
                return Err(Rejected::new(
                    ErrorKind::BadPayload,
                    "ack_to must be a topic string",
                ));
            }
        };
        let at_ms = match obj.remove("at_ms") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                Rejected::new(ErrorKind::BadPayload, "at_ms must be unix milliseconds")
            })?),
        };
        Ok((ack_to, at_ms))
    })();
    let (ack_to, at_ms) = routing.map_err(|r| r.to(reply_to.clone()))?;
    let command = command(obj).map_err(|r| r.to(reply_to.clone()))?;
    Ok(CommandMessage {
        command,
        reply_to: reply_to.map(|t| t.as_str().to_owned()),
        ack_to,
        at_ms,
    })
}

fn request(mut obj: Map<String, Value>) -> Result<RestCall, Rejected> {
    let bad = |why: &str| Rejected::new(ErrorKind::BadPayload, why);
    let method = match obj.remove("method") {
        None => "POST".to_owned(),
        Some(Value::String(m)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => {
            m.to_ascii_uppercase()
        }
        Some(Value::String(m)) => {
            return Err(Rejected::new(
                ErrorKind::BadPayload,
                format!("bad method {m:?}"),
            ));
        }
        Some(_) => return Err(bad("method must be a string")),
    };
    let Some(Value::String(full)) = obj.remove("path") else {
        return Err(bad("a request needs a string path"));
    };
    let (path, mut query) = match full.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (full, None),
    };
    match obj.remove("query") {
        None | Some(Value::Null) => {}
        Some(Value::String(q)) => query = Some(q),
        Some(_) => return Err(bad("query must be a string")),
    }
    let body = obj.remove("body").filter(|b| !b.is_null());
    if let Some(unknown) = obj.keys().next() {
        return Err(Rejected::new(
            ErrorKind::BadPayload,
            format!(
                "unknown field {unknown:?} in a request; known: method, path, query, body, reply_to"
            ),
        ));
    }
    Ok(RestCall {
        method,
        path,
        query,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "outbound.discord.1.2.3";

    fn p(payload: &str) -> Result<Outbound, Rejected> {
        parse(T, payload.as_bytes())
    }

    #[test]
    fn strings_and_bare_text_are_messages() {
        for (payload, content) in [
            (r#""hello""#, "hello"),
            ("hello there", "hello there"),
            ("42", "42"),
            ("[bot] hi", "[bot] hi"),
        ] {
            let Ok(Outbound::Message { channel, body, .. }) = p(payload) else {
                panic!("{payload}")
            };
            assert_eq!(channel, 2);
            assert_eq!(body["content"], content);
        }
        let e = parse("outbound.discord.1.0.3", br#""hi""#).expect_err("no channel");
        assert_eq!(e.kind, ErrorKind::NoChannel);
        assert_eq!(
            p(r#"{"content": "x""#).expect_err("bad").kind,
            ErrorKind::BadJson
        );
        assert_eq!(p("   ").expect_err("empty").kind, ErrorKind::BadPayload);
        assert_eq!(p("[1]").expect_err("array").kind, ErrorKind::BadPayload);
        assert_eq!(
            parse(T, &[0xff, 0xfe]).expect_err("utf8").kind,
            ErrorKind::BadPayload
        );
    }

    #[test]
    fn message_objects_and_refusals_keep_reply_to() {
        let Ok(Outbound::Message { body, reply_to, .. }) = p(
            r#"{"content":"hi","message_reference":{"message_id":"9"},"reply_to":"inbound.rest.x.1"}"#,
        ) else {
            panic!("message")
        };
        assert_eq!(body["message_reference"]["message_id"], "9");
        assert!(body.get("reply_to").is_none());
        assert_eq!(reply_to.expect("reply").as_str(), "inbound.rest.x.1");
        let e = p(r#"{"contnet":"hi","reply_to":"inbound.rest.x.2"}"#).expect_err("unknown");
        assert_eq!(e.kind, ErrorKind::BadPayload);
        assert_eq!(e.reply_to.expect("kept").as_str(), "inbound.rest.x.2");
        assert_eq!(
            p(r#"{"tts":true}"#).expect_err("no content").kind,
            ErrorKind::BadPayload
        );
    }

    #[test]
    fn requests() {
        let Ok(Outbound::Request { call, .. }) =
            p(r#"{"method":"put","path":"/channels/2/messages/5/reactions/x/@me?x=1"}"#)
        else {
            panic!("request")
        };
        assert_eq!(call.method, "PUT");
        assert_eq!(call.path, "/channels/2/messages/5/reactions/x/@me");
        assert_eq!(call.query.as_deref(), Some("x=1"));
        assert_eq!(
            p(r#"{"path":"/channels/1/typing","extra":1}"#)
                .expect_err("unknown")
                .kind,
            ErrorKind::BadPayload
        );
        assert!(p(r#"{"method":"P UT","path":"/x"}"#).is_err());
        // a request needs no channel in the topic
        assert!(
            parse(
                "outbound.discord.0.0.0",
                br#"{"path":"/channels/1/typing"}"#
            )
            .is_ok()
        );
        let back = call.to_payload(None);
        assert_eq!(back["method"], "PUT");
        assert_eq!(back["query"], "x=1");
    }

    #[test]
    fn commands() {
        let Ok(Outbound::Command { command, reply_to }) = parse(
            "outbound.discord.0.0.0",
            br#"{"command":"request_guild_members","guild_id":"7","query":"a","limit":3,"reply_to":"inbound.rest.x.5"}"#,
        ) else {
            panic!("command")
        };
        assert_eq!(command.op(), 8);
        assert_eq!(reply_to.expect("reply").as_str(), "inbound.rest.x.5");
        let e = p(r#"{"command":"update_presence","status":"busy","reply_to":"inbound.rest.x.6"}"#)
            .expect_err("status");
        assert!(e.reason.contains("busy"), "{}", e.reason);
        assert!(e.reason.contains("update_presence"), "{}", e.reason);
        assert!(e.reply_to.is_some());

        let routed = parse_command(
            br#"{"command":"update_presence","status":"online","ack_to":"command.discord.b.ack.n.1","at_ms":9}"#,
        )
        .expect("routed");
        assert_eq!(routed.ack_to.as_deref(), Some("command.discord.b.ack.n.1"));
        assert_eq!(routed.at_ms, Some(9));
        assert!(
            parse_command(br#"{"command":"update_presence","status":"online","at_ms":"x"}"#)
                .is_err()
        );
        assert!(parse_command(b"[]").is_err());
    }
}
