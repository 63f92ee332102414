//! What can be read from a Discord bot token without asking Discord: the bot's user id, which
//! Discord encodes as the token's first part, and the token inside an Authorization value.
//! The limiter scopes buckets by it, the face checks its clients' tokens with it, and the fake
//! Discord derives a bot's identity from it.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Base64 of either alphabet is read with or without its `=` padding.
const ANY_PAD: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, ANY_PAD);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, ANY_PAD);

/// The bot user id a token of Discord's form carries: the part before the first `.` is the
/// id's decimal digits in base64 (standard or URL-safe alphabet, padded or not), as in
/// `MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.xxxx` for 123456789012345678. `None` for any other token.
pub fn token_user_id(token: &str) -> Option<u64> {
    let (first, _) = token.split_once('.')?;
    if first.is_empty() {
        return None;
    }
    let digits = STANDARD
        .decode(first)
        .or_else(|_| URL_SAFE.decode(first))
        .ok()?;
    // u64::from_str would also take a leading '+'; a snowflake is digits only
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let id: u64 = std::str::from_utf8(&digits).ok()?.parse().ok()?;
    (id > 0).then_some(id)
}

/// The token in a token or an Authorization value: without its `Bot ` or `Bearer ` prefix
/// and the spaces around it.
pub fn strip_token_prefix(token: &str) -> &str {
    let t = token.trim();
    t.strip_prefix("Bot ")
        .or_else(|| t.strip_prefix("Bearer "))
        .unwrap_or(t)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_form_tokens_carry_the_bot_id() {
        for token in [
            "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.xxxxx",
            "MTIzNDU2Nzg5MDEyMzQ1Njc4.x",
        ] {
            assert_eq!(
                token_user_id(token),
                Some(123_456_789_012_345_678),
                "{token}"
            );
        }
        // 19 digits, with and without padding (digits encode alike in both alphabets)
        for token in [
            "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.a.b",
            "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ==.a.b",
        ] {
            assert_eq!(token_user_id(token), Some(1_234_567_890_123_456_789));
        }
        for other in [
            "test-token-1",
            "abc.def",
            ".abc",
            "MTIz",                                   // no dot: not the form
            "KzEyMw.a",                               // "+123"
            "aGVsbG8.a.b",                            // "hello"
            "MA.a.b",                                 // "0" is no snowflake
            "MTg0NDY3NDQwNzM3MDk1NTE2MTY.a",          // 2^64: over u64
            "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NQ==.a", // 25 digits
        ] {
            assert_eq!(token_user_id(other), None, "{other}");
        }
    }

    #[test]
    fn prefixes_are_dropped() {
        assert_eq!(strip_token_prefix("Bot abc"), "abc");
        assert_eq!(strip_token_prefix(" Bearer abc "), "abc");
        assert_eq!(strip_token_prefix("abc"), "abc");
    }
}
