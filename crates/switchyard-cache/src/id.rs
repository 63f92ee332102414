//! [`Id`]: a snowflake, read from Discord's strings (or numbers) and written back as strings.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Discord snowflake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub u64);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Digits written by hand: `collect_str` goes through `fmt`, several times slower,
        // and every member, user and presence written for `old` has ids.
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        let mut n = self.0;
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        match std::str::from_utf8(&buf[at..]) {
            Ok(digits) => s.serialize_str(digits),
            Err(_) => s.collect_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a snowflake (a string of digits)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                v.parse()
                    .map(Id)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_in_and_out() {
        let id: Id = serde_json::from_str(r#""81384788765712384""#).expect("string");
        assert_eq!(id, Id(81_384_788_765_712_384));
        assert_eq!(
            serde_json::to_string(&id).expect("json"),
            r#""81384788765712384""#
        );
        assert_eq!(serde_json::from_str::<Id>("42").expect("number"), Id(42));
        assert!(serde_json::from_str::<Id>(r#""4x2""#).is_err());
    }
}
