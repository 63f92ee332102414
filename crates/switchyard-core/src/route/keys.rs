//! The keys routing reads, matched once each: by length and one 8-byte load when the key has
//! no escapes (Discord's never do), by decoding it first when it has.

use super::Rule;

/// The keys routing knows, as bits, so that a level can test "do I read this key" at once.
pub(crate) type Key = u16;
pub(crate) const OTHER: Key = 0;
pub(crate) const OP: Key = 1;
pub(crate) const T: Key = 1 << 1;
pub(crate) const S: Key = 1 << 2;
pub(crate) const D: Key = 1 << 3;
pub(crate) const GUILD_ID: Key = 1 << 4;
pub(crate) const CHANNEL_ID: Key = 1 << 5;
pub(crate) const ID: Key = 1 << 6;
pub(crate) const USER_ID: Key = 1 << 7;
pub(crate) const AUTHOR: Key = 1 << 8;
pub(crate) const USER: Key = 1 << 9;
pub(crate) const MEMBER: Key = 1 << 10;
/// Every key of `d` that some rule reads.
pub(crate) const ALL_DATA: Key = GUILD_ID | CHANNEL_ID | ID | USER_ID | AUTHOR | USER | MEMBER;

fn key_of(raw: &[u8]) -> Key {
    match raw {
        b"op" => OP,
        b"t" => T,
        b"s" => S,
        b"d" => D,
        b"id" => ID,
        b"user" => USER,
        b"author" => AUTHOR,
        b"member" => MEMBER,
        b"user_id" => USER_ID,
        b"guild_id" => GUILD_ID,
        b"channel_id" => CHANNEL_ID,
        _ => OTHER,
    }
}

/// The first `N` bytes of `name`, little-endian, as [`key_between`] loads them.
const fn word<const N: usize>(name: &[u8; N]) -> u64 {
    let mut value = 0u64;
    let mut i = 0;
    while i < N && i < 8 {
        value |= (name[i] as u64) << (8 * i);
        i += 1;
    }
    value
}

/// The key in `bytes[start..end]` (unescaped): its length picks the candidates, and one
/// 8-byte load compares them, as [`key_of`] would.
#[inline(always)]
pub(crate) fn key_between(bytes: &[u8], start: usize, end: usize) -> Key {
    let Some(chunk) = bytes.get(start..).and_then(<[u8]>::first_chunk::<8>) else {
        return key_of(bytes.get(start..end).unwrap_or_default());
    };
    let w = u64::from_le_bytes(*chunk);
    let low = |n: u32| w & (u64::MAX >> (64 - 8 * n));
    let is = |cond: bool, key: Key| if cond { key } else { OTHER };
    match end.wrapping_sub(start) {
        1 => match w as u8 {
            b't' => T,
            b's' => S,
            b'd' => D,
            _ => OTHER,
        },
        2 => match low(2) {
            x if x == word(b"id") => ID,
            x if x == word(b"op") => OP,
            _ => OTHER,
        },
        4 => is(low(4) == word(b"user"), USER),
        6 => match low(6) {
            x if x == word(b"author") => AUTHOR,
            x if x == word(b"member") => MEMBER,
            _ => OTHER,
        },
        7 => is(low(7) == word(b"user_id"), USER_ID),
        8 => is(w == word(b"guild_id"), GUILD_ID),
        10 => is(
            w == word(b"channel_") && bytes.get(start + 8..end) == Some(b"id"),
            CHANNEL_ID,
        ),
        _ => OTHER,
    }
}

/// The keys of `d` an event's rule reads (see `parse_dispatch`).
pub(crate) fn keys_for(rule: Rule) -> Key {
    match rule {
        Rule::Generic => GUILD_ID | CHANNEL_ID | USER_ID | USER | AUTHOR | MEMBER,
        Rule::Guild | Rule::User => ID,
        Rule::Channel => ID | GUILD_ID | USER_ID,
        Rule::Message => GUILD_ID | CHANNEL_ID | AUTHOR,
        Rule::Interaction => GUILD_ID | CHANNEL_ID | MEMBER | USER,
        Rule::Ready => USER,
    }
}

/// The key an escaped key decodes to; an invalid escape decodes to something that matches no
/// known key.
#[cold]
#[inline(never)]
pub(crate) fn escaped_key_of(raw: &[u8]) -> Key {
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    key_of(
        serde_json::from_slice::<String>(&quoted)
            .unwrap_or_default()
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_agree_with_plain_matching_at_every_position() {
        let names: &[&[u8]] = &[
            b"op",
            b"t",
            b"s",
            b"d",
            b"id",
            b"user",
            b"author",
            b"member",
            b"user_id",
            b"guild_id",
            b"channel_id",
            b"ids",
            b"i",
            b"users",
            b"channel_ix",
            b"guild_i",
            b"Guild_id",
            b"channel_idx",
            b"",
            b"authors",
            b"member_",
            b"xd",
        ];
        for name in names {
            // Near the end of the input too, where no 8-byte load fits.
            for pad in [0, 1, 7, 20] {
                let mut text = b"\"".to_vec();
                text.extend_from_slice(name);
                text.extend_from_slice(&b"\"".repeat(1 + pad % 2));
                text.extend(std::iter::repeat_n(b' ', pad));
                let got = key_between(&text, 1, 1 + name.len());
                assert_eq!(
                    got,
                    key_of(name),
                    "{:?} pad {pad}",
                    String::from_utf8_lossy(name)
                );
            }
        }
        assert_eq!(escaped_key_of(br"guild\u005fid"), GUILD_ID);
        assert_eq!(escaped_key_of(br"bad\escape"), OTHER);
    }
}
