//! Decoding client gateway frames into typed operations, with the close code Discord uses
//! for each kind of bad input. Pure and panic-free: this is the fuzz target.

use serde::Deserialize;
use serde_json::Value;

/// The largest client frame Discord accepts.
pub const MAX_CLIENT_FRAME: usize = 4096;

/// The longest nonce of REQUEST_GUILD_MEMBERS echoed in its chunks, in bytes.
pub const MAX_NONCE: usize = 32;

/// A close code and its reason, for bad client input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct CloseReason {
    /// The WebSocket close code.
    pub code: u16,
    /// The human-readable reason sent with it.
    pub reason: &'static str,
}

impl CloseReason {
    /// 4000 unknown error.
    pub const UNKNOWN_ERROR: Self = Self {
        code: 4000,
        reason: "Unknown error.",
    };
    /// 4001 unknown opcode or bad payload for an opcode.
    pub const UNKNOWN_OPCODE: Self = Self {
        code: 4001,
        reason: "Unknown opcode.",
    };
    /// 4001 for a payload that does not fit its opcode.
    pub const BAD_PAYLOAD: Self = Self {
        code: 4001,
        reason: "Invalid payload for opcode.",
    };
    /// 4002 decode error.
    pub const DECODE: Self = Self {
        code: 4002,
        reason: "Error while decoding payload.",
    };
    /// 4003 not authenticated.
    pub const NOT_AUTHENTICATED: Self = Self {
        code: 4003,
        reason: "Not authenticated.",
    };
    /// 4004 authentication failed.
    pub const AUTH_FAILED: Self = Self {
        code: 4004,
        reason: "Authentication failed.",
    };
    /// 4005 already authenticated.
    pub const ALREADY_AUTHENTICATED: Self = Self {
        code: 4005,
        reason: "Already authenticated.",
    };
    /// 4007 invalid seq.
    pub const INVALID_SEQ: Self = Self {
        code: 4007,
        reason: "Invalid seq.",
    };
    /// 4008 rate limited.
    pub const RATE_LIMITED: Self = Self {
        code: 4008,
        reason: "Rate limited.",
    };
    /// 4009 session timed out.
    pub const SESSION_TIMEOUT: Self = Self {
        code: 4009,
        reason: "Session timed out.",
    };
    /// 4010 invalid shard.
    pub const INVALID_SHARD: Self = Self {
        code: 4010,
        reason: "Invalid shard.",
    };
    /// 4011 sharding required.
    pub const SHARDING_REQUIRED: Self = Self {
        code: 4011,
        reason: "Sharding required.",
    };
    /// 4012 invalid API version.
    pub const INVALID_VERSION: Self = Self {
        code: 4012,
        reason: "Invalid API version.",
    };
    /// 4013 invalid intents.
    pub const INVALID_INTENTS: Self = Self {
        code: 4013,
        reason: "Invalid intent(s).",
    };
    /// 4014 disallowed intents.
    pub const DISALLOWED_INTENTS: Self = Self {
        code: 4014,
        reason: "Disallowed intent(s).",
    };
}

/// IDENTIFY's data (its `Debug` redacts the token).
#[derive(Clone, PartialEq, Deserialize)]
pub struct Identify {
    /// The token, possibly prefixed with `Bot `.
    pub token: String,
    /// Connection properties (must be an object).
    pub properties: serde_json::Map<String, Value>,
    /// Payload compression.
    #[serde(default)]
    pub compress: Option<bool>,
    /// Member count above which a guild is "large".
    #[serde(default)]
    pub large_threshold: Option<u64>,
    /// `[shard_id, num_shards]`.
    #[serde(default)]
    pub shard: Option<[u64; 2]>,
    /// Initial presence.
    #[serde(default)]
    pub presence: Option<Value>,
    /// Gateway intents (required in v10).
    pub intents: Option<u64>,
}

/// RESUME's data (its `Debug` redacts the token).
#[derive(Clone, PartialEq, Deserialize)]
pub struct Resume {
    /// The token.
    pub token: String,
    /// The session to resume.
    pub session_id: String,
    /// The last sequence number received (Discord accepts null as 0).
    pub seq: Option<u64>,
}

impl std::fmt::Debug for Identify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identify")
            .field("token", &"<redacted>")
            .field("intents", &self.intents)
            .field("shard", &self.shard)
            .field("compress", &self.compress)
            .field("large_threshold", &self.large_threshold)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("token", &"<redacted>")
            .field("session_id", &self.session_id)
            .field("seq", &self.seq)
            .finish()
    }
}

/// REQUEST_GUILD_MEMBERS's data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RequestMembers {
    /// The guild (a snowflake string or number).
    pub guild_id: Snowflake,
    /// Username prefix.
    #[serde(default)]
    pub query: Option<String>,
    /// Maximum number of members (0 = all with an empty query).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Whether to include presences.
    #[serde(default)]
    pub presences: Option<bool>,
    /// Specific users.
    #[serde(default)]
    pub user_ids: Option<OneOrMany>,
    /// Echoed in the chunks; a nonce over [`MAX_NONCE`] bytes is dropped, as Discord ignores it.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// A snowflake sent as a string or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snowflake(pub u64);

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Self(n)),
            Raw::S(s) => s.parse().map(Self).map_err(serde::de::Error::custom),
        }
    }
}

impl serde::Serialize for Snowflake {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// One snowflake or a list of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single id.
    One(Snowflake),
    /// Several ids.
    Many(Vec<Snowflake>),
}

impl OneOrMany {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u64> {
        match self {
            Self::One(s) => vec![s.0],
            Self::Many(v) => v.iter().map(|s| s.0).collect(),
        }
    }
}

/// VOICE_STATE_UPDATE's data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VoiceState {
    /// The guild.
    pub guild_id: Snowflake,
    /// The channel joined, or null to leave.
    pub channel_id: Option<Snowflake>,
    /// Self-mute.
    #[serde(default)]
    pub self_mute: bool,
    /// Self-deafen.
    #[serde(default)]
    pub self_deaf: bool,
}

/// A decoded client operation.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOp {
    /// op 1 with the client's last sequence number.
    Heartbeat(Option<u64>),
    /// op 2.
    Identify(Box<Identify>),
    /// op 3 with the new presence.
    Presence(Value),
    /// op 4.
    VoiceState(VoiceState),
    /// op 6.
    Resume(Resume),
    /// op 8.
    RequestMembers(RequestMembers),
    /// op 31 with the guild ids.
    RequestSoundboard(Vec<u64>),
    /// op 43 with the guild id and requested fields.
    RequestChannelInfo(u64, Vec<String>),
}

struct Envelope {
    op: u64,
    d: Value,
}

#[derive(Deserialize)]
struct Soundboard {
    guild_ids: Vec<Snowflake>,
}

#[derive(Deserialize)]
struct ChannelInfo {
    guild_id: Snowflake,
    #[serde(default)]
    fields: Vec<String>,
}

fn data<T: serde::de::DeserializeOwned>(d: Value) -> Result<T, CloseReason> {
    serde_json::from_value(d).map_err(|_| CloseReason::BAD_PAYLOAD)
}

/// Decodes one client text frame. Frames over 4096 bytes and anything that is not a JSON
/// object with an integer `op` are decode errors (4002); an unknown opcode or a payload that
/// does not fit its opcode is 4001.
pub fn decode_client_frame(frame: &[u8]) -> Result<ClientOp, CloseReason> {
    if frame.len() > MAX_CLIENT_FRAME {
        return Err(CloseReason::DECODE);
    }
    let mut obj: serde_json::Map<String, Value> =
        serde_json::from_slice(frame).map_err(|_| CloseReason::DECODE)?;
    let op = obj
        .get("op")
        .and_then(Value::as_u64)
        .ok_or(CloseReason::DECODE)?;
    let env = Envelope {
        op,
        d: obj.remove("d").unwrap_or(Value::Null),
    };
    match env.op {
        1 => match env.d {
            Value::Null => Ok(ClientOp::Heartbeat(None)),
            Value::Number(n) => n
                .as_u64()
                .map(|s| ClientOp::Heartbeat(Some(s)))
                .ok_or(CloseReason::BAD_PAYLOAD),
            _ => Err(CloseReason::BAD_PAYLOAD),
        },
        2 => Ok(ClientOp::Identify(Box::new(data(env.d)?))),
        3 => match env.d {
            Value::Object(_) => Ok(ClientOp::Presence(env.d)),
            _ => Err(CloseReason::BAD_PAYLOAD),
        },
        4 => Ok(ClientOp::VoiceState(data(env.d)?)),
        6 => Ok(ClientOp::Resume(data(env.d)?)),
        8 => {
            let mut r: RequestMembers = data(env.d)?;
            if r.nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
                // Discord ignores an invalid nonce: the chunks come without one
                r.nonce = None;
            }
            if r.query.is_none() && r.user_ids.is_none() {
                return Err(CloseReason::BAD_PAYLOAD);
            }
            Ok(ClientOp::RequestMembers(r))
        }
        31 => {
            let s: Soundboard = data(env.d)?;
            Ok(ClientOp::RequestSoundboard(
                s.guild_ids.iter().map(|g| g.0).collect(),
            ))
        }
        43 => {
            let c: ChannelInfo = data(env.d)?;
            Ok(ClientOp::RequestChannelInfo(c.guild_id.0, c.fields))
        }
        _ => Err(CloseReason::UNKNOWN_OPCODE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_ops_clients_send() {
        assert_eq!(
            decode_client_frame(br#"{"op":1,"d":null}"#),
            Ok(ClientOp::Heartbeat(None))
        );
        assert_eq!(
            decode_client_frame(br#"{"op":1,"d":42}"#),
            Ok(ClientOp::Heartbeat(Some(42)))
        );
        let id = br#"{"op":2,"d":{"token":"Bot x","properties":{"os":"linux"},"intents":513,"shard":[0,1]}}"#;
        match decode_client_frame(id) {
            Ok(ClientOp::Identify(i)) => {
                assert_eq!(i.token, "Bot x");
                assert_eq!(i.intents, Some(513));
                assert_eq!(i.shard, Some([0, 1]));
            }
            other => panic!("{other:?}"),
        }
        let m = br#"{"op":8,"d":{"guild_id":"123","query":"","limit":0,"nonce":"n"}}"#;
        assert!(matches!(
            decode_client_frame(m),
            Ok(ClientOp::RequestMembers(_))
        ));
        let long = format!(
            r#"{{"op":8,"d":{{"guild_id":"1","query":"","nonce":"{}"}}}}"#,
            "n".repeat(MAX_NONCE + 1)
        );
        match decode_client_frame(long.as_bytes()) {
            Ok(ClientOp::RequestMembers(r)) => assert_eq!(r.nonce, None),
            other => panic!("an over-long nonce is dropped, not refused: {other:?}"),
        }
    }

    #[test]
    fn bad_input_gets_discords_close_codes() {
        assert_eq!(
            decode_client_frame(b"not json").map_err(|e| e.code),
            Err(4002)
        );
        assert_eq!(decode_client_frame(b"[1,2]").map_err(|e| e.code), Err(4002));
        assert_eq!(
            decode_client_frame(br#"{"op":"1"}"#).map_err(|e| e.code),
            Err(4002)
        );
        assert_eq!(
            decode_client_frame(br#"{"op":99,"d":null}"#).map_err(|e| e.code),
            Err(4001)
        );
        assert_eq!(
            decode_client_frame(br#"{"op":2,"d":{"token":1}}"#).map_err(|e| e.code),
            Err(4001)
        );
        let big = format!(
            r#"{{"op":1,"d":null,"pad":"{}"}}"#,
            "x".repeat(MAX_CLIENT_FRAME)
        );
        assert_eq!(
            decode_client_frame(big.as_bytes()).map_err(|e| e.code),
            Err(4002)
        );
    }
}
