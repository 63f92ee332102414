//! Signed control messages: the `auth` member that a control message carries when the
//! deployment has a control key, how it is made, and how a receiver checks it (signature,
//! time window, nonces seen within the window).
//!
//! The signature is an HMAC-SHA256, keyed with the control key, over the canonical JSON (keys
//! sorted, no whitespace) of `{"d", "nonce", "s", "topic", "ts", "v"}`: the message's fields
//! (with `opcode`), the nonce, its source, the topic it is published on, the time in
//! milliseconds since the Unix epoch, and the version of this scheme. `docs/wire-format.md`
//! spells it out for clients in other languages. The key itself never travels.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::{ControlError, ControlMessage, Wire};

/// The version of the signing scheme, `auth.v`.
pub const AUTH_VERSION: u64 = 1;

/// How far a message's time may be from the receiver's clock, either way.
pub const WINDOW: Duration = Duration::from_secs(30);

/// How many nonces a receiver remembers at most; beyond, it refuses messages until older
/// ones leave the window (a flood, not a deployment's traffic: a pool of 100 nodes beating
/// every second sends 6,000 in a window).
pub const MAX_NONCES: usize = 65_536;

/// The `auth` member of a signed control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// The scheme's version, [`AUTH_VERSION`].
    pub v: u64,
    /// When it was signed, in milliseconds since the Unix epoch.
    pub ts: u64,
    /// A random string (16 random bytes in hex), never used twice.
    pub nonce: String,
    /// The HMAC-SHA256, in lowercase hex.
    pub mac: String,
}

type HmacSha256 = Hmac<Sha256>;

/// The control key, ready to sign and check. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ControlKey {
    mac: HmacSha256,
}

impl fmt::Debug for ControlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControlKey(…)")
    }
}

impl ControlKey {
    /// A key from its bytes (any length).
    pub fn new(key: &[u8]) -> Self {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mac = <HmacSha256 as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
        ControlKey { mac }
    }

    fn mac_over(
        &self,
        topic: &str,
        source: &str,
        d: &Map<String, Value>,
        ts: u64,
        nonce: &str,
    ) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(&signed_bytes(topic, source, d, ts, nonce));
        mac
    }

    /// `msg`, signed for `topic` now with a fresh nonce, encoded for the wire.
    pub fn sign(&self, topic: &str, msg: &ControlMessage) -> Vec<u8> {
        self.sign_at(topic, msg, now_ms(), &fresh_nonce())
    }

    /// `msg`, signed for `topic` at `ts` (ms since the epoch) with `nonce`.
    pub fn sign_at(&self, topic: &str, msg: &ControlMessage, ts: u64, nonce: &str) -> Vec<u8> {
        let d = msg.wire_fields();
        let mac = self.mac_over(topic, &msg.source, &d, ts, nonce);
        let auth = Auth {
            v: AUTH_VERSION,
            ts,
            nonce: nonce.to_owned(),
            mac: hex::encode(mac.finalize().into_bytes()),
        };
        msg.encode_with(d, Some(auth))
    }
}

/// Encodes `msg` for `topic`: signed when there is a key, plain otherwise.
pub fn encode(key: Option<&ControlKey>, topic: &str, msg: &ControlMessage) -> Vec<u8> {
    match key {
        Some(key) => key.sign(topic, msg),
        None => msg.encode(),
    }
}

/// The bytes the HMAC covers: the canonical JSON of `{d, nonce, s, topic, ts, v}`.
pub fn signed_bytes(
    topic: &str,
    source: &str,
    d: &Map<String, Value>,
    ts: u64,
    nonce: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"d\":");
    canonical(&mut out, &Value::Object(d.clone()));
    out.extend_from_slice(b",\"nonce\":");
    canonical(&mut out, &Value::from(nonce));
    out.extend_from_slice(b",\"s\":");
    canonical(&mut out, &Value::from(source));
    out.extend_from_slice(b",\"topic\":");
    canonical(&mut out, &Value::from(topic));
    out.extend_from_slice(b",\"ts\":");
    out.extend_from_slice(itoa::Buffer::new().format(ts).as_bytes());
    out.extend_from_slice(b",\"v\":");
    out.extend_from_slice(itoa::Buffer::new().format(AUTH_VERSION).as_bytes());
    out.push(b'}');
    out
}

/// Writes `value` as canonical JSON: object keys sorted by their bytes, no whitespace, strings
/// escaped as `serde_json` (and Python's `json.dumps(..., ensure_ascii=False)`) escape them.
fn canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(out, &Value::from(k.as_str()));
                out.push(b':');
                if let Some(v) = map.get(k) {
                    canonical(out, v);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(out, v);
            }
            out.push(b']');
        }
        // Scalars: serde_json's compact form, which writing to a Vec cannot fail.
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// Milliseconds since the Unix epoch by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// 16 random bytes in hex.
pub fn fresh_nonce() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: the time and a counter are unique per process, which is what a
        // nonce needs (it need not be secret).
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&now_ms().to_le_bytes());
        bytes[8..].copy_from_slice(&n.to_le_bytes());
    }
    hex::encode(bytes)
}

/// Why a control message was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// It does not decode.
    #[error(transparent)]
    Malformed(#[from] ControlError),
    /// It has no `auth` (or an `auth` of another version), and this receiver has a key.
    #[error("unsigned control message: this receiver requires the control key's signature")]
    Unsigned,
    /// The HMAC does not match: another key, or a changed message or topic.
    #[error("bad signature: signed with another key, or changed on the way")]
    BadSignature,
    /// Its time is outside the window.
    #[error(
        "stale control message: signed {skew_ms} ms from this receiver's clock (the window is ±30 s)"
    )]
    Stale {
        /// How far off, in milliseconds.
        skew_ms: u64,
    },
    /// Its nonce was seen within the window.
    #[error("replayed control message: its nonce was already used")]
    Replayed,
    /// Too many nonces within the window to remember another.
    #[error("too many control messages within the window to check for replay")]
    Flooded,
}

impl Refusal {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::Unsigned => "unsigned",
            Refusal::BadSignature => "bad_signature",
            Refusal::Stale { .. } => "stale",
            Refusal::Replayed => "replayed",
            Refusal::Flooded => "flooded",
        }
    }
}

/// Checks control messages for one receiver: with a key, each must be signed for the topic
/// it arrived on, within the window, with a nonce not seen before; without, any decodes.
#[derive(Debug)]
pub struct Verifier {
    key: Option<ControlKey>,
    /// Nonce → the time until which it could still be accepted.
    seen: Mutex<HashMap<String, u64>>,
}

impl Verifier {
    /// A verifier for `key` (`None`: no checks).
    pub fn new(key: Option<ControlKey>) -> Self {
        Verifier {
            key,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether messages must be signed.
    pub fn requires_signature(&self) -> bool {
        self.key.is_some()
    }

    /// Checks `payload`, received on `topic`, now.
    pub fn check(&self, topic: &str, payload: &[u8]) -> Result<ControlMessage, Refusal> {
        self.check_at(topic, payload, now_ms())
    }

    /// Checks `payload`, received on `topic`, at `now` (ms since the epoch).
    pub fn check_at(
        &self,
        topic: &str,
        payload: &[u8],
        now: u64,
    ) -> Result<ControlMessage, Refusal> {
        let wire: Wire = serde_json::from_slice(payload).map_err(ControlError::from)?;
        let Some(key) = &self.key else {
            return Ok(ControlMessage::from_wire(wire)?);
        };
        let auth = match &wire.auth {
            Some(auth) if auth.v == AUTH_VERSION => auth,
            _ => return Err(Refusal::Unsigned),
        };
        let mac = hex::decode(&auth.mac).map_err(|_| Refusal::BadSignature)?;
        key.mac_over(topic, &wire.s, &wire.d, auth.ts, &auth.nonce)
            .verify_slice(&mac)
            .map_err(|_| Refusal::BadSignature)?;
        let window = u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX);
        let skew_ms = now.abs_diff(auth.ts);
        if skew_ms > window {
            return Err(Refusal::Stale { skew_ms });
        }
        self.remember(&auth.nonce, auth.ts.saturating_add(window), now)?;
        Ok(ControlMessage::from_wire(wire)?)
    }

    /// Records `nonce` until `until`; refuses one already recorded.
    fn remember(&self, nonce: &str, until: u64, now: u64) -> Result<(), Refusal> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.get(nonce).is_some_and(|&t| t >= now) {
            return Err(Refusal::Replayed);
        }
        if seen.len() >= MAX_NONCES {
            seen.retain(|_, t| *t >= now);
            if seen.len() >= MAX_NONCES {
                return Err(Refusal::Flooded);
            }
        }
        seen.insert(nonce.to_owned(), until);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ControlOp, Lifecycle};

    const T0: u64 = 1_800_000_000_000;
    const TOPIC: &str = "control.echo";

    fn shutdown() -> ControlMessage {
        let body = Lifecycle {
            name: "echo".into(),
            instance: None,
            reason: Some("deploy".into()),
        };
        ControlMessage::new("gateway", ControlOp::Shutdown, &body).expect("object")
    }

    fn verifier(key: &str) -> Verifier {
        Verifier::new(Some(ControlKey::new(key.as_bytes())))
    }

    #[test]
    fn signed_is_accepted_once_and_the_key_never_travels() {
        let key = ControlKey::new(b"k3y-material");
        let bytes = key.sign_at(TOPIC, &shutdown(), T0, "00112233445566778899aabbccddeeff");
        assert!(!String::from_utf8_lossy(&bytes).contains("k3y-material"));
        let v = verifier("k3y-material");
        let msg = v.check_at(TOPIC, &bytes, T0 + 1_000).expect("accepted");
        assert_eq!(msg, shutdown());
        let again = v.check_at(TOPIC, &bytes, T0 + 2_000).unwrap_err();
        assert!(matches!(again, Refusal::Replayed), "{again}");
    }

    #[test]
    fn unsigned_wrong_key_tampered_and_other_topic_are_refused() {
        let v = verifier("right");
        let plain = shutdown().encode();
        assert!(matches!(
            v.check_at(TOPIC, &plain, T0),
            Err(Refusal::Unsigned)
        ));
        let wrong = ControlKey::new(b"wrong").sign_at(TOPIC, &shutdown(), T0, "n1n1n1n1n1n1n1n1");
        assert!(matches!(
            v.check_at(TOPIC, &wrong, T0),
            Err(Refusal::BadSignature)
        ));
        let good = ControlKey::new(b"right").sign_at(TOPIC, &shutdown(), T0, "n2n2n2n2n2n2n2n2");
        let tampered = String::from_utf8(good.clone())
            .expect("utf8")
            .replace("deploy", "deplox");
        assert!(matches!(
            v.check_at(TOPIC, tampered.as_bytes(), T0),
            Err(Refusal::BadSignature)
        ));
        assert!(matches!(
            v.check_at("control.other", &good, T0),
            Err(Refusal::BadSignature)
        ));
        // The refusals used no nonce: the good one still goes through.
        v.check_at(TOPIC, &good, T0)
            .expect("signed with the right key");
    }

    #[test]
    fn stale_either_way_is_refused() {
        let key = ControlKey::new(b"k");
        let v = verifier("k");
        let old = key.sign_at(TOPIC, &shutdown(), T0, "a1a1a1a1a1a1a1a1");
        let e = v.check_at(TOPIC, &old, T0 + 31_000).unwrap_err();
        assert!(matches!(e, Refusal::Stale { skew_ms: 31_000 }), "{e}");
        let future = key.sign_at(TOPIC, &shutdown(), T0 + 31_000, "a2a2a2a2a2a2a2a2");
        assert_eq!(v.check_at(TOPIC, &future, T0).unwrap_err().label(), "stale");
    }

    #[test]
    fn without_a_key_anything_decodes() {
        let v = Verifier::new(None);
        assert_eq!(
            v.check_at(TOPIC, &shutdown().encode(), 0).expect("plain"),
            shutdown()
        );
        let signed = ControlKey::new(b"k").sign(TOPIC, &shutdown());
        assert_eq!(v.check(TOPIC, &signed).expect("signed"), shutdown());
        assert_eq!(v.check(TOPIC, b"nope").unwrap_err().label(), "malformed");
    }

    #[test]
    fn the_signed_bytes_are_canonical_json() {
        let d = shutdown().wire_fields();
        let bytes = signed_bytes(TOPIC, "gateway", &d, 5, "n");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            r#"{"d":{"name":"echo","opcode":1,"reason":"deploy"},"nonce":"n","s":"gateway","topic":"control.echo","ts":5,"v":1}"#
        );
        // The same HMAC as `hmac.new(b"k", that, hashlib.sha256).hexdigest()` in Python.
        let signed = ControlKey::new(b"k").sign_at(TOPIC, &shutdown(), 5, "n");
        let wire: serde_json::Value = serde_json::from_slice(&signed).expect("json");
        assert_eq!(
            wire["auth"]["mac"].as_str(),
            Some("875ea84466d92be7328f3471fd2f55912dcee2b6ee9f455f59acce85a953fdae")
        );
    }

    #[test]
    fn nonces_are_bounded() {
        let key = ControlKey::new(b"k");
        let v = verifier("k");
        for i in 0..MAX_NONCES {
            v.remember(&format!("n{i}"), T0 + 30_000, T0).expect("room");
        }
        let msg = key.sign_at(TOPIC, &shutdown(), T0, "fresh-fresh-fresh");
        assert!(matches!(v.check_at(TOPIC, &msg, T0), Err(Refusal::Flooded)));
        // Once the old ones leave the window, there is room again.
        let later = key.sign_at(TOPIC, &shutdown(), T0 + 31_000, "later-later-later");
        v.check_at(TOPIC, &later, T0 + 31_000)
            .expect("room after the window");
    }
}
