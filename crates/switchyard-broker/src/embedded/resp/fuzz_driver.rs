//! Fuzz driver of the RESP request parser ([`super::codec`]), shared by the cargo-fuzz target
//! `resp_codec` (which includes this file and `codec.rs` by path) and the corpus replay
//! below.
//!
//! An input is two control bytes (the request limit, whether the client authenticated, and a
//! chunk size) and the bytes a client sends. Whatever they are: no panic; the requests and
//! the error are the same whether the bytes arrive at once or in chunks; no request is empty
//! or larger than the limits allow; every error is a `Protocol error` of a known kind.

use bytes::{Bytes, BytesMut};

use super::codec::{INLINE_MAX, ProtocolError, RequestParser};

type Parsed = (Vec<Vec<Bytes>>, Option<ProtocolError>);

/// Feeds `input` to a parser `step` bytes at a time.
fn parse(input: &[u8], max_request: usize, authenticated: bool, step: usize) -> Parsed {
    let mut parser = RequestParser::new(max_request);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in input.chunks(step.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            match parser.next(&mut buf, authenticated) {
                Ok(Some(args)) => out.push(args),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

/// Checks one input; panics on a broken promise.
pub fn run(data: &[u8]) {
    // Beyond INLINE_MAX, when a header line is refused as too long depends on how the bytes
    // arrive, in Redis as here.
    let Some((ctl, input)) = data.split_first_chunk::<2>() else {
        return;
    };
    if input.len() > INLINE_MAX {
        return;
    }
    let max_request = 16 + usize::from(ctl[0]) * 64;
    let authenticated = ctl[1] & 1 != 0;
    let step = usize::from(ctl[1] >> 1).max(1);
    let whole = parse(input, max_request, authenticated, input.len());
    let chunked = parse(input, max_request, authenticated, step);
    assert_eq!(whole, chunked, "at once and in chunks of {step}");
    for request in &whole.0 {
        assert!(!request.is_empty(), "empty requests are skipped");
        let size: usize = request.iter().map(Bytes::len).sum();
        assert!(size <= max_request.max(INLINE_MAX), "{size} bytes");
    }
    if let Some(e) = &whole.1 {
        assert!(matches!(e.kind, "protocol" | "oversized"), "{e:?}");
        assert!(e.message.starts_with(b"Protocol error"), "{e:?}");
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn the_resp_fuzz_corpus_replays_without_a_fault() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/resp_codec");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            super::run(&std::fs::read(&path).expect("read corpus file"));
            n += 1;
        }
        assert!(n >= 5, "only {n} corpus files in {}", dir.display());
    }
}
