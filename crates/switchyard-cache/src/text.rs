//! Compact forms of the strings Discord repeats in every member and user: timestamps (ISO
//! 8601 in UTC, kept as microseconds) and image hashes (32 hex digits, kept as 16 bytes),
//! each written back exactly as it came.

use std::fmt::{self, Write};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A nullable timestamp such as `2015-04-26T06:26:56.936000+00:00`: the microseconds since
/// 1970, how many fraction digits it had (0 to 6) and whether it ended in `Z` or `+00:00`,
/// in eight bytes. `0` is `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Time(u64);

impl Time {
    pub const NULL: Time = Time(0);

    pub fn is_null(self) -> bool {
        self.0 == 0
    }

    /// Milliseconds since 1970, unless null.
    pub fn unix_ms(self) -> Option<u64> {
        (!self.is_null()).then(|| ((self.0 - 1) >> 4) / 1000)
    }

    /// Reads Discord's ISO 8601 form (UTC, up to microseconds).
    pub fn parse(s: &str) -> Option<Time> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u64> {
            let part = b.get(r)?;
            part.iter().try_fold(0u64, |n, c| {
                c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
            })
        };
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 59 {
            return None;
        }
        let mut at = 19;
        let mut digits = 0;
        let mut frac = 0;
        if b[at] == b'.' {
            at += 1;
            while at < b.len() && b[at].is_ascii_digit() {
                if digits == 6 {
                    return None;
                }
                frac = frac * 10 + u64::from(b[at] - b'0');
                digits += 1;
                at += 1;
            }
            if digits == 0 {
                return None;
            }
        }
        let zulu = match &b[at..] {
            b"Z" => 1,
            b"+00:00" => 0,
            _ => return None,
        };
        let micros_frac = frac * 10u64.pow(6 - digits);
        let days = days_from_civil(year as i64, month as i64, day as i64);
        if days < 0 || civil_from_days(days) != (year as i64, month as i64, day as i64) {
            return None;
        }
        let secs = days as u64 * 86_400 + h * 3600 + m * 60 + sec;
        let micros = secs * 1_000_000 + micros_frac;
        // micros < 2^52 until the year 2112; four bits of form beside it, and `+ 1` so that
        // 0 stays null.
        if micros >= 1 << 59 {
            return None;
        }
        Some(Time(((micros << 4) | (u64::from(digits) << 1) | zulu) + 1))
    }

    /// Writes the text into `buf` by hand (`fmt` is several times slower); its length.
    fn digits(self, buf: &mut [u8; 32]) -> usize {
        let v = self.0 - 1;
        let (micros, digits, zulu) = (v >> 4, ((v >> 1) & 7) as usize, v & 1 == 1);
        let secs = micros / 1_000_000;
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let year = year.clamp(0, 9999) as u64;
        two(&mut buf[0..2], year / 100);
        two(&mut buf[2..4], year);
        let mut at = 4;
        let fields: [(u8, u64); 5] = [
            (b'-', month as u64),
            (b'-', day as u64),
            (b'T', secs % 86_400 / 3600),
            (b':', secs % 3600 / 60),
            (b':', secs % 60),
        ];
        for (sep, n) in fields {
            buf[at] = sep;
            two(&mut buf[at + 1..at + 3], n);
            at += 3;
        }
        if digits > 0 {
            buf[at] = b'.';
            let mut frac = (micros % 1_000_000) / 10u64.pow(6 - digits as u32);
            for k in (0..digits).rev() {
                buf[at + 1 + k] = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            at += 1 + digits;
        }
        let tail: &[u8] = if zulu { b"Z" } else { b"+00:00" };
        buf[at..at + tail.len()].copy_from_slice(tail);
        at + tail.len()
    }

    fn write(self, out: &mut impl Write) -> fmt::Result {
        let v = self.0 - 1;
        let (micros, digits, zulu) = (v >> 4, ((v >> 1) & 7) as u32, v & 1 == 1);
        let secs = micros / 1_000_000;
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
        write!(out, "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}")?;
        if digits > 0 {
            let frac = (micros % 1_000_000) / 10u64.pow(6 - digits);
            write!(out, ".{frac:0width$}", width = digits as usize)?;
        }
        out.write_str(if zulu { "Z" } else { "+00:00" })
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_null() {
            return f.write_str("null");
        }
        self.write(f)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_null() {
            return s.serialize_none();
        }
        let mut buf = [0u8; 32];
        let len = self.digits(&mut buf);
        match std::str::from_utf8(&buf[..len]) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 timestamp in UTC, or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Time, E> {
                Time::parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Time, E> {
                Ok(Time::NULL)
            }
            fn visit_none<E: de::Error>(self) -> Result<Time, E> {
                Ok(Time::NULL)
            }
        }
        d.deserialize_any(V)
    }
}

/// Two digits of `n` into `out`.
fn two(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// An image hash (avatar, banner): 32 lowercase hex digits, `a_` before them when animated,
/// kept as 16 bytes; anything else Discord might send is kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageHash {
    /// The common form.
    Hex { animated: bool, bytes: [u8; 16] },
    /// Any other form, as sent.
    Text(Box<str>),
}

impl ImageHash {
    pub fn new(s: &str) -> ImageHash {
        let (animated, hex) = match s.strip_prefix("a_") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let mut bytes = [0u8; 16];
        let ok = hex.len() == 32
            && hex.as_bytes().chunks(2).zip(&mut bytes).all(|(pair, out)| {
                match (nibble(pair[0]), nibble(pair[1])) {
                    (Some(hi), Some(lo)) => {
                        *out = hi << 4 | lo;
                        true
                    }
                    _ => false,
                }
            });
        if ok {
            ImageHash::Hex { animated, bytes }
        } else {
            ImageHash::Text(s.into())
        }
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for ImageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageHash::Hex { animated, bytes } => {
                if *animated {
                    f.write_str("a_")?;
                }
                bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            ImageHash::Text(s) => f.write_str(s),
        }
    }
}

impl Serialize for ImageHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ImageHash::Hex { animated, bytes } => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut buf = [0u8; 34];
                let at = if *animated { 2 } else { 0 };
                buf[..2].copy_from_slice(b"a_");
                for (i, b) in bytes.iter().enumerate() {
                    buf[at + 2 * i] = HEX[usize::from(b >> 4)];
                    buf[at + 2 * i + 1] = HEX[usize::from(b & 15)];
                }
                match std::str::from_utf8(&buf[..at + 32]) {
                    Ok(text) => s.serialize_str(text),
                    Err(_) => s.collect_str(self),
                }
            }
            ImageHash::Text(text) => s.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for ImageHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ImageHash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an image hash")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ImageHash, E> {
                Ok(ImageHash::new(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_come_back_as_they_came() {
        for s in [
            "2015-04-26T06:26:56.936000+00:00",
            "2020-01-01T00:00:00+00:00",
            "2021-12-23T07:55:45.813Z",
            "1970-01-01T00:00:00.000001+00:00",
            "2099-12-31T23:59:59.999999+00:00",
            "2024-02-29T12:00:00.5+00:00",
        ] {
            let t = Time::parse(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(t.to_string(), s);
            let json = serde_json::to_string(&t).expect("json");
            assert_eq!(json, format!("\"{s}\""));
            let back: Time = serde_json::from_str(&json).expect("back");
            assert_eq!(back, t);
        }
        let null: Time = serde_json::from_str("null").expect("null");
        assert!(null.is_null());
        assert_eq!(serde_json::to_string(&null).expect("json"), "null");
    }

    #[test]
    fn timestamps_order_as_time_does() {
        let a = Time::parse("2015-04-26T06:26:56.936000+00:00").expect("a");
        let b = Time::parse("2015-04-26T06:26:57+00:00").expect("b");
        assert!(a.0 >> 4 < b.0 >> 4);
    }

    #[test]
    fn other_timestamp_forms_are_refused() {
        for s in [
            "2015-04-26 06:26:56+00:00",
            "2015-04-26T06:26:56+02:00",
            "2015-04-26T06:26:56.1234567+00:00",
            "2015-13-26T06:26:56+00:00",
            "2015-02-30T06:26:56+00:00",
            "yesterday",
        ] {
            assert!(Time::parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn image_hashes_come_back_as_they_came() {
        for s in [
            "8342729096ea3675442027381ff50dfe",
            "a_8342729096ea3675442027381ff50dfe",
            "not-a-hash",
            "8342729096EA3675442027381FF50DFE",
        ] {
            let h = ImageHash::new(s);
            assert_eq!(h.to_string(), s);
        }
        assert!(matches!(
            ImageHash::new("a_8342729096ea3675442027381ff50dfe"),
            ImageHash::Hex { animated: true, .. }
        ));
    }
}
