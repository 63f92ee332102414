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
//! | `synthetic` | only on events the gateway made up rather than received: why (`"rebuild"`) |
//! | `epoch` | in a shard pool: the epoch of the shard's grant to the node that published it; a consumer that saw a higher one for the shard drops the event (a node that lost the shard sent it) |
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
    /// The epoch of the shard's grant, in a shard pool (not part of the id).
    pub epoch: Option<u64>,
}

/// The deterministic id of an event: 32 hex digits of a 128-bit XXH3 hash of bot, shard,
/// session and sequence. The same event replayed after a RESUME gets the same id.
pub fn event_id(source: &Source<'_>, seq: u64) -> [u8; 32] {
    hex32(id_hash(source, seq))
}

/// The hash behind [`event_id`]: XXH3-128 of `bot`, a zero byte, the shard (little-endian
/// `u32`), `session`, a zero byte and the sequence (little-endian `u64`). Hashed in one call
/// from a stack buffer when the names are short (they always are), else streamed; both give
/// the same hash.
fn id_hash(source: &Source<'_>, seq: u64) -> u128 {
    const CAP: usize = 128;
    let (bot, session) = (source.bot.as_bytes(), source.session.as_bytes());
    let len = bot.len() + session.len() + 14;
    if len > CAP {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(bot);
        hasher.update(&[0]);
        hasher.update(&source.shard.to_le_bytes());
        hasher.update(session);
        hasher.update(&[0]);
        hasher.update(&seq.to_le_bytes());
        return hasher.digest128();
    }
    let mut buf = [0u8; CAP];
    let mut at = 0;
    for part in [
        bot,
        &[0],
        &source.shard.to_le_bytes(),
        session,
        &[0],
        &seq.to_le_bytes(),
    ] {
        buf[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    xxhash_rust::xxh3::xxh3_128(&buf[..at])
}

/// A 128-bit value as 32 lowercase hex digits, most significant first.
fn hex32(value: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (pair, byte) in out
        .as_chunks_mut::<2>()
        .0
        .iter_mut()
        .zip(value.to_be_bytes())
    {
        *pair = HEX_PAIRS[usize::from(byte)];
    }
    out
}

/// Every byte's two hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    table
};

/// The id of an event the gateway made up (see [`encode_synthetic_into`]): like
/// [`event_id`], from bot, shard and session, with the sequence of the event that led to it
/// and its index among those it led to, so that making the same events up again gives the
/// same ids, and none is an id of an event Discord sent.
pub fn synthetic_id(source: &Source<'_>, after_seq: u64, index: u32) -> [u8; 32] {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(source.bot.as_bytes());
    hasher.update(&[0]);
    hasher.update(&source.shard.to_le_bytes());
    hasher.update(source.session.as_bytes());
    hasher.update(&[0]);
    hasher.update(&after_seq.to_le_bytes());
    hasher.update(b"\0synthetic\0");
    hasher.update(&index.to_le_bytes());
    hex32(hasher.digest128())
}

/// Writes the envelope for `dispatch` into `out` (appending), splicing `d` in raw.
/// `old` is the raw previous state, if a cache has one. Returns the envelope's `id` (see
/// [`event_id`]), so that a publisher deduplicating by it need not hash again.
pub fn encode_into(
    out: &mut Vec<u8>,
    source: &Source<'_>,
    dispatch: &Dispatch<'_>,
    received_ms: u64,
    old: Option<&str>,
) -> [u8; 32] {
    let id = event_id(source, dispatch.seq.unwrap_or(0));
    encode(out, source, dispatch, received_ms, old, &id, None);
    id
}

/// Writes the envelope of an event the gateway made up rather than received (the update
/// events a cache rebuild tells, for one): `seq` is null, `id` is [`synthetic_id`]`(source,
/// after_seq, index)`, and `synthetic` says why (`reason`). Returns the id.
pub fn encode_synthetic_into(
    out: &mut Vec<u8>,
    source: &Source<'_>,
    dispatch: &Dispatch<'_>,
    received_ms: u64,
    old: Option<&str>,
    (reason, after_seq, index): (&str, u64, u32),
) -> [u8; 32] {
    let id = synthetic_id(source, after_seq, index);
    let dispatch = Dispatch {
        seq: None,
        ..dispatch.clone()
    };
    encode(out, source, &dispatch, received_ms, old, &id, Some(reason));
    id
}

fn encode(
    out: &mut Vec<u8>,
    source: &Source<'_>,
    dispatch: &Dispatch<'_>,
    received_ms: u64,
    old: Option<&str>,
    id: &[u8; 32],
    synthetic: Option<&str>,
) {
    let mut num = itoa::Buffer::new();
    let names = source.platform.len()
        + 2 * source.bot.len()
        + dispatch.event.len()
        + synthetic.map_or(0, str::len);
    // Escaping grows a name at most sixfold; the fixed parts and numbers fit in 200.
    out.reserve(dispatch.data.len() + old.map_or(0, |o| o.len() + 7) + 6 * names + 220);
    out.extend_from_slice(b"{\"v\":");
    out.extend_from_slice(num.format(ENVELOPE_VERSION).as_bytes());
    out.extend_from_slice(b",\"id\":\"");
    out.extend_from_slice(id);
    out.extend_from_slice(b"\",\"s\":\"");
    escape_into(out, source.platform);
    out.push(b'/');
    escape_into(out, source.bot);
    out.push(b'/');
    let shard = num.format(source.shard).as_bytes();
    out.extend_from_slice(shard);
    out.extend_from_slice(b"\",\"t\":\"");
    escape_into(out, &dispatch.event);
    out.extend_from_slice(b"\",\"seq\":");
    let mut seq_buf = itoa::Buffer::new();
    match dispatch.seq {
        Some(seq) => out.extend_from_slice(seq_buf.format(seq).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"shard\":");
    out.extend_from_slice(shard);
    out.extend_from_slice(b",\"bot\":\"");
    escape_into(out, source.bot);
    out.extend_from_slice(b"\",\"received_ms\":");
    out.extend_from_slice(seq_buf.format(received_ms).as_bytes());
    out.extend_from_slice(b",\"d\":");
    out.extend_from_slice(dispatch.data.as_bytes());
    if let Some(old) = old {
        out.extend_from_slice(b",\"old\":");
        out.extend_from_slice(old.as_bytes());
    }
    if let Some(reason) = synthetic {
        out.extend_from_slice(b",\"synthetic\":\"");
        escape_into(out, reason);
        out.push(b'"');
    }
    if let Some(epoch) = source.epoch {
        out.extend_from_slice(b",\"epoch\":");
        out.extend_from_slice(num.format(epoch).as_bytes());
    }
    out.push(b'}');
}

/// The envelope `encoded` (as [`encode_into`] wrote it) without its pool epoch, or None when
/// it has none. A gateway node that lost a shard sends, this way, the events of a session no
/// other node can resume: nobody else sends them, so no consumer should refuse them as a
/// former owner's. The epoch is the envelope's last field, so this is a cut, not a parse: no
/// value can end in `,"epoch":` and digits right before the envelope's closing brace.
pub fn without_epoch(encoded: &[u8]) -> Option<Vec<u8>> {
    let body = encoded.strip_suffix(b"}")?;
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let head = body[..body.len() - digits].strip_suffix(b",\"epoch\":")?;
    if digits == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + 1);
    out.extend_from_slice(head);
    out.push(b'}');
    Some(out)
}

/// Appends the JSON-escaped content of `s`, without quotes: in one copy when nothing needs
/// escaping (the usual case), else byte by byte.
#[inline]
fn escape_into(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
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

/// Whether any byte is a quote, a backslash or a control character: a word at a time, with
/// overlapping words covering the ends (names are short).
#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    if let (Some(first), Some(last)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        let (chunks, _) = bytes.as_chunks::<8>();
        return chunks.iter().any(|c| special(u64::from_le_bytes(*c)))
            || special(u64::from_le_bytes(*last))
            || special(u64::from_le_bytes(*first));
    }
    if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        // Four to seven bytes: two overlapping halves, as one word.
        let word =
            u64::from(u32::from_le_bytes(*first)) | (u64::from(u32::from_le_bytes(*last)) << 32);
        return special(word);
    }
    bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Whether any byte of `x` is below 0x20, a quote or a backslash (SWAR: a byte below `k`
/// sets its high bit in `(x - k) & !x`, exactly so for k up to 0x80 when any byte is).
#[inline]
fn special(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, k: u64| x.wrapping_sub(ONES * k) & !x;
    let quote = x ^ (ONES * u64::from(b'"'));
    let backslash = x ^ (ONES * u64::from(b'\\'));
    (below(x, 0x20) | below(quote, 1) | below(backslash, 1)) & HIGH != 0
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
    /// Set only on an event the gateway made up rather than received from Discord: why
    /// (`"rebuild"`: a cache rebuilt after a lost session tells what changed meanwhile).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<Cow<'a, str>>,
    /// In a shard pool, the epoch of the shard's grant to the node that published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
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
mod tests;
