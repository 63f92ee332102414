//! A forward structural index over a frame, 64 bytes at a time, in the style of simdjson, on
//! safe SIMD (`wide`: SSE2 on x86-64, a portable fallback elsewhere).
//!
//! Each block is classified once: bitmasks of quotes, backslashes and brackets; which quotes
//! are escaped (odd runs of backslashes); which bytes are inside strings (a prefix XOR of the
//! unescaped quotes). The skimmer then asks two questions, always moving forward: where does
//! this string end, and where does this object or array end. Neither visits bytes one at a
//! time.

use wide::u8x16;

/// The deepest nesting skipped, as serde_json's default recursion limit.
const MAX_DEPTH: u32 = 128;

/// A position and what was expected there.
pub(crate) type IndexError = (usize, &'static str);

/// The classification of the current block, and the carries into the next.
pub(crate) struct Index<'a> {
    bytes: &'a [u8],
    /// Offset of the current block.
    base: usize,
    quotes: u64,
    backslash: u64,
    opens: u64,
    closes: u64,
    /// Inside a string: the opening quote and the content, not the closing quote.
    strings: u64,
    /// All ones when the next block starts inside a string.
    in_string: u64,
    /// Whether the next block's first byte is escaped.
    escape_carry: u64,
}

fn mask_of(chunks: &[u8x16; 4], byte: u8) -> u64 {
    let needle = u8x16::splat(byte);
    chunks.iter().enumerate().fold(0u64, |acc, (k, chunk)| {
        acc | (u64::from(chunk.simd_eq(needle).to_bitmask()) << (16 * k))
    })
}

fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The escaped characters of a block, given its backslashes; `carry` says whether the first
/// byte is escaped by a run ending the previous block, and is updated for the next.
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let backslash = backslash & !*carry;
    let follows_escape = (backslash << 1) | *carry;
    let odd_starts = backslash & !EVEN & !follows_escape;
    let (even_starts, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    (EVEN ^ (even_starts << 1)) & follows_escape
}

/// Bits at positions `from..` of a block.
fn from_bit(from: usize) -> u64 {
    if from >= 64 { 0 } else { u64::MAX << from }
}

impl<'a> Index<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let mut index = Index {
            bytes,
            base: 0,
            quotes: 0,
            backslash: 0,
            opens: 0,
            closes: 0,
            strings: 0,
            in_string: 0,
            escape_carry: 0,
        };
        index.classify();
        index
    }

    fn classify(&mut self) {
        let mut block = [b' '; 64];
        let len = self.bytes.len().saturating_sub(self.base).min(64);
        block[..len].copy_from_slice(&self.bytes[self.base..self.base + len]);
        let chunks = [0, 16, 32, 48].map(|k| {
            let mut lane = [0u8; 16];
            lane.copy_from_slice(&block[k..k + 16]);
            u8x16::new(lane)
        });
        // `[`|0x20 is `{` and `]`|0x20 is `}`: one comparison finds both kinds.
        let folded = chunks.map(|c| c | u8x16::splat(0x20));
        self.backslash = mask_of(&chunks, b'\\');
        let escaped = if self.backslash == 0 && self.escape_carry == 0 {
            0
        } else {
            escaped(self.backslash, &mut self.escape_carry)
        };
        self.quotes = mask_of(&chunks, b'"') & !escaped;
        self.strings = prefix_xor(self.quotes) ^ self.in_string;
        self.in_string = 0u64.wrapping_sub(self.strings >> 63);
        self.opens = mask_of(&folded, b'{') & !self.strings;
        self.closes = mask_of(&folded, b'}') & !self.strings;
    }

    /// Moves to the block holding `pos`; false past the end of the input.
    fn reach(&mut self, pos: usize) -> bool {
        while pos >= self.base + 64 {
            if self.base + 64 >= self.bytes.len() {
                return false;
            }
            self.base += 64;
            self.classify();
        }
        pos < self.bytes.len()
    }

    /// The closing quote of the string whose content starts at `from`, and whether the
    /// string has escapes. `from` must follow an opening quote.
    pub(crate) fn string_end(&mut self, from: usize) -> Option<(usize, bool)> {
        let mut escapes = false;
        let mut at = from;
        loop {
            if !self.reach(at) {
                return None;
            }
            let window = from_bit(at - self.base);
            let hits = self.quotes & window;
            if hits != 0 {
                let bit = hits.trailing_zeros();
                escapes |= self.backslash & window & ((1u64 << bit) - 1) != 0;
                let end = self.base + bit as usize;
                return (end < self.bytes.len()).then_some((end, escapes));
            }
            escapes |= self.backslash & window != 0;
            at = self.base + 64;
        }
    }

    /// The index just past the object or array starting at `start`.
    pub(crate) fn nested_end(&mut self, start: usize) -> Result<usize, IndexError> {
        let mut objects: u128 = 0;
        let mut depth: u32 = 0;
        let mut at = start;
        loop {
            if !self.reach(at) {
                return Err(self.eof_error());
            }
            let window = from_bit(at - self.base);
            let stray = self.backslash & !self.strings & window;
            let mut events = (self.opens | self.closes) & window;
            while events != 0 {
                let bit = events.trailing_zeros();
                events &= events - 1;
                let pos = self.base + bit as usize;
                if pos >= self.bytes.len() {
                    return Err(self.eof_error());
                }
                let byte = self.bytes[pos];
                if self.opens & (1u64 << bit) != 0 {
                    if depth == MAX_DEPTH {
                        return Err((pos, "nesting no deeper than 128 levels"));
                    }
                    objects = (objects << 1) | u128::from(byte == b'{');
                    depth += 1;
                } else {
                    if depth == 0 || (objects & 1 == 1) != (byte == b'}') {
                        return Err((pos, "matching brackets"));
                    }
                    objects >>= 1;
                    depth -= 1;
                    if depth == 0 {
                        let before = stray & ((1u64 << bit) - 1);
                        if before != 0 {
                            return Err((self.base + before.trailing_zeros() as usize, STRAY));
                        }
                        return Ok(pos + 1);
                    }
                }
            }
            if stray != 0 {
                return Err((self.base + stray.trailing_zeros() as usize, STRAY));
            }
            at = self.base + 64;
        }
    }

    fn eof_error(&self) -> IndexError {
        let what = if self.in_string != 0 {
            "the end of a string"
        } else {
            "the end of an object or array"
        };
        (self.bytes.len(), what)
    }
}

const STRAY: &str = "a value, not a backslash outside a string";

#[cfg(test)]
mod tests;
