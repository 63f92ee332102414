//! Nonces for the messages a handler creates. A nonce is derived from the bot, the handler,
//! the event's deterministic id and how many messages the handler created before, so the
//! answer to a redelivered event (a bot that crashed before acknowledging it) carries the
//! same nonce as the first time; sent with `enforce_nonce`, Discord then returns the message
//! it created a few minutes earlier instead of posting it twice.

use serde_json::Value;

/// The nonce of the `n`th message (from 0) that handler `handler` of bot `bot` creates for
/// the event `event_id`: `sy` and 16 hex digits.
pub(crate) fn derive(bot: &str, handler: &str, event_id: &str, n: u32) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [bot, handler, event_id] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    h.update(&n.to_le_bytes());
    format!("sy{:016x}", h.digest())
}

/// Adds `nonce` (made by `make`) and `enforce_nonce` to a message object that has no nonce
/// of its own; anything else is left alone.
pub(crate) fn stamp(body: &mut Value, make: impl FnOnce() -> String) {
    if let Value::Object(obj) = body
        && obj.get("nonce").is_none_or(Value::is_null)
    {
        obj.insert("nonce".into(), Value::String(make()));
        obj.insert("enforce_nonce".into(), Value::Bool(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest nonce Discord accepts.
    const MAX_LEN: usize = 25;

    #[test]
    fn nonces_are_stable_short_and_distinct() {
        let a = derive("echo", "reply", "0123abcd", 0);
        assert_eq!(a, derive("echo", "reply", "0123abcd", 0), "stable");
        assert!(a.len() <= MAX_LEN, "{a}");
        for other in [
            derive("echo", "reply", "0123abcd", 1),
            derive("echo", "reply", "0123abce", 0),
            derive("echo", "other", "0123abcd", 0),
            derive("echo2", "reply", "0123abcd", 0),
            // the parts are separated: moving a character across does not collide
            derive("ech", "oreply", "0123abcd", 0),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn stamp_keeps_a_nonce_of_the_callers() {
        let mut own = serde_json::json!({"content": "x", "nonce": "mine"});
        stamp(&mut own, || "sy1".into());
        assert_eq!(own, serde_json::json!({"content": "x", "nonce": "mine"}));
        let mut plain = serde_json::json!({"content": "x"});
        stamp(&mut plain, || "sy1".into());
        assert_eq!(
            plain,
            serde_json::json!({"content": "x", "nonce": "sy1", "enforce_nonce": true})
        );
    }
}
