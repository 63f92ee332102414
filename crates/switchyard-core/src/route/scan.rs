//! A single-pass JSON skimmer for gateway frames: it walks the frame's top-level keys and the
//! top-level keys of `d`, reads the few values routing needs, and skips everything else
//! without building anything.
//!
//! Strings and nested values are skipped with the structural index ([`Index`]): the end of a
//! string is the next unescaped quote in a bitmask, the end of an object or array is found
//! from bracket bitmasks, never a byte at a time. Keys are matched by length and content,
//! once, against the few names routing knows. When the event name comes before `d` (as
//! Discord sends it), only the keys that event's rule uses are read; the others are skipped
//! like any value.
//!
//! It checks structure on the way (terminated strings, balanced brackets, key/colon/comma
//! syntax at the levels it reads), but does not validate the contents of values it skips:
//! a number such as `01` deep inside `d` passes through to the envelope unchanged, as Discord
//! sent it.

use super::index::{Index, Storage};
use super::keys::{
    ALL_DATA, AUTHOR, CHANNEL_ID, D, GUILD_ID, ID, Key, MEMBER, OP, S, T, USER, USER_ID,
    escaped_key_of, key_between, keys_for,
};
use super::{Rule, rule_for};

/// Where and why a frame is not the JSON the skimmer expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub(crate) offset: usize,
    pub(crate) expected: &'static str,
}

type Result<T> = std::result::Result<T, ScanError>;

/// Raw values found in a frame, as slices of the input.
#[derive(Default)]
pub(crate) struct Found<'a> {
    pub(crate) op: Option<&'a str>,
    pub(crate) t: Option<&'a str>,
    /// The content of `t` when it is a string without escapes.
    pub(crate) t_plain: Option<&'a str>,
    /// The rule of `t`, when `t` came before `d` (and so decided which keys were read).
    pub(crate) rule: Option<Rule>,
    pub(crate) s: Option<&'a str>,
    pub(crate) d: Option<&'a str>,
    pub(crate) guild_id: Option<&'a str>,
    pub(crate) channel_id: Option<&'a str>,
    pub(crate) id: Option<&'a str>,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) author_id: Option<&'a str>,
    pub(crate) user_nested_id: Option<&'a str>,
    pub(crate) member_user_id: Option<&'a str>,
}

struct Scanner<'a, 'm> {
    text: &'a str,
    bytes: &'a [u8],
    index: Index<'m>,
    /// Why the scan stopped, once it has.
    error: ScanError,
}

/// The scan stopped; the reason is in [`Scanner::error`]. (Small, so that results travel in
/// registers.)
struct Fail;

type Step<T> = std::result::Result<T, Fail>;

/// Skims `frame`; every field is a raw JSON slice (strings keep their quotes).
pub(crate) fn scan(frame: &str) -> Result<Found<'_>> {
    let mut storage = Storage::new();
    let mut sc = Scanner {
        text: frame,
        bytes: frame.as_bytes(),
        index: Index::new(frame.as_bytes(), &mut storage),
        error: ScanError {
            offset: 0,
            expected: "",
        },
    };
    let mut found = Found::default();
    match sc.frame(&mut found) {
        Ok(()) => Ok(found),
        Err(Fail) => Err(sc.error),
    }
}

fn is_ws(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t')
}

fn is_number_byte(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

// Positions are passed and returned explicitly so that they stay in registers. Every hot
// step has an inline fast path for compact JSON (Discord's) and a cold path for whitespace
// and errors.
impl<'a> Scanner<'a, '_> {
    #[cold]
    #[inline(never)]
    fn fail(&mut self, offset: usize, expected: &'static str) -> Fail {
        self.error = ScanError { offset, expected };
        Fail
    }

    /// The byte at `pos`; 0 (never valid here) past the end.
    #[inline(always)]
    fn byte(&self, pos: usize) -> u8 {
        self.bytes.get(pos).copied().unwrap_or(0)
    }

    /// The first position at or after `pos` that is not whitespace.
    #[cold]
    #[inline(never)]
    fn skip_ws(&self, mut pos: usize) -> usize {
        while is_ws(self.byte(pos)) {
            pos += 1;
        }
        pos
    }

    /// `pos` after any whitespace, if the byte there is `want`.
    #[cold]
    #[inline(never)]
    fn expect(&mut self, pos: usize, want: u8, expected: &'static str) -> Step<usize> {
        let pos = self.skip_ws(pos);
        if self.byte(pos) == want {
            Ok(pos)
        } else {
            Err(self.fail(pos, expected))
        }
    }

    /// The text from `start` to `end`.
    #[inline(always)]
    fn slice(&mut self, start: usize, end: usize) -> Step<&'a str> {
        match self.text.get(start..end) {
            Some(text) => Ok(text),
            None => Err(self.fail(start, "a value on character boundaries")),
        }
    }

    /// The closing quote of the string whose content starts at `start`, and whether the
    /// string has escapes.
    #[inline(always)]
    fn string_end(&mut self, start: usize) -> Step<(usize, bool)> {
        match self.index.next_quote(start) {
            Some(found) => Ok(found),
            None => Err(self.fail(self.bytes.len(), "the end of a string")),
        }
    }

    /// Steps into the object whose `{` is at `pos`: the position of its first key, or `None`
    /// and the position after it if it is empty.
    #[inline(always)]
    fn enter(&mut self, pos: usize) -> (Option<usize>, usize) {
        let mut at = pos + 1;
        if is_ws(self.byte(at)) {
            at = self.skip_ws(at);
        }
        if self.byte(at) == b'}' {
            return (None, at + 1);
        }
        (Some(at), at)
    }

    /// After a member's value at `pos`: the next key's position after a `,`, or `None` and
    /// the position after the closing `}`.
    #[inline(always)]
    fn next(&mut self, pos: usize) -> Step<(Option<usize>, usize)> {
        match self.byte(pos) {
            b',' => Ok((Some(pos + 1), pos + 1)),
            b'}' => Ok((None, pos + 1)),
            _ => self.next_slow(pos),
        }
    }

    #[cold]
    #[inline(never)]
    fn next_slow(&mut self, pos: usize) -> Step<(Option<usize>, usize)> {
        let pos = self.skip_ws(pos);
        match self.byte(pos) {
            b',' => Ok((Some(pos + 1), pos + 1)),
            b'}' => Ok((None, pos + 1)),
            _ => Err(self.fail(pos, "`,` or `}` in an object")),
        }
    }

    /// Reads the key at `pos` and its `:`: the key and where its value starts.
    #[inline(always)]
    fn key(&mut self, pos: usize) -> Step<(Key, usize)> {
        let pos = if self.byte(pos) == b'"' {
            pos
        } else {
            self.expect(pos, b'"', "a string")?
        };
        let (end, escaped) = self.string_end(pos + 1)?;
        let colon = if self.byte(end + 1) == b':' {
            end + 1
        } else {
            self.expect(end + 1, b':', "`:` after a key")?
        };
        let key = if escaped {
            // An escaped key: compare its decoded form (rare; Discord never sends these).
            escaped_key_of(self.bytes.get(pos + 1..end).unwrap_or_default())
        } else {
            key_between(self.bytes, pos + 1, end)
        };
        Ok((key, colon + 1))
    }

    /// The frame's own keys.
    fn frame(&mut self, found: &mut Found<'a>) -> Step<()> {
        let start = self.skip_ws(0);
        if self.byte(start) != b'{' {
            return Err(self.fail(start, "an object"));
        }
        let (mut at, mut pos) = self.enter(start);
        while let Some(key_pos) = at {
            let (key, value) = self.key(key_pos)?;
            pos = match key {
                OP => {
                    let (raw, end) = self.value(value)?;
                    found.op = Some(raw);
                    end
                }
                S => {
                    let (raw, end) = self.value(value)?;
                    found.s = Some(raw);
                    end
                }
                T => self.event(value, found)?,
                D => {
                    let start = self.skip_ws(value);
                    let end = if self.byte(start) == b'{' {
                        found.rule = found.t_plain.map(rule_for);
                        let wanted = found.rule.map_or(ALL_DATA, keys_for);
                        self.data_object(start, found, wanted)?
                    } else {
                        self.skip_value(start)?
                    };
                    found.d = Some(self.slice(start, end)?);
                    end
                }
                _ => self.skip_value(value)?,
            };
            (at, pos) = self.next(pos)?;
        }
        let end = self.skip_ws(pos);
        if end != self.bytes.len() {
            return Err(self.fail(end, "the end of the frame"));
        }
        Ok(())
    }

    /// Reads `t` at `pos`, keeping its content when it is a string without escapes.
    fn event(&mut self, pos: usize, found: &mut Found<'a>) -> Step<usize> {
        let start = self.skip_ws(pos);
        let end = if self.byte(start) == b'"' {
            let (close, escaped) = self.string_end(start + 1)?;
            if !escaped {
                found.t_plain = self.text.get(start + 1..close);
            }
            close + 1
        } else {
            self.skip_value(start)?
        };
        found.t = Some(self.slice(start, end)?);
        Ok(end)
    }

    /// Reads the keys of `d` (whose `{` is at `pos`), recording the routing candidates among
    /// `wanted`; returns the position after `d`.
    fn data_object(&mut self, pos: usize, found: &mut Found<'a>, wanted: Key) -> Step<usize> {
        let (mut at, mut pos) = self.enter(pos);
        while let Some(key_pos) = at {
            let (key, value) = self.key(key_pos)?;
            pos = if key & wanted == 0 {
                self.skip_value(value)?
            } else {
                let slot = match key {
                    GUILD_ID => &mut found.guild_id,
                    CHANNEL_ID => &mut found.channel_id,
                    ID => &mut found.id,
                    USER_ID => &mut found.user_id,
                    AUTHOR => &mut found.author_id,
                    USER => &mut found.user_nested_id,
                    _ => &mut found.member_user_id,
                };
                let (raw, end) = match key {
                    AUTHOR | USER => self.object_id(value)?,
                    MEMBER => self.member_user_id(value)?,
                    _ => {
                        let (raw, end) = self.value(value)?;
                        (Some(raw), end)
                    }
                };
                *slot = raw;
                end
            };
            (at, pos) = self.next(pos)?;
        }
        Ok(pos)
    }

    /// The `id` of the object at `pos`, skipping values of any other type; and the position
    /// after the value.
    fn object_id(&mut self, pos: usize) -> Step<(Option<&'a str>, usize)> {
        let pos = self.skip_ws(pos);
        if self.byte(pos) != b'{' {
            return Ok((None, self.skip_value(pos)?));
        }
        let mut result = None;
        let (mut at, mut pos) = self.enter(pos);
        while let Some(key_pos) = at {
            let (key, value) = self.key(key_pos)?;
            pos = if key == ID {
                let (raw, end) = self.value(value)?;
                result = Some(raw);
                end
            } else {
                self.skip_value(value)?
            };
            (at, pos) = self.next(pos)?;
        }
        Ok((result, pos))
    }

    /// The `user.id` of the object at `pos`, as [`Self::object_id`].
    fn member_user_id(&mut self, pos: usize) -> Step<(Option<&'a str>, usize)> {
        let pos = self.skip_ws(pos);
        if self.byte(pos) != b'{' {
            return Ok((None, self.skip_value(pos)?));
        }
        let mut result = None;
        let (mut at, mut pos) = self.enter(pos);
        while let Some(key_pos) = at {
            let (key, value) = self.key(key_pos)?;
            pos = if key == USER {
                let (raw, end) = self.object_id(value)?;
                result = raw;
                end
            } else {
                self.skip_value(value)?
            };
            (at, pos) = self.next(pos)?;
        }
        Ok((result, pos))
    }

    /// The raw text of the value at `pos` (after any whitespace), and the position after it.
    #[inline(always)]
    fn value(&mut self, pos: usize) -> Step<(&'a str, usize)> {
        let start = if is_ws(self.byte(pos)) {
            self.skip_ws(pos)
        } else {
            pos
        };
        let end = self.skip_value(start)?;
        Ok((self.slice(start, end)?, end))
    }

    /// Skips the value at `pos` (after any whitespace); returns the position after it.
    /// Literals must be spelled out and numbers made of number characters; what follows
    /// them is checked by the caller (`,` or `}`).
    #[inline(always)]
    fn skip_value(&mut self, pos: usize) -> Step<usize> {
        match self.byte(pos) {
            b'"' => Ok(self.string_end(pos + 1)?.0 + 1),
            open @ (b'{' | b'[') => {
                // `{` + 2 is `}` and `[` + 2 is `]`: empty values need no index.
                if self.byte(pos + 1) == open + 2 {
                    Ok(pos + 2)
                } else {
                    self.skip_nested(pos)
                }
            }
            b't' => self.literal(pos, b"true"),
            b'f' => self.literal(pos, b"false"),
            b'n' => self.literal(pos, b"null"),
            b'-' | b'0'..=b'9' => {
                let mut end = pos + 1;
                while is_number_byte(self.byte(end)) {
                    end += 1;
                }
                Ok(end)
            }
            _ => self.skip_value_slow(pos),
        }
    }

    /// Whitespace before a value, or no value at all.
    #[cold]
    #[inline(never)]
    fn skip_value_slow(&mut self, pos: usize) -> Step<usize> {
        let start = self.skip_ws(pos);
        if start == pos {
            return Err(self.fail(pos, "a JSON value"));
        }
        self.skip_value(start)
    }

    #[inline(never)]
    fn skip_nested(&mut self, pos: usize) -> Step<usize> {
        match self.index.nested_end(pos) {
            Ok(end) => Ok(end),
            Err((offset, expected)) => Err(self.fail(offset, expected)),
        }
    }

    #[inline(always)]
    fn literal(&mut self, pos: usize, word: &[u8]) -> Step<usize> {
        let end = pos + word.len();
        if self.bytes.get(pos..end) != Some(word) {
            return Err(self.fail(pos, "a JSON value"));
        }
        Ok(end)
    }
}
