//! A quick look at a JSON object's top-level keys: the raw values of the few keys an event
//! needs (its ids), every other value skipped by its brackets and quotes without being read.
//! It does not check the JSON: what the cache keeps after such a look is kept as text and
//! checked when it is read (see `Stored`), and a payload it cannot follow is read by serde
//! instead, which says what is wrong.

use crate::id::Id;

/// The raw values of `keys` at the top level of the object `json` (the first of each),
/// `None` where a key is absent; `None` altogether when `json` is not an object this look
/// can follow.
pub(crate) fn top_level<'a, const N: usize>(
    json: &'a str,
    keys: [&str; N],
) -> Option<[Option<&'a str>; N]> {
    let b = json.as_bytes();
    let mut found = [None; N];
    let mut left = N;
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(found);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let key = json.get(i + 1..key_end - 1)?;
        i = ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = ws(b, i + 1);
        let end = value_end(b, start)?;
        if let Some(k) = keys.iter().position(|k| *k == key)
            && found[k].is_none()
        {
            found[k] = Some(json.get(start..end)?);
            left -= 1;
            if left == 0 {
                return Some(found);
            }
        }
        i = ws(b, end);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b'}') => return Some(found),
            _ => return None,
        }
    }
}

/// A raw value as a snowflake (a string of digits, or a number); `None` for `null` or
/// anything else.
pub(crate) fn id(raw: &str) -> Option<Id> {
    let digits = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Id)
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The bytes of `w` equal to zero, as their high bits (exact up to the first one, which is
/// all that is used).
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGH
}

/// The first byte at or after `i` that `hit` flags, eight bytes at a time.
fn find(
    b: &[u8],
    mut i: usize,
    hit: impl Fn(u64) -> u64,
    one: impl Fn(u8) -> bool,
) -> Option<usize> {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mask = hit(u64::from_le_bytes(word));
        if mask != 0 {
            return Some(i + (mask.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|c| one(*c)).map(|at| i + at)
}

/// The end (past the closing quote) of the string starting at `i`.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i = find(
            b,
            i,
            |w| {
                zero_bytes(w ^ (ONES * u64::from(b'"'))) | zero_bytes(w ^ (ONES * u64::from(b'\\')))
            },
            |c| c == b'"' || c == b'\\',
        )?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// The next quote or bracket at or after `i` (`[` and `{` differ in one bit, as `]` and `}`).
fn structural(b: &[u8], i: usize) -> Option<usize> {
    find(
        b,
        i,
        |w| {
            let folded = w | (ONES * 0x20);
            zero_bytes(w ^ (ONES * u64::from(b'"')))
                | zero_bytes(folded ^ (ONES * u64::from(b'{')))
                | zero_bytes(folded ^ (ONES * u64::from(b'}')))
        },
        |c| matches!(c, b'"' | b'{' | b'}' | b'[' | b']'),
    )
}

/// The end of the value starting at `i`.
fn value_end(b: &[u8], mut i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                i = structural(b, i)?;
                match b.get(i)? {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let start = i;
            while let Some(c) = b.get(i) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_keys_past_nested_ones() {
        let json = r#"{"member":{"id":"1","roles":["2"]},"content":"a \"quoted\" } ] {","id" : "42",
            "n": -1.5e3, "embeds":[{"id":"3"},[]], "channel_id":"7", "x": null}"#;
        let [id, channel, missing] = top_level(json, ["id", "channel_id", "nope"]).expect("scan");
        assert_eq!(id, Some(r#""42""#));
        assert_eq!(channel, Some(r#""7""#));
        assert_eq!(missing, None);
        assert_eq!(id.and_then(self::id), Some(Id(42)));
        assert_eq!(self::id("null"), None);
        assert_eq!(self::id("17"), Some(Id(17)));
    }

    #[test]
    fn agrees_with_serde_at_every_alignment() {
        for pad in 0..24 {
            let filler = "x".repeat(pad);
            let value = serde_json::json!({
                "a": format!("{filler} [{{ \" \\ }}] \u{1F525} ✨ \n"),
                "nested": {"id": "9", "list": [[1, 2], {"k": "]}"}, "{", filler]},
                "id": "1234567890123456789",
                "tail": [filler, {"x": null}],
                "channel_id": 77,
            });
            let json = value.to_string();
            let [id, channel, tail] = top_level(&json, ["id", "channel_id", "tail"]).expect("scan");
            assert_eq!(id, Some(r#""1234567890123456789""#), "{json}");
            assert_eq!(channel, Some("77"));
            let tail: serde_json::Value = serde_json::from_str(tail.expect("tail")).expect("json");
            assert_eq!(tail, value["tail"]);
        }
    }

    #[test]
    fn what_it_cannot_follow_is_none() {
        for json in [
            "",
            "[]",
            r#"{"id""#,
            r#"{"id":"1""#,
            r#"{"a":{"b":1}"#,
            r#"{"a" 1}"#,
        ] {
            assert!(top_level(json, ["id", "x"]).is_none(), "{json}");
        }
        assert_eq!(top_level("{ }", ["id"]), Some([None]));
    }
}
