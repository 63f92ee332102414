//! Checking that a request came from Discord: the ed25519 signature in
//! `X-Signature-Ed25519` over the bytes of `X-Signature-Timestamp` followed by the body,
//! against the application's public key, and the timestamp's age.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Deserializer};

/// An application's public key (Discord's developer portal shows it as 64 hex digits).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// Why a public key does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPublicKey {
    /// Not 64 hex digits.
    #[error("a public key is 64 hex digits (32 bytes), as the developer portal shows it")]
    Format,
    /// 32 bytes that are not a point of the curve.
    #[error("these 32 bytes are not an ed25519 public key")]
    Point,
}

impl FromStr for PublicKey {
    type Err = BadPublicKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut bytes).map_err(|_| BadPublicKey::Format)?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| BadPublicKey::Point)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0.as_bytes()))
    }
}

/// Why a request was refused (answered 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// A signature header is absent.
    #[error("no {0} header")]
    Missing(&'static str),
    /// The signature is not 128 hex digits.
    #[error("X-Signature-Ed25519 is not 128 hex digits")]
    SignatureFormat,
    /// The signature does not verify.
    #[error("the signature does not match the application's public key")]
    Signature,
    /// The timestamp is not Unix seconds.
    #[error("X-Signature-Timestamp is not Unix seconds")]
    Timestamp,
    /// The timestamp is further from now than the limit.
    #[error(
        "the timestamp is {age_s} s from now, more than interactions.max_age_s ({max_s} s): a replay or a skewed clock"
    )]
    Stale {
        /// Seconds between the timestamp and now.
        age_s: u64,
        /// The limit.
        max_s: u64,
    },
}

impl Refused {
    /// The reason as a metric label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Refused::Missing(_) => "missing_header",
            Refused::SignatureFormat | Refused::Signature => "bad_signature",
            Refused::Timestamp | Refused::Stale { .. } => "stale_timestamp",
        }
    }
}

/// Checks a request's signature and timestamp: `now_s` is the current Unix time, `max_age`
/// the furthest the timestamp may lie from it (either way: a clock ahead is as suspect).
pub(crate) fn verify(
    key: &PublicKey,
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    body: &[u8],
    now_s: u64,
    max_age: Duration,
) -> Result<(), Refused> {
    let signature = signature.ok_or(Refused::Missing("X-Signature-Ed25519"))?;
    let timestamp = timestamp.ok_or(Refused::Missing("X-Signature-Timestamp"))?;
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(signature, &mut bytes).map_err(|_| Refused::SignatureFormat)?;
    let signature = Signature::from_bytes(&bytes);
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp);
    message.extend_from_slice(body);
    key.0
        .verify_strict(&message, &signature)
        .map_err(|_| Refused::Signature)?;
    // Checked after the signature, so that only Discord learns about its clock.
    let at: u64 = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(Refused::Timestamp)?;
    let age_s = now_s.abs_diff(at);
    if age_s > max_age.as_secs() {
        return Err(Refused::Stale {
            age_s,
            max_s: max_age.as_secs(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    const MAX: Duration = Duration::from_secs(300);

    fn keys() -> (SigningKey, PublicKey) {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let public = hex::encode(signing.verifying_key().as_bytes());
        (signing, public.parse().expect("a public key"))
    }

    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        hex::encode(key.sign(&message).to_bytes())
    }

    fn check(sig: &str, ts: &str, body: &[u8], now: u64) -> Result<(), Refused> {
        let (_, public) = keys();
        verify(
            &public,
            Some(sig.as_bytes()),
            Some(ts.as_bytes()),
            body,
            now,
            MAX,
        )
    }

    #[test]
    fn a_good_signature_passes() {
        let (signing, _) = keys();
        let body = br#"{"type":1}"#;
        let sig = sign(&signing, "1700000000", body);
        assert_eq!(check(&sig, "1700000000", body, 1_700_000_010), Ok(()));
    }

    #[test]
    fn a_changed_body_timestamp_or_key_fails() {
        let (signing, _) = keys();
        let body = br#"{"type":1}"#;
        let sig = sign(&signing, "1700000000", body);
        let now = 1_700_000_000;
        let other_body = check(&sig, "1700000000", br#"{"type":2}"#, now);
        assert_eq!(other_body, Err(Refused::Signature));
        let other_time = check(&sig, "1700000001", body, now);
        assert_eq!(other_time, Err(Refused::Signature));
        let stranger = SigningKey::from_bytes(&[8; 32]);
        let forged = sign(&stranger, "1700000000", body);
        assert_eq!(
            check(&forged, "1700000000", body, now),
            Err(Refused::Signature)
        );
        assert_eq!(
            check("zz", "1700000000", body, now),
            Err(Refused::SignatureFormat)
        );
    }

    #[test]
    fn old_or_future_timestamps_fail_even_when_signed() {
        let (signing, _) = keys();
        let body = b"{}";
        let sig = sign(&signing, "1700000000", body);
        let late = check(&sig, "1700000000", body, 1_700_000_301);
        assert_eq!(
            late,
            Err(Refused::Stale {
                age_s: 301,
                max_s: 300
            })
        );
        assert!(check(&sig, "1700000000", body, 1_699_999_000).is_err());
        let sig = sign(&signing, "soon", body);
        assert_eq!(check(&sig, "soon", body, 0), Err(Refused::Timestamp));
    }

    #[test]
    fn missing_headers_and_bad_keys_are_named() {
        let (_, public) = keys();
        let none = verify(&public, None, Some(b"1"), b"", 1, MAX);
        assert_eq!(none, Err(Refused::Missing("X-Signature-Ed25519")));
        assert_eq!("abc".parse::<PublicKey>(), Err(BadPublicKey::Format));
        let debug = format!("{public:?}");
        assert!(debug.len() > 64, "{debug}");
    }
}
