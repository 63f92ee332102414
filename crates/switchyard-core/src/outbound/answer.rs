//! What comes back from an outbound message: the [`Answer`] on its `reply_to`, and the
//! [`ErrorReport`] on `errors.{topic}` when it was refused or failed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why an outbound message was refused or failed; the `kind` of answers, error reports and
/// the `switchyard_outbound_errors_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The payload is not JSON (an object or string that does not parse).
    BadJson,
    /// The payload is JSON of the wrong shape.
    BadPayload,
    /// A message needs a channel and the topic has none.
    NoChannel,
    /// A REST request on a route not in `gateway.allowed_routes`.
    RouteNotAllowed,
    /// `reply_to` lies outside the bot's reply namespace.
    ReplyToNotAllowed,
    /// A command the bot's intents do not allow.
    MissingIntent,
    /// A command for a shard the bot does not have.
    NoShard,
    /// No process holds the command's shard now.
    NoHolder,
    /// The shard's command queue is full (Discord allows 120 commands a minute).
    QueueFull,
    /// Discord answered a member request with RATE_LIMITED.
    RateLimited,
    /// The message waited longer than its age limit while no gateway read it.
    Expired,
    /// An answer to an HTTP interaction that came after the endpoint had to answer Discord
    /// itself, where Discord takes no late answer (autocomplete results, a modal).
    TooLate,
    /// The REST call failed before Discord answered.
    RestError,
    /// Discord answered with an error status.
    DiscordError,
}

impl ErrorKind {
    /// Every kind, for docs and tests.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::BadJson,
        ErrorKind::BadPayload,
        ErrorKind::NoChannel,
        ErrorKind::RouteNotAllowed,
        ErrorKind::ReplyToNotAllowed,
        ErrorKind::MissingIntent,
        ErrorKind::NoShard,
        ErrorKind::NoHolder,
        ErrorKind::QueueFull,
        ErrorKind::RateLimited,
        ErrorKind::Expired,
        ErrorKind::TooLate,
        ErrorKind::RestError,
        ErrorKind::DiscordError,
    ];

    /// The kind as written in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadJson => "bad_json",
            ErrorKind::BadPayload => "bad_payload",
            ErrorKind::NoChannel => "no_channel",
            ErrorKind::RouteNotAllowed => "route_not_allowed",
            ErrorKind::ReplyToNotAllowed => "reply_to_not_allowed",
            ErrorKind::MissingIntent => "missing_intent",
            ErrorKind::NoShard => "no_shard",
            ErrorKind::NoHolder => "no_holder",
            ErrorKind::QueueFull => "queue_full",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Expired => "expired",
            ErrorKind::TooLate => "too_late",
            ErrorKind::RestError => "rest_error",
            ErrorKind::DiscordError => "discord_error",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the gateway publishes on a message's `reply_to`.
///
/// - A REST request: `{ok, status, body, queued_ms}`, `ok` for a 2xx status.
/// - A gateway command: `{ok: true, command, shard}` once sent to Discord, then one answer per
///   Discord event that answers it: `{ok: true, event, shard, d}` (GUILD_MEMBERS_CHUNK with the
///   requester's nonce, VOICE_STATE_UPDATE, VOICE_SERVER_UPDATE).
/// - A refusal or failure: `{ok: false, kind, error, retry_after_ms?}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Whether it worked.
    pub ok: bool,
    /// The HTTP status of a REST answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The body of a REST answer (JSON, or a string when Discord sent no JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// How long a REST request waited in the rate limiter, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_ms: Option<u64>,
    /// Why it did not work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// What went wrong, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When to try again, in milliseconds, for refusals that pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The command this answers (`update_presence`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The shard that sent the command or received the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// The Discord event relayed to the requester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// That event's payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<Value>,
}

impl Answer {
    /// A refusal or failure.
    pub fn failed(kind: ErrorKind, error: impl Into<String>) -> Self {
        Answer {
            kind: Some(kind),
            error: Some(error.into()),
            ..Answer::default()
        }
    }

    /// The answer as JSON bytes.
    pub fn to_json(&self) -> String {
        // Plain data with string keys always serializes.
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"ok":false}"#.to_owned())
    }
}

/// What the gateway publishes on `errors.{topic}` when a message on `topic` was refused or
/// failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// The topic the message came on.
    pub topic: String,
    /// Why.
    pub kind: ErrorKind,
    /// What went wrong, for people.
    pub reason: String,
    /// The payload (at most 2 KiB, tokens in paths hidden).
    pub payload: String,
    /// The HTTP status, when Discord answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Discord's error body, when it answered with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord: Option<Value>,
    /// When to try again, in milliseconds, for refusals that pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorReport {
    /// The report as JSON bytes.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"kind":"bad_payload"}"#.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_omit_what_they_do_not_have() {
        let a = Answer::failed(ErrorKind::NoHolder, "no process holds shard 3");
        assert_eq!(
            a.to_json(),
            r#"{"ok":false,"kind":"no_holder","error":"no process holds shard 3"}"#
        );
        let back: Answer = serde_json::from_str(&a.to_json()).expect("back");
        assert_eq!(back, a);
        assert_eq!(ErrorKind::QueueFull.to_string(), "queue_full");
        let k: ErrorKind = serde_json::from_str("\"reply_to_not_allowed\"").expect("kind");
        assert_eq!(k.as_str(), "reply_to_not_allowed");
    }
}
