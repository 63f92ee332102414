//! Decoding client gateway frames into typed operations, checked against Discord's documented
//! payload structures, with the close code Discord uses for each kind of bad input. Pure and
//! panic-free: this is the fuzz target.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub use super::close::CloseReason;

/// The largest client frame Discord accepts.
pub const MAX_CLIENT_FRAME: usize = 4096;

/// The longest nonce of REQUEST_GUILD_MEMBERS echoed in its chunks, in bytes.
pub const MAX_NONCE: usize = 32;

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

/// REQUEST_GUILD_MEMBERS's data. [`decode_client_frame`] checks the documented rules: exactly
/// one of `query` and `user_ids`, and `limit` with `query`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RequestMembers {
    /// The guild (a snowflake string or number).
    pub guild_id: Snowflake,
    /// Username prefix (`""` with `limit` 0 asks for every member).
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
    /// Echoed in the chunks. An invalid nonce (over 32 bytes, or not a string) is
    /// ignored, as Discord documents: the chunks come without one.
    #[serde(default, deserialize_with = "valid_nonce")]
    pub nonce: Option<String>,
}

impl RequestMembers {
    /// Whether it asks for the whole member list (`query ""` with `limit 0`).
    pub fn is_full_list(&self) -> bool {
        self.query.as_deref() == Some("") && self.limit == Some(0)
    }
}

fn valid_nonce<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(n) if n.len() <= MAX_NONCE => Some(n),
        _ => None,
    })
}

/// An `Option` whose field must be present, though it may be null.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
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

/// VOICE_STATE_UPDATE's data (op 4). Every field is required, as documented; `channel_id`
/// may be null (to leave) but not missing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VoiceState {
    /// The guild.
    pub guild_id: Snowflake,
    /// The channel joined, or null to leave.
    #[serde(deserialize_with = "nullable")]
    pub channel_id: Option<Snowflake>,
    /// Self-mute.
    pub self_mute: bool,
    /// Self-deafen.
    pub self_deaf: bool,
}

/// The statuses a client may set with op 3.
pub const STATUSES: [&str; 5] = ["online", "dnd", "idle", "invisible", "offline"];

/// Checks an op 3 payload against the documented structure: `since` (a number or null),
/// `activities` (activity objects, each with a string `name` and an integer `type`), `status`
/// (one of [`STATUSES`]) and `afk` (a boolean) are all required. Discord closes a payload
/// that misses one of them with 4001. Three leniencies of Discord's are kept, for clients
/// that rely on them: `since` may be any number (documented as an integer; discord.py sends
/// `0.0`); `activities` may be null (discordgo sends it to clear the activity; Discord
/// accepts it since discord-api-docs#2559 was fixed); and the API's older `game` (one
/// activity, or null) may stand in for `activities` (hikari sends it).
fn presence(d: &Value) -> Result<(), CloseReason> {
    let field = |k: &str| d.get(k);
    let since = field("since").is_some_and(|v| v.is_null() || v.is_number());
    let status = field("status")
        .and_then(Value::as_str)
        .is_some_and(|s| STATUSES.contains(&s));
    let afk = field("afk").is_some_and(Value::is_boolean);
    let activity = |a: &Value| {
        a.get("name").is_some_and(Value::is_string) && a.get("type").is_some_and(Value::is_u64)
    };
    let activities = match (field("activities"), field("game")) {
        (Some(Value::Null), _) | (None, Some(Value::Null)) => true,
        (Some(Value::Array(list)), _) => list.iter().all(activity),
        (None, Some(game)) => activity(game),
        _ => false,
    };
    if since && status && afk && activities {
        Ok(())
    } else {
        Err(CloseReason::BAD_PAYLOAD)
    }
}

/// The activities an op 3 payload (checked by [`decode_client_frame`]) sets: its
/// `activities`, or the older `game` as the only one; none when both are null or absent.
pub fn presence_activities(d: &Value) -> Vec<&Value> {
    match (d.get("activities"), d.get("game")) {
        (Some(Value::Array(list)), _) => list.iter().collect(),
        (None, Some(game)) if game.is_object() => vec![game],
        _ => Vec::new(),
    }
}

/// A decoded client operation.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOp {
    /// op 1 with the client's last sequence number.
    Heartbeat(Option<u64>),
    /// op 2.
    Identify(Box<Identify>),
    /// op 3 with the new presence (checked: `since`, `activities`, `status`, `afk`).
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

/// Decodes one client frame (text or binary, JSON either way). Frames over 4096 bytes and
/// anything that is not a JSON object with an integer `op` are decode errors (4002); an
/// unknown opcode or a payload that does not fit its opcode is 4001.
pub fn decode_client_frame(frame: &[u8]) -> Result<ClientOp, CloseReason> {
    let (op, d) = decode_envelope(frame)?;
    decode_op(op, d)
}

/// The first step of [`decode_client_frame`]: the frame's `op` and `d` (null when absent), or
/// 4002 for a frame over 4096 bytes or one that is not a JSON object with an integer `op`.
pub fn decode_envelope(frame: &[u8]) -> Result<(u64, Value), CloseReason> {
    if frame.len() > MAX_CLIENT_FRAME {
        return Err(CloseReason::DECODE);
    }
    let mut obj: serde_json::Map<String, Value> =
        serde_json::from_slice(frame).map_err(|_| CloseReason::DECODE)?;
    let op = obj
        .get("op")
        .and_then(Value::as_u64)
        .ok_or(CloseReason::DECODE)?;
    Ok((op, obj.remove("d").unwrap_or(Value::Null)))
}

/// The second step of [`decode_client_frame`]: the operation of an `op` and its `d`, or 4001
/// for an unknown opcode or a payload that does not fit its opcode.
pub fn decode_op(op: u64, d: Value) -> Result<ClientOp, CloseReason> {
    match op {
        1 => match d {
            Value::Null => Ok(ClientOp::Heartbeat(None)),
            Value::Number(n) => n
                .as_u64()
                .map(|s| ClientOp::Heartbeat(Some(s)))
                .ok_or(CloseReason::BAD_PAYLOAD),
            _ => Err(CloseReason::BAD_PAYLOAD),
        },
        2 => Ok(ClientOp::Identify(Box::new(data(d)?))),
        3 => presence(&d).map(|()| ClientOp::Presence(d)),
        4 => Ok(ClientOp::VoiceState(data(d)?)),
        6 => Ok(ClientOp::Resume(data(d)?)),
        8 => {
            let r: RequestMembers = data(d)?;
            // "one of query or user_ids"; "limit: true when specifying query"
            if r.query.is_some() == r.user_ids.is_some() || (r.query.is_some() && r.limit.is_none())
            {
                return Err(CloseReason::BAD_PAYLOAD);
            }
            Ok(ClientOp::RequestMembers(r))
        }
        31 => {
            let s: Soundboard = data(d)?;
            Ok(ClientOp::RequestSoundboard(
                s.guild_ids.iter().map(|g| g.0).collect(),
            ))
        }
        43 => {
            let c: ChannelInfo = data(d)?;
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
            r#"{{"op":8,"d":{{"guild_id":"1","query":"","limit":0,"nonce":"{}"}}}}"#,
            "n".repeat(MAX_NONCE + 1)
        );
        let numeric = br#"{"op":8,"d":{"guild_id":"1","user_ids":"2","nonce":7}}"#;
        for frame in [long.as_bytes(), numeric] {
            match decode_client_frame(frame) {
                Ok(ClientOp::RequestMembers(r)) => assert_eq!(r.nonce, None),
                other => panic!("an invalid nonce is dropped, not refused: {other:?}"),
            }
        }
    }

    fn code(frame: &str) -> Result<(), u16> {
        decode_client_frame(frame.as_bytes())
            .map(|_| ())
            .map_err(|e| e.code)
    }

    #[test]
    fn presence_needs_every_documented_field() {
        let ok = [
            r#"{"op":3,"d":{"since":null,"activities":[],"status":"online","afk":false}}"#,
            r#"{"op":3,"d":{"since":91879201,"activities":[{"name":"x","type":0,"state":"s"}],"status":"invisible","afk":true}}"#,
            r#"{"op":3,"d":{"since":0,"activities":[{"name":"Custom Status","type":4}],"status":"offline","afk":false}}"#,
            r#"{"op":3,"d":{"activities":[{"type":0,"name":"g"}],"afk":false,"since":0.0,"status":"dnd"}}"#,
            r#"{"op":3,"d":{"since":null,"activities":null,"afk":false,"status":"online"}}"#,
            // hikari: the older `game` in place of `activities`
            r#"{"op":3,"d":{"since":null,"afk":false,"game":{"name":"x","type":0},"status":"dnd"}}"#,
            r#"{"op":3,"d":{"since":null,"afk":false,"game":null,"status":"online"}}"#,
        ];
        for frame in ok {
            assert_eq!(code(frame), Ok(()), "{frame}");
        }
        let bad = [
            r#"{"op":3,"d":"online"}"#,
            r#"{"op":3,"d":{"activities":[],"status":"online","afk":false}}"#,
            r#"{"op":3,"d":{"since":null,"status":"online","afk":false}}"#,
            r#"{"op":3,"d":{"since":null,"activities":[],"afk":false}}"#,
            r#"{"op":3,"d":{"since":null,"activities":[],"status":"online"}}"#,
            r#"{"op":3,"d":{"since":null,"activities":[],"status":"away","afk":false}}"#,
            r#"{"op":3,"d":{"since":"0","activities":[],"status":"idle","afk":false}}"#,
            r#"{"op":3,"d":{"since":null,"activities":[{"type":0}],"status":"idle","afk":false}}"#,
            r#"{"op":3,"d":{"since":null,"activities":[{"name":"x"}],"status":"idle","afk":false}}"#,
            r#"{"op":3,"d":{"since":null,"activities":{},"status":"idle","afk":0}}"#,
            r#"{"op":3,"d":{"since":null,"game":{"type":0},"status":"idle","afk":false}}"#,
            r#"{"op":3,"d":{"since":null,"game":[],"status":"idle","afk":false}}"#,
        ];
        for frame in bad {
            assert_eq!(code(frame), Err(4001), "{frame}");
        }
    }

    #[test]
    fn member_requests_follow_the_documented_rules() {
        let ok = [
            r#"{"op":8,"d":{"guild_id":"1","query":"ab","limit":5}}"#,
            r#"{"op":8,"d":{"guild_id":1,"user_ids":["2","3"],"limit":2,"presences":true}}"#,
            r#"{"op":8,"d":{"guild_id":"1","user_ids":"2","query":null,"nonce":null}}"#,
        ];
        for frame in ok {
            assert_eq!(code(frame), Ok(()), "{frame}");
        }
        let bad = [
            r#"{"op":8,"d":{"query":"","limit":0}}"#,
            r#"{"op":8,"d":{"guild_id":"1","limit":0}}"#,
            r#"{"op":8,"d":{"guild_id":"1","query":"","user_ids":["2"],"limit":0}}"#,
            r#"{"op":8,"d":{"guild_id":"1","query":"a"}}"#,
            r#"{"op":8,"d":{"guild_id":["1","2"],"query":"","limit":0}}"#,
            r#"{"op":8,"d":{"guild_id":"1","query":"","limit":-1}}"#,
        ];
        for frame in bad {
            assert_eq!(code(frame), Err(4001), "{frame}");
        }
    }

    #[test]
    fn voice_state_needs_every_documented_field() {
        let join =
            r#"{"op":4,"d":{"guild_id":"1","channel_id":"2","self_mute":false,"self_deaf":true}}"#;
        let leave = r#"{"op":4,"d":{"guild_id":"1","channel_id":null,"self_mute":false,"self_deaf":false}}"#;
        assert_eq!(code(join), Ok(()));
        assert_eq!(code(leave), Ok(()));
        for bad in [
            r#"{"op":4,"d":{"guild_id":"1","self_mute":false,"self_deaf":false}}"#,
            r#"{"op":4,"d":{"guild_id":"1","channel_id":null,"self_deaf":false}}"#,
            r#"{"op":4,"d":{"guild_id":"1","channel_id":null,"self_mute":false}}"#,
            r#"{"op":4,"d":{"channel_id":null,"self_mute":false,"self_deaf":false}}"#,
        ] {
            assert_eq!(code(bad), Err(4001), "{bad}");
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
