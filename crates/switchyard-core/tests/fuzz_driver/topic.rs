//! Fuzz driver of topics and patterns, shared by the cargo-fuzz target `topics` and the
//! corpus replay (`tests/fuzz_corpus.rs`).
//!
//! An input is a pattern, a NUL byte, and a topic. Differential against the plain reference
//! below, written from the rules (docs/topics.md and `switchyard_core::topic`): which names
//! are valid topics and patterns, whether a pattern matches (on any string, as brokers
//! re-check deliveries), and that the Redis glob of a pattern matches at least what the
//! pattern does.

use switchyard_core::{Pattern, Topic};

const MAX: usize = 1024;

/// The rules topics and patterns share.
fn common_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split('.').all(|seg| !seg.is_empty())
}

fn topic_ok(s: &str) -> bool {
    common_ok(s) && !s.contains('*') && !s.contains('>')
}

fn pattern_ok(s: &str) -> bool {
    let segs: Vec<&str> = s.split('.').collect();
    common_ok(s)
        && segs.iter().enumerate().all(|(i, seg)| match *seg {
            "*" => true,
            ">" => i == segs.len() - 1,
            other => !other.contains('*') && !other.contains('>'),
        })
}

/// `*` one non-empty segment, literals equal, and `>` the rest, which must begin with a
/// non-empty segment (on a valid topic: one or more segments; on any other string what
/// follows that first segment is not looked at, as a broker re-checking a delivery needs).
fn reference_match(pattern: &[&str], topic: &[&str]) -> bool {
    match (pattern.split_first(), topic.split_first()) {
        (None, None) => true,
        (Some((&">", _)), Some((t, _))) => !t.is_empty(),
        (Some((&"*", rest)), Some((t, trest))) => !t.is_empty() && reference_match(rest, trest),
        (Some((lit, rest)), Some((t, trest))) => lit == t && reference_match(rest, trest),
        _ => false,
    }
}

/// Redis's glob for the subset the pattern translation writes: `*` any run of bytes, `\x`
/// the byte `x`, anything else itself (dynamic programming, linear in each length).
fn glob_match(glob: &[u8], s: &[u8]) -> bool {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < glob.len() {
        match glob[i] {
            b'*' => tokens.push(None),
            b'\\' if i + 1 < glob.len() => {
                i += 1;
                tokens.push(Some(glob[i]));
            }
            c => tokens.push(Some(c)),
        }
        i += 1;
    }
    // ok[j]: the tokens so far match s[..j].
    let mut ok = vec![false; s.len() + 1];
    ok[0] = true;
    for token in tokens {
        let mut next = vec![false; s.len() + 1];
        match token {
            None => {
                let mut any = false;
                for j in 0..=s.len() {
                    any |= ok[j];
                    next[j] = any;
                }
            }
            Some(c) => {
                for j in 1..=s.len() {
                    next[j] = ok[j - 1] && s[j - 1] == c;
                }
            }
        }
        ok = next;
    }
    ok[s.len()]
}

/// Checks one input; panics on a disagreement.
pub fn run(data: &[u8]) {
    let (p, t) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let (Ok(p), Ok(t)) = (std::str::from_utf8(p), std::str::from_utf8(t)) else {
        return;
    };
    let topic = Topic::new(t);
    assert_eq!(topic.is_ok(), topic_ok(t), "topic {t:?}: {topic:?}");
    if let Ok(topic) = &topic {
        assert_eq!(topic.as_str(), t);
        assert_eq!(topic.segments().collect::<Vec<_>>().join("."), t);
        assert!(Topic::check(t).is_ok());
    }
    let pattern = Pattern::new(p);
    assert_eq!(pattern.is_ok(), pattern_ok(p), "pattern {p:?}: {pattern:?}");
    let Ok(pattern) = pattern else {
        return;
    };
    assert_eq!(pattern.as_str(), p);
    let segs: Vec<&str> = p.split('.').collect();
    let parts: Vec<&str> = t.split('.').collect();
    let matched = pattern.matches(t);
    assert_eq!(matched, reference_match(&segs, &parts), "{p:?} on {t:?}");
    assert_eq!(
        pattern.is_literal(),
        !segs.iter().any(|s| *s == "*" || *s == ">")
    );
    if pattern.is_literal() {
        assert_eq!(
            matched,
            p == t,
            "a literal pattern {p:?} matches only itself, not {t:?}"
        );
    }
    if matched {
        let glob = pattern.to_redis_glob();
        assert!(
            glob_match(glob.as_bytes(), t.as_bytes()),
            "{p:?} matches {t:?} but its glob {glob:?} does not"
        );
    }
}
