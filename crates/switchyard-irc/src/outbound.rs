//! Outbound messages on `outbound.irc.{network}.{channel}.{nick}`: the same shapes a bot
//! sends Discord (a JSON string, bare text, or a message object), read by the same parser
//! (`switchyard_core::outbound`), and turned into PRIVMSG lines. IRC carries text only: of a
//! message object, `content` is sent; `message_reference`, `allowed_mentions`, `tts`, `flags`
//! and the nonce fields are accepted and have no IRC meaning (a repeated `nonce` is dropped,
//! as Discord drops it with `enforce_nonce`); a message without `content`, a REST request and
//! a gateway command are refused.

use serde_json::Value;
use switchyard_core::Topic;
use switchyard_core::outbound::{ErrorKind, Outbound, Rejected, ReplyNamespace, parse_routed};

use crate::names::{self, Target};

/// The most bytes of text in one PRIVMSG: a line is at most 512 bytes with its CR LF, and the
/// server puts `:nick!user@host ` (up to about 100 bytes) and the target before the text.
pub(crate) const MAX_TEXT: usize = 400;

/// One outbound message, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Send {
    /// Who gets it.
    pub(crate) target: Target,
    /// The text, one PRIVMSG each.
    pub(crate) lines: Vec<String>,
    /// Where to say it was sent.
    pub(crate) reply_to: Option<Topic>,
    /// The message's nonce, if any, to drop a repeat.
    pub(crate) nonce: Option<String>,
}

/// Reads one outbound message published on `topic`, whose prefix is `prefix`
/// (`outbound.irc.{network}`).
pub(crate) fn read(prefix: &str, topic: &Topic, payload: &[u8]) -> Result<Send, Rejected> {
    let rest = topic
        .as_str()
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or("");
    let mut segments = rest.split('.');
    let (Some(channel), Some(nick), None) = (segments.next(), segments.next(), segments.next())
    else {
        return Err(Rejected::new(
            ErrorKind::NoChannel,
            format!(
                "an IRC message goes to {prefix}.{{channel}}.{{nick}} (channel 0 for a private message to the nick); {:?} is not one",
                topic.as_str()
            ),
        ));
    };
    let target = names::parse_target(channel, nick)
        .map_err(|e| Rejected::new(ErrorKind::NoChannel, e.to_string()))?;
    // The IRC target comes from the topic; the numeric channel only passes the Discord
    // shape's check that a message has somewhere to go.
    let parsed = parse_routed(topic.as_str(), Some(1), payload)?;
    let Outbound::Message { body, reply_to, .. } = parsed else {
        return Err(Rejected {
            kind: ErrorKind::BadPayload,
            reason: "IRC has no REST requests or gateway commands: send text or {\"content\": …}"
                .into(),
            reply_to: parsed.reply_to().cloned(),
        });
    };
    let refuse = |kind, reason: &str| Rejected {
        kind,
        reason: reason.to_owned(),
        reply_to: reply_to.clone(),
    };
    if let Some(r) = &reply_to
        && !ReplyNamespace::default().contains(r)
    {
        return Err(refuse(
            ErrorKind::ReplyToNotAllowed,
            "reply_to must lie under inbound.rest",
        ));
    }
    let Some(content) = body.get("content").and_then(Value::as_str) else {
        return Err(refuse(
            ErrorKind::BadPayload,
            "IRC carries text only: the message needs a string content",
        ));
    };
    let lines = split(content);
    if lines.is_empty() {
        return Err(refuse(ErrorKind::BadPayload, "the message text is empty"));
    }
    let nonce = match body.get("nonce") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Ok(Send {
        target,
        lines,
        reply_to,
        nonce,
    })
}

/// The PRIVMSG texts of `content`: one per line, empty lines left out, CR and NUL removed,
/// each at most [`MAX_TEXT`] bytes (cut between characters).
pub(crate) fn split(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in content.split('\n') {
        let clean: String = line.chars().filter(|c| !matches!(c, '\r' | '\0')).collect();
        let mut rest = clean.as_str();
        while !rest.trim().is_empty() {
            let mut cut = rest.len().min(MAX_TEXT);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(rest[..cut].to_owned());
            rest = &rest[cut..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "outbound.irc.libera";

    fn read_on(topic: &str, payload: &str) -> Result<Send, Rejected> {
        read(
            PREFIX,
            &Topic::new(topic).expect("topic"),
            payload.as_bytes(),
        )
    }

    #[test]
    fn the_discord_shapes_become_privmsgs() {
        let s = read_on("outbound.irc.libera.rust.ferris", "\"hello\"").expect("string");
        assert_eq!(s.target, Target::Channel("#rust".into()));
        assert_eq!(s.lines, ["hello"]);
        let s = read_on("outbound.irc.libera.0.ferris", "plain text").expect("text");
        assert_eq!(s.target, Target::Nick("ferris".into()));
        // What the SDK's reply sends.
        let reply = r#"{"content":"ok, you said: hi\nsecond line","message_reference":{"message_id":"1","fail_if_not_exists":false},"allowed_mentions":{"parse":[],"replied_user":false},"nonce":"abc","enforce_nonce":true,"reply_to":"inbound.rest.echo.i.1"}"#;
        let s = read_on("outbound.irc.libera.%23%23x.ferris", reply).expect("reply");
        assert_eq!(s.target, Target::Channel("##x".into()));
        assert_eq!(s.lines, ["ok, you said: hi", "second line"]);
        assert_eq!(s.nonce.as_deref(), Some("abc"));
        assert_eq!(
            s.reply_to.as_ref().map(Topic::as_str),
            Some("inbound.rest.echo.i.1")
        );
    }

    #[test]
    fn what_irc_cannot_carry_is_refused() {
        let kind = |topic: &str, payload: &str| read_on(topic, payload).expect_err(payload).kind;
        let t = "outbound.irc.libera.rust.ferris";
        assert_eq!(
            kind(t, r#"{"embeds":[{"title":"x"}]}"#),
            ErrorKind::BadPayload
        );
        assert_eq!(
            kind(t, r#"{"method":"GET","path":"/users/@me"}"#),
            ErrorKind::BadPayload
        );
        assert_eq!(
            kind(t, r#"{"command":"update_presence"}"#),
            ErrorKind::BadPayload
        );
        assert_eq!(kind(t, "\"\\n\\r\\n\""), ErrorKind::BadPayload);
        assert_eq!(kind(t, "{broken"), ErrorKind::BadJson);
        assert_eq!(
            kind(t, r#"{"content":"x","reply_to":"inbound.irc.libera.a.b"}"#),
            ErrorKind::ReplyToNotAllowed
        );
        assert_eq!(
            kind("outbound.irc.libera.rust", "\"x\""),
            ErrorKind::NoChannel
        );
        assert_eq!(
            kind("outbound.irc.libera.a.b.c", "\"x\""),
            ErrorKind::NoChannel
        );
        assert_eq!(
            kind("outbound.irc.libera.a%2.b", "\"x\""),
            ErrorKind::NoChannel
        );
        let r = read_on(t, r#"{"embeds":[],"reply_to":"inbound.rest.x.1"}"#).expect_err("r");
        assert!(r.reply_to.is_some(), "the refusal is told where asked");
    }

    #[test]
    fn long_lines_are_cut_between_characters() {
        let long = "é".repeat(300); // 600 bytes
        let lines = split(&long);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.len() <= MAX_TEXT));
        assert_eq!(lines.concat(), long);
        assert_eq!(split("a\r\n\nb\0c\n  \n"), ["a", "bc"]);
    }
}
