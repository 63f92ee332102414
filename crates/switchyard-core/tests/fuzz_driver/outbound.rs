//! Fuzz driver of the outbound payload parser (`switchyard_core::outbound::parse` and
//! `parse_command`), shared by the cargo-fuzz target `outbound` and the corpus replay
//! (`tests/fuzz_corpus.rs`).
//!
//! An input is a topic, a NUL byte, and a payload. Whatever they hold: no panic; a message
//! goes to the topic's channel, which is never 0; a REST request written back as a payload
//! reads as the same request; a gateway command's frame is JSON with its op; a refusal says
//! why.

use switchyard_core::outbound::{Outbound, parse, parse_command, topic_channel};

/// Checks one input; panics on a broken promise.
pub fn run(data: &[u8]) {
    let (topic, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"outbound.discord.1.2.3"[..], data),
    };
    let Ok(topic) = std::str::from_utf8(topic) else {
        return;
    };
    match parse(topic, payload) {
        Ok(Outbound::Message { channel, body, .. }) => {
            assert_eq!(Some(channel), topic_channel(topic), "{topic:?}");
            assert_ne!(channel, 0);
            assert!(body.is_object(), "a message body is an object: {body}");
        }
        Ok(Outbound::Request { call, reply_to }) => {
            let again = call.to_payload(reply_to.as_ref()).to_string();
            match parse(topic, again.as_bytes()) {
                Ok(Outbound::Request {
                    call: call2,
                    reply_to: reply2,
                }) => {
                    assert_eq!(call2, call, "{again}");
                    assert_eq!(reply2, reply_to, "{again}");
                }
                other => panic!("{again} written from a request reads as {other:?}"),
            }
        }
        Ok(Outbound::Command { command, .. }) => {
            let frame: serde_json::Value =
                serde_json::from_str(&command.to_frame(Some("n"))).expect("a frame is JSON");
            assert_eq!(frame["op"], u64::from(command.op()));
        }
        Err(rejected) => assert!(!rejected.reason.is_empty()),
    }
    match parse_command(payload) {
        Ok(message) => {
            let frame = message.command.to_frame(None);
            assert!(
                serde_json::from_str::<serde_json::Value>(&frame).is_ok(),
                "{frame}"
            );
        }
        Err(rejected) => assert!(!rejected.reason.is_empty()),
    }
}
