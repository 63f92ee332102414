//! A single-pass JSON skimmer for gateway frames: it walks the frame's top-level keys and the
//! top-level keys of `d`, reads the few values routing needs, and skips everything else
//! without building anything.
//!
//! It checks structure on the way (terminated strings, balanced brackets, key/colon/comma
//! syntax at the levels it reads), but does not validate the contents of values it skips:
//! a number such as `01` deep inside `d` passes through to the envelope unchanged, as Discord
//! sent it.

/// Where and why a frame is not the JSON the skimmer expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub(crate) offset: usize,
    pub(crate) expected: &'static str,
}

use super::index::Index;

type Result<T> = std::result::Result<T, ScanError>;

/// Raw values found in a frame, as slices of the input.
#[derive(Debug, Default)]
pub(crate) struct Found<'a> {
    pub(crate) op: Option<&'a str>,
    pub(crate) t: Option<&'a str>,
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

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    index: Index<'a>,
}

/// Skims `frame`; every field is a raw JSON slice (strings keep their quotes).
pub(crate) fn scan(frame: &str) -> Result<Found<'_>> {
    let mut sc = Scanner {
        text: frame,
        pos: 0,
        index: Index::new(frame.as_bytes()),
    };
    let mut found = Found::default();
    sc.object(|sc, key| {
        match key {
            b"op" => found.op = Some(sc.value()?),
            b"t" => found.t = Some(sc.value()?),
            b"s" => found.s = Some(sc.value()?),
            b"d" => {
                let start = sc.pos;
                if sc.peek() == Some(b'{') {
                    sc.data_object(&mut found)?;
                } else {
                    sc.skip_value()?;
                }
                found.d = Some(&sc.text[start..sc.pos]);
            }
            _ => sc.skip_value()?,
        }
        Ok(())
    })?;
    sc.ws();
    if sc.pos != frame.len() {
        return Err(sc.err("the end of the frame"));
    }
    Ok(found)
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn err(&self, expected: &'static str) -> ScanError {
        ScanError {
            offset: self.pos,
            expected,
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8, expected: &'static str) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(expected))
        }
    }

    /// Skips a string starting at the opening quote; returns its raw content.
    /// Also says whether the string has escapes.
    fn string(&mut self) -> Result<(&'a [u8], bool)> {
        if self.bytes().get(self.pos) == Some(&b'"') {
            self.pos += 1;
        } else {
            self.eat(b'"', "a string")?;
        }
        let start = self.pos;
        match self.index.string_end(start) {
            Some((end, escaped)) => {
                self.pos = end + 1;
                Ok((&self.bytes()[start..end], escaped))
            }
            None => {
                self.pos = self.text.len();
                Err(self.err("the end of a string"))
            }
        }
    }

    /// Walks an object, calling `on_key` with each key; `on_key` must consume the value.
    fn object(&mut self, mut on_key: impl FnMut(&mut Self, &[u8]) -> Result<()>) -> Result<()> {
        self.eat(b'{', "an object")?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let (raw, escaped) = self.string()?;
            self.eat(b':', "`:` after a key")?;
            self.ws();
            if escaped {
                // An escaped key: compare its decoded form (rare; Discord never sends these).
                let decoded = decode_key(raw);
                on_key(self, decoded.as_bytes())?;
            } else {
                on_key(self, raw)?;
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("`,` or `}` in an object")),
            }
        }
    }

    /// Reads `d`'s keys, recording the routing candidates.
    fn data_object(&mut self, found: &mut Found<'a>) -> Result<()> {
        self.object(|sc, key| {
            match key {
                b"guild_id" => found.guild_id = Some(sc.value()?),
                b"channel_id" => found.channel_id = Some(sc.value()?),
                b"id" => found.id = Some(sc.value()?),
                b"user_id" => found.user_id = Some(sc.value()?),
                b"author" => found.author_id = sc.nested_id(&[])?,
                b"user" => found.user_nested_id = sc.nested_id(&[])?,
                b"member" => found.member_user_id = sc.nested_id(&[b"user"])?,
                _ => sc.skip_value()?,
            }
            Ok(())
        })
    }

    /// Follows `path` of object keys and returns the `id` found at its end, skipping values
    /// of any other type.
    fn nested_id(&mut self, path: &[&[u8]]) -> Result<Option<&'a str>> {
        if self.peek() != Some(b'{') {
            self.skip_value()?;
            return Ok(None);
        }
        let mut result = None;
        self.object(|sc, key| {
            match path.split_first() {
                None if key == b"id" => result = Some(sc.value()?),
                Some((next, rest)) if key == *next => result = sc.nested_id(rest)?,
                _ => sc.skip_value()?,
            }
            Ok(())
        })?;
        Ok(result)
    }

    /// Skips one value and returns its raw text.
    fn value(&mut self) -> Result<&'a str> {
        self.ws();
        let start = self.pos;
        self.skip_value()?;
        Ok(&self.text[start..self.pos])
    }

    fn skip_value(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{' | b'[') => self.skip_nested(),
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                let bytes = self.bytes();
                let start = self.pos;
                while let Some(b) = bytes.get(self.pos) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.pos += 1;
                }
                let word = &bytes[start..self.pos];
                let literal = matches!(word, b"true" | b"false" | b"null");
                let number = word
                    .iter()
                    .all(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
                if literal || number {
                    Ok(())
                } else {
                    self.pos = start;
                    Err(self.err("a JSON value"))
                }
            }
            _ => Err(self.err("a JSON value")),
        }
    }

    /// Skips an object or array.
    fn skip_nested(&mut self) -> Result<()> {
        match self.index.nested_end(self.pos) {
            Ok(end) => {
                self.pos = end;
                Ok(())
            }
            Err((at, expected)) => {
                self.pos = at;
                Err(self.err(expected))
            }
        }
    }
}

/// Decodes an escaped key; an invalid escape decodes to something that matches no known key.
fn decode_key(raw: &[u8]) -> String {
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted).unwrap_or_default()
}
