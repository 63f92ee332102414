//! A forward structural index over a frame, 64 bytes at a time, in the style of simdjson, on
//! safe SIMD (`wide`: SSE2 on x86-64, a portable fallback elsewhere).
//!
//! Every block is classified once, up front, in one tight loop: bitmasks of backslashes, of
//! unescaped quotes (odd runs of backslashes escape the byte after them, carried across
//! blocks) and of brackets. The masks live on the stack for frames up to 4 KiB. The skimmer
//! then asks two questions, always moving forward: where is the next unescaped quote (the
//! end of the string it is in), and where does this object or array end. For the second,
//! strings are masked out with a prefix XOR of the quotes, starting from the opening
//! bracket, which is known to be outside any string; only the brackets outside strings are
//! then visited. Neither question visits bytes one at a time.

use wide::u8x16;

/// The deepest nesting skipped, as serde_json's default recursion limit.
const MAX_DEPTH: u32 = 128;

/// A position and what was expected there.
pub(crate) type IndexError = (usize, &'static str);

/// The masks of one block: unescaped quotes, backslashes, brackets (and look-alikes).
pub(crate) type Masks = [u64; 3];

/// How many blocks [`Storage`] holds without allocating: frames up to 4 KiB.
const INLINE_BLOCKS: usize = 64;

/// Room for a frame's masks: on the stack for frames up to 4 KiB, else on the heap.
pub(crate) struct Storage {
    inline: [Masks; INLINE_BLOCKS],
    heap: Vec<Masks>,
}

impl Storage {
    pub(crate) fn new() -> Self {
        Storage {
            inline: [[0; 3]; INLINE_BLOCKS],
            heap: Vec::new(),
        }
    }
}

/// A frame's structural index: the masks of every block, classified up front in one tight
/// loop.
pub(crate) struct Index<'a> {
    bytes: &'a [u8],
    masks: &'a [Masks],
}

#[inline]
fn lanes_of(block: &[u8; 64]) -> [u8x16; 4] {
    let (lanes, _) = block.as_chunks::<16>();
    [
        u8x16::new(lanes[0]),
        u8x16::new(lanes[1]),
        u8x16::new(lanes[2]),
        u8x16::new(lanes[3]),
    ]
}

/// One bit per byte from the lanes' comparison results, first byte lowest.
#[inline]
fn bits(lanes: [u8x16; 4]) -> u64 {
    let [a, b, c, d] = lanes.map(|lane| u64::from(lane.to_bitmask()));
    a | (b << 16) | (c << 32) | (d << 48)
}

#[inline]
fn mask_of(lanes: &[u8x16; 4], byte: u8) -> u64 {
    let needle = u8x16::splat(byte);
    bits(lanes.map(|lane| lane.simd_eq(needle)))
}

/// Whether any byte of the block is `byte` (one mask extraction instead of four).
#[inline]
fn any_of(lanes: &[u8x16; 4], byte: u8) -> bool {
    let needle = u8x16::splat(byte);
    let [a, b, c, d] = lanes.map(|lane| lane.simd_eq(needle));
    ((a | b) | (c | d)).to_bitmask() != 0
}

/// `[`, `]`, `{` and `}` are exactly the bytes with `b & 0xD9 == 0x59` among the bytes JSON
/// allows outside strings; the others with that pattern (`Y`, `_`, `y`, DEL) are not JSON
/// outside a string, and [`Index::nested_end`] refuses them when it meets one.
#[inline]
fn bracket_mask(lanes: &[u8x16; 4]) -> u64 {
    let (select, want) = (u8x16::splat(0xD9), u8x16::splat(0x59));
    bits(lanes.map(|lane| (lane & select).simd_eq(want)))
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

/// Bits at positions `from..` of a block (`from` below 64).
#[inline(always)]
fn from_bit(from: usize) -> u64 {
    u64::MAX << (from & 63)
}

/// Bits below position `bit`.
fn below(bit: u32) -> u64 {
    (1u64 << bit) - 1
}

/// Classifies one block; `carry` says whether its first byte is escaped, and is updated
/// for the next block.
#[inline(always)]
fn classify(block: &[u8; 64], carry: &mut u64) -> Masks {
    let lanes = lanes_of(block);
    let backslash = if any_of(&lanes, b'\\') {
        mask_of(&lanes, b'\\')
    } else {
        0
    };
    let quotes = mask_of(&lanes, b'"');
    let quotes = if backslash == 0 && *carry == 0 {
        quotes
    } else {
        quotes & !escaped(backslash, carry)
    };
    [quotes, backslash, bracket_mask(&lanes)]
}

impl<'a> Index<'a> {
    /// Indexes `bytes`, keeping the masks in `storage`.
    pub(crate) fn new(bytes: &'a [u8], storage: &'a mut Storage) -> Self {
        let count = bytes.len().div_ceil(64);
        let masks: &mut [Masks] = if count <= INLINE_BLOCKS {
            &mut storage.inline[..count]
        } else {
            storage.heap.resize(count, [0; 3]);
            &mut storage.heap
        };
        let mut carry = 0;
        let (blocks, tail) = bytes.as_chunks::<64>();
        for (block, slot) in blocks.iter().zip(masks.iter_mut()) {
            *slot = classify(block, &mut carry);
        }
        if let Some(slot) = masks.get_mut(blocks.len()) {
            // The last, partial block, padded with spaces: spaces are in no mask, so
            // padding never shows up as a quote, backslash or bracket.
            let mut padded = [b' '; 64];
            padded[..tail.len()].copy_from_slice(tail);
            *slot = classify(&padded, &mut carry);
        }
        Index { bytes, masks }
    }

    /// The next unescaped quote at or after `from` (inside a string: its closing quote), and
    /// whether a backslash came before it.
    #[inline(always)]
    pub(crate) fn next_quote(&self, from: usize) -> Option<(usize, bool)> {
        let mut block = from / 64;
        let mut window = from_bit(from % 64);
        let mut escapes = false;
        loop {
            let [quotes, backslash, _] = *self.masks.get(block)?;
            let hits = quotes & window;
            if hits != 0 {
                let bit = hits.trailing_zeros();
                escapes |= backslash != 0 && backslash & window & below(bit) != 0;
                return Some((block * 64 + bit as usize, escapes));
            }
            escapes |= backslash & window != 0;
            block += 1;
            window = u64::MAX;
        }
    }

    /// The index just past the object or array whose opening bracket is at `start`.
    /// `start` is outside any string.
    pub(crate) fn nested_end(&self, start: usize) -> Result<usize, IndexError> {
        let mut block = start / 64;
        let mut window = from_bit(start % 64);
        // Open brackets, innermost lowest: a one for an object, a zero for an array.
        let mut objects: u128 = 0;
        let mut depth: u32 = 0;
        // All ones while the next block starts inside a string.
        let mut in_string = 0u64;
        while let Some(&[quotes, backslash, brackets]) = self.masks.get(block) {
            let base = block * 64;
            let strings = prefix_xor(quotes & window) ^ in_string;
            in_string = 0u64.wrapping_sub(strings >> 63);
            let outside = !strings & window;
            let mut events = brackets & outside;
            while events != 0 {
                let bit = events.trailing_zeros();
                events &= events - 1;
                let pos = base + bit as usize;
                let byte = self.bytes.get(pos).copied().unwrap_or_default();
                // Bit 1 tells openers from closers, bit 5 `{}` from `[]`; masking bit 5
                // off leaves `[` or `]` exactly for the brackets, never for look-alikes.
                let kind = u128::from(byte >> 5 & 1);
                if byte & 2 != 0 {
                    if byte & 0xDF != b'[' {
                        return Err((pos, "a JSON value"));
                    }
                    if depth == MAX_DEPTH {
                        return Err((pos, "nesting no deeper than 128 levels"));
                    }
                    objects = (objects << 1) | kind;
                    depth += 1;
                } else {
                    if byte & 0xDF != b']' {
                        return Err((pos, "a JSON value"));
                    }
                    if depth == 0 || (objects ^ kind) & 1 != 0 {
                        return Err((pos, "matching brackets"));
                    }
                    objects >>= 1;
                    depth -= 1;
                    if depth == 0 {
                        let before = backslash & outside & below(bit);
                        if before != 0 {
                            return Err((base + before.trailing_zeros() as usize, STRAY));
                        }
                        return Ok(pos + 1);
                    }
                }
            }
            let stray = backslash & outside;
            if stray != 0 {
                return Err((base + stray.trailing_zeros() as usize, STRAY));
            }
            block += 1;
            window = u64::MAX;
        }
        let what = if in_string != 0 {
            "the end of a string"
        } else {
            "the end of an object or array"
        };
        Err((self.bytes.len(), what))
    }
}

const STRAY: &str = "a value, not a backslash outside a string";

#[cfg(test)]
mod tests;
