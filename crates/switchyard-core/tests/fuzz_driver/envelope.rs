//! Fuzz driver of the envelope, shared by the cargo-fuzz target `envelope` and the corpus
//! replay (`tests/fuzz_corpus.rs`): encode then decode gives back what went in, whatever the
//! names (quotes, backslashes, control characters, any Unicode) and whatever JSON `d` and
//! `old` hold, for received and synthetic events alike.
//!
//! An input is a 21-byte header (shard: 4 bytes, sequence and received time: 8 each, and one
//! byte of flags) and then platform, bot, session, event, `d`, `old` and the synthetic reason
//! separated by NUL bytes. Flags: 1 a sequence, 2 an `old`, 4 synthetic, 8 an epoch (the
//! sequence).

use serde_json::value::RawValue;
use switchyard_core::envelope::{
    ENVELOPE_VERSION, encode_into, encode_synthetic_into, event_id, synthetic_id,
};
use switchyard_core::{Dispatch, Envelope, RoutingIds, Source};

/// JSON text as a producer splices it: the value without surrounding whitespace.
fn json(text: &str) -> Option<&str> {
    serde_json::from_str::<&RawValue>(text)
        .ok()
        .map(|r| r.get())
}

/// Checks one input; panics on a difference.
pub fn run(data: &[u8]) {
    let Some((header, rest)) = data.split_first_chunk::<21>() else {
        return;
    };
    let shard = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let number = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let (seq, received_ms, flags) = (number(4), number(12), header[20]);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut fields = text.split('\0');
    let mut next = || fields.next().unwrap_or("");
    let (platform, bot, session, event) = (next(), next(), next(), next());
    let (d, old, reason) = (next(), next(), next());
    let Some(d) = json(d) else {
        return;
    };
    let old = if flags & 2 != 0 { json(old) } else { None };
    let source = Source {
        platform,
        bot,
        shard,
        session,
        epoch: (flags & 8 != 0).then_some(seq),
    };
    let dispatch = Dispatch {
        event: event.into(),
        seq: (flags & 1 != 0).then_some(seq),
        data: d,
        ids: RoutingIds::default(),
    };
    let synthetic = flags & 4 != 0;
    let mut out = Vec::new();
    let id = if synthetic {
        let index = (received_ms >> 32) as u32;
        let id = encode_synthetic_into(
            &mut out,
            &source,
            &dispatch,
            received_ms,
            old,
            (reason, seq, index),
        );
        assert_eq!(id, synthetic_id(&source, seq, index));
        id
    } else {
        let id = encode_into(&mut out, &source, &dispatch, received_ms, old);
        assert_eq!(id, event_id(&source, dispatch.seq.unwrap_or(0)));
        id
    };
    let env = Envelope::decode(&out).unwrap_or_else(|e| {
        panic!(
            "the encoder wrote an envelope its decoder refuses ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(env.v, ENVELOPE_VERSION);
    assert_eq!(env.id.as_bytes(), id);
    assert_eq!(env.s, format!("{platform}/{bot}/{shard}"));
    assert_eq!(env.t, event);
    assert_eq!(env.seq, if synthetic { None } else { dispatch.seq });
    assert_eq!(env.shard, shard);
    assert_eq!(env.bot, bot);
    assert_eq!(env.received_ms, received_ms);
    assert_eq!(env.d.get(), d);
    // An `old` of `null` reads back as absent: to a consumer, no previous state either way.
    assert_eq!(env.old.map(RawValue::get), old.filter(|o| *o != "null"));
    assert_eq!(env.synthetic.as_deref(), synthetic.then_some(reason));
    assert_eq!(env.epoch, source.epoch);
}
