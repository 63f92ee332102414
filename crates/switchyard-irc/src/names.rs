//! IRC names as topic segments, and back.
//!
//! A topic segment may not hold `.`, whitespace or a lone `*` / `>`, and Redis globs give `*`,
//! `?`, `[` and `\` meanings of their own; IRC channel names and nicks may hold all of them,
//! and any byte beyond ASCII. So a name becomes a segment in three steps:
//!
//! 1. it is lower-cased by the server's `CASEMAPPING` ([`CaseMapping`]), so that `#Rust` and
//!    `#rust`, one channel to the server, are one topic;
//! 2. a channel loses its leading `#` (the common case reads plainly: `#rust` → `rust`), unless
//!    what follows is empty, `0` or starts with another channel prefix (`#`, `&`, `+`, `!`);
//! 3. every byte but ASCII letters, digits, `-` and `_` is written `%XX` (upper-case hex).
//!
//! A channel segment that starts with an encoded prefix (`%23`, `%26`, `%2B`, `%21`) names the
//! channel exactly; any other gets its `#` back. The channel segment `0` stands for no channel:
//! a private message, answered to the nick. See `docs/irc.md`.

use std::fmt::Write as _;

/// How the server folds case in names (`CASEMAPPING` of `RPL_ISUPPORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseMapping {
    /// `A`-`Z` only.
    Ascii,
    /// `A`-`Z`, and `[]\~` as the upper case of `{}|^` (RFC 1459; the default).
    #[default]
    Rfc1459,
    /// `A`-`Z`, and `[]\` as the upper case of `{}|`.
    StrictRfc1459,
}

impl CaseMapping {
    /// The mapping an `RPL_ISUPPORT` token names; RFC 1459 for one this does not know.
    pub fn from_token(value: &str) -> CaseMapping {
        match value.to_ascii_lowercase().as_str() {
            "ascii" => CaseMapping::Ascii,
            "strict-rfc1459" => CaseMapping::StrictRfc1459,
            _ => CaseMapping::Rfc1459,
        }
    }

    /// `name` folded to lower case.
    pub fn lower(self, name: &str) -> String {
        name.chars()
            .map(|c| match (self, c) {
                (_, 'A'..='Z') => c.to_ascii_lowercase(),
                (CaseMapping::Rfc1459 | CaseMapping::StrictRfc1459, '[') => '{',
                (CaseMapping::Rfc1459 | CaseMapping::StrictRfc1459, ']') => '}',
                (CaseMapping::Rfc1459 | CaseMapping::StrictRfc1459, '\\') => '|',
                (CaseMapping::Rfc1459, '~') => '^',
                _ => c,
            })
            .collect()
    }
}

/// The prefixes a channel name may start with.
const CHANNEL_PREFIXES: [char; 4] = ['#', '&', '+', '!'];

/// Whether `target` names a channel rather than a nick.
pub fn is_channel(target: &str) -> bool {
    target.starts_with(CHANNEL_PREFIXES)
}

/// The channel segment of a topic: see the module's documentation.
pub fn channel_segment(channel: &str, casemapping: CaseMapping) -> String {
    let lower = casemapping.lower(channel);
    let plain = lower
        .strip_prefix('#')
        .filter(|rest| !rest.is_empty() && *rest != "0" && !rest.starts_with(CHANNEL_PREFIXES));
    encode(plain.unwrap_or(&lower))
}

/// The nick segment of a topic: the nick lower-cased and percent-encoded.
pub fn nick_segment(nick: &str, casemapping: CaseMapping) -> String {
    encode(&casemapping.lower(nick))
}

/// The segment that stands for "no channel": a private message.
pub const DIRECT: &str = "0";

/// Where an outbound message goes, read from its topic's channel and nick segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A channel, with its prefix (`#rust`).
    Channel(String),
    /// A nick (the channel segment was `0`).
    Nick(String),
}

impl Target {
    /// The target of a PRIVMSG.
    pub fn as_str(&self) -> &str {
        match self {
            Target::Channel(c) | Target::Nick(c) => c,
        }
    }
}

/// Why a segment is not a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A `%` not followed by two hex digits.
    #[error("segment {segment:?} has a `%` not followed by two hex digits")]
    BadEscape {
        /// The segment.
        segment: String,
    },
    /// The decoded bytes are not UTF-8, or hold a byte IRC cannot carry in a name.
    #[error("segment {segment:?} decodes to {what}, which no IRC name holds")]
    BadName {
        /// The segment.
        segment: String,
        /// What was wrong.
        what: &'static str,
    },
}

/// The target of `outbound.irc.{network}.{channel}.{nick}` from its last two segments.
pub fn parse_target(channel: &str, nick: &str) -> Result<Target, NameError> {
    if channel == DIRECT {
        return Ok(Target::Nick(decode(nick)?));
    }
    let name = decode(channel)?;
    let encoded_prefix = ["%23", "%26", "%2B", "%21"].iter().any(|p| {
        channel
            .get(..3)
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    });
    Ok(Target::Channel(if encoded_prefix {
        name
    } else {
        format!("#{name}")
    }))
}

/// Percent-encodes every byte but ASCII letters, digits, `-` and `_`.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    if out.is_empty() {
        // An empty name has no segment of its own; `%` alone never decodes, so the reader
        // refuses it instead of guessing.
        out.push('%');
    }
    out
}

/// Decodes a percent-encoded segment into a name.
pub fn decode(segment: &str) -> Result<String, NameError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| NameError::BadEscape {
                    segment: segment.to_owned(),
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let bad = |what| NameError::BadName {
        segment: segment.to_owned(),
        what,
    };
    let name = String::from_utf8(out).map_err(|_| bad("bytes that are not UTF-8"))?;
    if name.is_empty() {
        return Err(bad("an empty name"));
    }
    if name.contains([' ', ',', '\r', '\n', '\0', '\x07']) {
        return Err(bad("a space, comma, bell, NUL or line break"));
    }
    if name.starts_with(':') {
        return Err(bad("a leading `:`"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_read_plainly_in_the_common_case() {
        let cm = CaseMapping::Rfc1459;
        assert_eq!(channel_segment("#Rust", cm), "rust");
        assert_eq!(channel_segment("#rust-lang_2", cm), "rust-lang_2");
        assert_eq!(channel_segment("#a.b", cm), "a%2Eb");
        assert_eq!(channel_segment("#Ünïcode", cm), "%C3%9Cn%C3%AFcode");
        assert_eq!(channel_segment("#[x]", cm), "%7Bx%7D");
        assert_eq!(channel_segment("#[x]", CaseMapping::Ascii), "%5Bx%5D");
        assert_eq!(channel_segment("##rust", cm), "%23%23rust");
        assert_eq!(channel_segment("&local", cm), "%26local");
        assert_eq!(channel_segment("#0", cm), "%230");
        assert_eq!(channel_segment("#", cm), "%23");
        assert_eq!(channel_segment("#*", cm), "%2A");
        assert_eq!(nick_segment("Ferris[m]", cm), "ferris%7Bm%7D");
        assert_eq!(nick_segment("a~b", CaseMapping::StrictRfc1459), "a%7Eb");
        assert_eq!(nick_segment("a~b", cm), "a%5Eb");
    }

    #[test]
    fn segments_map_back_to_names() {
        let back = |c: &str| parse_target(c, "n").expect(c);
        assert_eq!(back("rust"), Target::Channel("#rust".into()));
        assert_eq!(back("a%2Eb"), Target::Channel("#a.b".into()));
        assert_eq!(back("%23%23rust"), Target::Channel("##rust".into()));
        assert_eq!(back("%26local"), Target::Channel("&local".into()));
        assert_eq!(back("%230"), Target::Channel("#0".into()));
        assert_eq!(back("%23"), Target::Channel("#".into()));
        assert_eq!(
            back("%2b%2b"),
            Target::Channel("++".into()),
            "lower-case hex too"
        );
        assert_eq!(
            parse_target("0", "ferris%7Bm%7D").expect("direct"),
            Target::Nick("ferris{m}".into())
        );
        assert!(matches!(
            parse_target("ru%2", "n"),
            Err(NameError::BadEscape { .. })
        ));
        assert!(matches!(
            parse_target("a%20b", "n"),
            Err(NameError::BadName { .. })
        ));
        assert!(matches!(
            parse_target("%FF", "n"),
            Err(NameError::BadName { .. })
        ));
        assert!(parse_target("0", "%").is_err());
        assert!(
            parse_target("0", "%3Afoo").is_err(),
            "a target never starts with `:`"
        );
    }

    #[test]
    fn every_name_survives_the_round_trip_and_is_a_valid_segment() {
        let names = [
            "#rust",
            "#Rust.Lang",
            "##x",
            "#&x",
            "&x",
            "+x",
            "!ABCDEx",
            "#0",
            "#",
            "#00",
            "#日本語",
            "#a%b",
            "#*",
            "#>",
            "#x*y",
            "#x?[y]\\",
            "#~^|",
            "#-",
            "#_",
        ];
        for cm in [
            CaseMapping::Ascii,
            CaseMapping::Rfc1459,
            CaseMapping::StrictRfc1459,
        ] {
            for name in names {
                let seg = channel_segment(name, cm);
                let topic = format!("outbound.irc.net.{seg}.nick");
                switchyard_core::Topic::new(&topic).expect(&topic);
                assert!(
                    seg.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_%".contains(&b)),
                    "{seg}"
                );
                assert_eq!(
                    parse_target(&seg, "x").expect(&seg),
                    Target::Channel(cm.lower(name)),
                    "{name} under {cm:?}"
                );
            }
            for nick in ["Ferris", "a[b]c", "x\\y", "nick`", "n^", "日本"] {
                let seg = nick_segment(nick, cm);
                assert_eq!(
                    parse_target(DIRECT, &seg).expect(&seg),
                    Target::Nick(cm.lower(nick))
                );
            }
        }
        assert_eq!(
            CaseMapping::from_token("ascii").lower("[A]"),
            "[a]",
            "ascii folds letters only"
        );
        assert_eq!(CaseMapping::from_token("rfc7613"), CaseMapping::Rfc1459);
    }
}
