//! Fuzz driver of the routing scanner (`switchyard_core::parse_dispatch`), shared by the
//! cargo-fuzz target `route_scan` and the corpus replay (`tests/fuzz_corpus.rs`).
//!
//! Differential against serde_json: wherever serde_json reads the frame as an object (with
//! `t` and `d` once each at the top), the scanner does not call it malformed, and whatever it
//! extracts (event, sequence, raw `d`, guild, channel and user ids) agrees with a reference
//! that reads the same paths from serde_json's view of the frame. What only the scanner
//! accepts lies inside values it skips by design; duplicate `t` or `d` keys are left out
//! (the scanner decides which keys of `d` to read from the `t` it has seen so far).

use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use switchyard_core::route::{RouteError, parse_dispatch};

/// An object's keys in order, with their raw values.
struct Pairs<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Pairs<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Pairs<'a>, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'a RawValue>()? {
                    out.push((k, v));
                }
                Ok(Pairs(out))
            }
        }
        deserializer.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The object in `raw`, last key wins (as in the scanner), or `None` for anything else.
fn object(raw: &RawValue) -> Option<BTreeMap<String, &RawValue>> {
    let Pairs(pairs) = serde_json::from_str(raw.get()).ok()?;
    Some(pairs.into_iter().collect())
}

/// The reference snowflake: `null` is absent; a string's decoded text or a number's text
/// must be a `u64` as `str::parse` reads it.
fn snowflake(raw: Option<&RawValue>) -> Result<Option<u64>, ()> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    let digits = if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|_| ())?
    } else {
        text.to_owned()
    };
    digits.parse::<u64>().map(Some).map_err(|_| ())
}

/// `obj[key].id`, when `obj[key]` is an object.
fn nested<'a>(obj: &BTreeMap<String, &'a RawValue>, key: &str) -> Option<&'a RawValue> {
    object(obj.get(key)?)?.get("id").copied()
}

/// The reference ids of `d` under the rule of `event` (discord-protocol.md, A5).
fn ids(event: &str, d: &BTreeMap<String, &RawValue>) -> Result<[Option<u64>; 3], ()> {
    let get = |k: &str| d.get(k).copied();
    let member_user = || {
        d.get("member")
            .and_then(|m| object(m))
            .and_then(|m| nested(&m, "user"))
    };
    let first = |found: Option<u64>, next: &dyn Fn() -> Result<Option<u64>, ()>| match found {
        Some(v) => Ok(Some(v)),
        None => next(),
    };
    Ok(match event {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" => [snowflake(get("id"))?, None, None],
        "CHANNEL_CREATE"
        | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE"
        | "THREAD_CREATE"
        | "THREAD_UPDATE"
        | "THREAD_DELETE"
        | "THREAD_MEMBERS_UPDATE"
        | "THREAD_MEMBER_UPDATE" => [
            snowflake(get("guild_id"))?,
            snowflake(get("id"))?,
            snowflake(get("user_id"))?,
        ],
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" => [
            snowflake(get("guild_id"))?,
            snowflake(get("channel_id"))?,
            snowflake(nested(d, "author"))?,
        ],
        "INTERACTION_CREATE" => [
            snowflake(get("guild_id"))?,
            snowflake(get("channel_id"))?,
            first(snowflake(member_user())?, &|| snowflake(nested(d, "user")))?,
        ],
        "USER_UPDATE" => [None, None, snowflake(get("id"))?],
        "READY" => [None, None, snowflake(nested(d, "user"))?],
        _ => {
            let guild = snowflake(get("guild_id"))?;
            let channel = snowflake(get("channel_id"))?;
            let user = first(snowflake(get("user_id"))?, &|| {
                first(snowflake(nested(d, "user"))?, &|| {
                    first(
                        snowflake(nested(d, "author"))?,
                        &|| snowflake(member_user()),
                    )
                })
            })?;
            [guild, channel, user]
        }
    })
}

/// Checks one input; panics on a disagreement.
pub fn run(data: &[u8]) {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    let scanned = parse_dispatch(frame);
    let Ok(Pairs(top)) = serde_json::from_str::<Pairs<'_>>(frame) else {
        return;
    };
    let count = |k: &str| top.iter().filter(|(key, _)| key == k).count();
    if count("t") > 1 || count("d") > 1 {
        return;
    }
    let dispatch = match scanned {
        Ok(d) => d,
        Err(RouteError::Json(e)) => panic!("serde_json reads {frame:?}, the scanner says {e}"),
        Err(_) => return,
    };
    let top: BTreeMap<String, &RawValue> = top.into_iter().collect();
    let t = top.get("t").expect("the scanner found `t`");
    let event: String = serde_json::from_str(t.get()).expect("`t` is a string");
    assert_eq!(dispatch.event, event, "event of {frame:?}");
    let seq = top.get("s").and_then(|s| s.get().parse::<u64>().ok());
    assert_eq!(dispatch.seq, seq, "sequence of {frame:?}");
    let d = top.get("d").expect("the scanner found `d`");
    assert_eq!(dispatch.data, d.get(), "raw d of {frame:?}");
    if let Some(op) = top.get("op") {
        assert_eq!(op.get().parse::<u64>(), Ok(0), "op of {frame:?}");
    }
    let expected = match object(d) {
        Some(d) => ids(&event, &d).unwrap_or_else(|()| {
            panic!("the scanner read ids from {frame:?} that the reference cannot")
        }),
        None => [None, None, None],
    };
    let got = [dispatch.ids.guild, dispatch.ids.channel, dispatch.ids.user];
    assert_eq!(got, expected, "guild, channel, user of {frame:?}");
}
