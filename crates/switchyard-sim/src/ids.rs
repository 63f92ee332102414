//! Snowflakes, the seeded random generator, and the deterministic identity of a bot token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use switchyard_core::token::{strip_token_prefix, token_user_id};

/// Discord's epoch (2015-01-01) in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Builds a snowflake from Unix milliseconds and 22 low bits.
pub fn snowflake(unix_ms: u64, low: u64) -> u64 {
    (unix_ms.saturating_sub(DISCORD_EPOCH_MS) << 22) | (low & 0x3f_ffff)
}

/// The Unix time in milliseconds encoded in a snowflake.
pub fn snowflake_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

/// Unix time now in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An ISO-8601 timestamp for Unix milliseconds, as Discord writes them.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let millis = unix_ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}000+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Hands out fresh, increasing snowflakes for objects created at run time.
#[derive(Debug, Default)]
pub struct SnowflakeGen {
    counter: AtomicU64,
}

impl SnowflakeGen {
    /// A new snowflake with the current time.
    pub fn next(&self) -> u64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        snowflake(now_ms(), n)
    }
}

/// A small deterministic generator (SplitMix64), so that worlds depend only on their seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0), from the high bits (multiply-shift).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Picks one element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// A snowflake created between 2016 and 2023.
    pub fn snowflake(&mut self) -> u64 {
        let start = 1_451_606_400_000; // 2016-01-01
        let span = 8 * 365 * 86_400_000;
        snowflake(start + self.below(span), self.next_u64())
    }
}

/// The fixed identity of a bot, derived from its token alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot user's id, also the application id (as for bots created since 2017).
    pub user_id: u64,
    /// The application id.
    pub application_id: u64,
    /// The bot's username.
    pub username: String,
}

impl BotIdentity {
    /// The identity of a (prefix-stripped) token. A token of Discord's form carries the bot's
    /// user id (see [`token_user_id`]), which is then also the application id; any other
    /// token gets ids derived from a hash of it.
    pub fn from_token(token: &str) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_64(token.as_bytes());
        let user_id = token_user_id(token).unwrap_or_else(|| Rng::new(hash).snowflake());
        Self {
            user_id,
            application_id: user_id,
            username: format!("SimBot{:04}", hash % 10_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_have_discord_lengths_and_times() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let id = rng.snowflake();
            let len = id.to_string().len();
            assert!((17..=19).contains(&len), "{id}");
            assert!(snowflake_ms(id) >= 1_451_606_400_000);
        }
        let fresh = SnowflakeGen::default().next();
        assert_eq!(fresh.to_string().len(), 19);
    }

    #[test]
    fn token_identity_is_deterministic_and_distinct() {
        assert_eq!(BotIdentity::from_token("a"), BotIdentity::from_token("a"));
        assert_ne!(
            BotIdentity::from_token("a").user_id,
            BotIdentity::from_token("b").user_id
        );
    }

    #[test]
    fn real_form_tokens_carry_the_bot_id() {
        let id = BotIdentity::from_token("MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.xxxxx");
        assert_eq!(id.user_id, 123_456_789_012_345_678);
        assert_eq!(id.application_id, id.user_id);
    }

    #[test]
    fn iso_timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso8601(1_700_000_000_123),
            "2023-11-14T22:13:20.123000+00:00"
        );
    }
}
