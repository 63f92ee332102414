//! The envelope every inbound event is published in.
//!
//! It keeps the amybot seed's `{s, t, d}` shape and adds explicit fields:
//!
//! | field | meaning |
//! |---|---|
//! | `v` | envelope version, currently [`ENVELOPE_VERSION`] |
//! | `id` | deterministic id: a hash of bot, shard, session and sequence; a replayed event has the same id |
//! | `s` | **the source, `{platform}/{bot}/{shard}` — not Discord's sequence number** |
//! | `t` | the event name, such as `MESSAGE_CREATE` |
//! | `seq` | Discord's sequence number |
//! | `shard` | the shard id the event came in on |
//! | `bot` | the bot's configured name |
//! | `received_ms` | when the gateway received the event, Unix milliseconds |
//! | `d` | the raw Discord payload, byte for byte as Discord sent it |
//! | `old` | the previous cached state, when a cache provides it (absent otherwise) |
//!
//! Encoding splices the raw `d` into the output; it never parses or re-serializes it.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::route::Dispatch;

/// The envelope version this crate writes and the highest it reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// Where an event came from, for the envelope's `s` and `id`.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The platform, `discord`.
    pub platform: &'a str,
    /// The bot's configured name.
    pub bot: &'a str,
    /// The shard id.
    pub shard: u32,
    /// The gateway session the event arrived in.
    pub session: &'a str,
}

/// The deterministic id of an event: 32 hex digits of a 128-bit XXH3 hash of bot, shard,
/// session and sequence. The same event replayed after a RESUME gets the same id.
pub fn event_id(source: &Source<'_>, seq: u64) -> [u8; 32] {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(source.bot.as_bytes());
    hasher.update(&[0]);
    hasher.update(&source.shard.to_le_bytes());
    hasher.update(source.session.as_bytes());
    hasher.update(&[0]);
    hasher.update(&seq.to_le_bytes());
    let hash = hasher.digest128();
    let mut out = [0u8; 32];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in hash.to_be_bytes().iter().enumerate() {
        out[2 * i] = HEX[usize::from(byte >> 4)];
        out[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

/// Writes the envelope for `dispatch` into `out` (appending), splicing `d` in raw.
/// `old` is the raw previous state, if a cache has one.
pub fn encode_into(
    out: &mut Vec<u8>,
    source: &Source<'_>,
    dispatch: &Dispatch<'_>,
    received_ms: u64,
    old: Option<&str>,
) {
    let mut num = itoa::Buffer::new();
    out.reserve(dispatch.data.len() + 256);
    out.extend_from_slice(b"{\"v\":");
    out.extend_from_slice(num.format(ENVELOPE_VERSION).as_bytes());
    out.extend_from_slice(b",\"id\":\"");
    out.extend_from_slice(&event_id(source, dispatch.seq.unwrap_or(0)));
    out.extend_from_slice(b"\",\"s\":\"");
    escape_into(out, source.platform);
    out.push(b'/');
    escape_into(out, source.bot);
    out.push(b'/');
    out.extend_from_slice(num.format(source.shard).as_bytes());
    out.push(b'"');
    out.extend_from_slice(b",\"t\":");
    write_json_str(out, &dispatch.event);
    out.extend_from_slice(b",\"seq\":");
    match dispatch.seq {
        Some(seq) => out.extend_from_slice(num.format(seq).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"shard\":");
    out.extend_from_slice(num.format(source.shard).as_bytes());
    out.extend_from_slice(b",\"bot\":");
    write_json_str(out, source.bot);
    out.extend_from_slice(b",\"received_ms\":");
    out.extend_from_slice(num.format(received_ms).as_bytes());
    out.extend_from_slice(b",\"d\":");
    out.extend_from_slice(dispatch.data.as_bytes());
    if let Some(old) = old {
        out.extend_from_slice(b",\"old\":");
        out.extend_from_slice(old.as_bytes());
    }
    out.push(b'}');
}

/// Appends `s` as a JSON string.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// Appends the JSON-escaped content of `s`, without quotes.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..0x20 => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            _ => out.push(b),
        }
    }
}

/// Why an envelope could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or not the envelope's shape.
    #[error("not a valid envelope: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a newer Switchyard.
    #[error("envelope version {0} is newer than this reader supports ({ENVELOPE_VERSION})")]
    UnsupportedVersion(u32),
}

/// A decoded envelope, borrowing from the message bytes. `d` and `old` stay raw JSON; parse
/// them into the types you need (twilight-model's, for example).
///
/// ```
/// use switchyard_core::Envelope;
/// let bytes = br#"{"v":1,"id":"ab","s":"discord/b/0","t":"TYPING_START","seq":3,
///   "shard":0,"bot":"b","received_ms":5,"d":{"channel_id":"1"}}"#;
/// let env = Envelope::decode(bytes)?;
/// assert_eq!(env.t, "TYPING_START");
/// assert_eq!(env.d.get(), r#"{"channel_id":"1"}"#);
/// # Ok::<(), switchyard_core::envelope::EnvelopeError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<'a> {
    /// Envelope version.
    pub v: u32,
    /// Deterministic event id, for deduplication.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// The source, `{platform}/{bot}/{shard}` (not a sequence number).
    #[serde(borrow)]
    pub s: Cow<'a, str>,
    /// The event name.
    #[serde(borrow)]
    pub t: Cow<'a, str>,
    /// Discord's sequence number.
    pub seq: Option<u64>,
    /// The shard id.
    pub shard: u32,
    /// The bot's configured name.
    #[serde(borrow)]
    pub bot: Cow<'a, str>,
    /// When the gateway received the event, Unix milliseconds.
    pub received_ms: u64,
    /// The raw Discord payload.
    #[serde(borrow)]
    pub d: &'a RawValue,
    /// The previous cached state, when known.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub old: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Decodes an envelope, refusing versions newer than this crate knows.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        let env: Envelope<'a> = serde_json::from_slice(bytes)?;
        if env.v > ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(env.v));
        }
        Ok(env)
    }

    /// Parses `d` into a type of your choice.
    pub fn data<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.d.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::parse_dispatch;

    const SOURCE: Source<'static> = Source {
        platform: "discord",
        bot: "echo",
        shard: 2,
        session: "abc",
    };

    #[test]
    fn encode_splices_d_byte_for_byte_and_decodes() {
        let frame = r#"{"op":0,"s":41,"t":"MESSAGE_CREATE","d":{"content":"h\u00e9 \"x\"",  "id":"1", "channel_id":"2","author":{"id":"3"}}}"#;
        let dispatch = parse_dispatch(frame).expect("routable");
        let mut out = Vec::new();
        encode_into(&mut out, &SOURCE, &dispatch, 1_700_000_000_000, None);
        let env = Envelope::decode(&out).expect("decodes");
        assert_eq!(env.s, "discord/echo/2");
        assert_eq!(env.t, "MESSAGE_CREATE");
        assert_eq!(env.seq, Some(41));
        assert_eq!(env.shard, 2);
        assert_eq!(env.received_ms, 1_700_000_000_000);
        assert_eq!(env.d.get(), dispatch.data);
        assert!(env.old.is_none());
        assert_eq!(env.id.len(), 32);
    }

    #[test]
    fn id_is_deterministic_and_distinguishes_sessions_and_seqs() {
        let a = event_id(&SOURCE, 5);
        assert_eq!(a, event_id(&SOURCE, 5));
        assert_ne!(a, event_id(&SOURCE, 6));
        let other = Source {
            session: "abd",
            ..SOURCE
        };
        assert_ne!(a, event_id(&other, 5));
    }

    #[test]
    fn newer_versions_and_garbage_are_refused() {
        let newer = br#"{"v":99,"id":"x","s":"a","t":"T","seq":1,"shard":0,"bot":"b","received_ms":1,"d":{}}"#;
        assert!(matches!(
            Envelope::decode(newer),
            Err(EnvelopeError::UnsupportedVersion(99))
        ));
        assert!(matches!(
            Envelope::decode(b"{\"v\":1"),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
