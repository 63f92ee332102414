//! Service control: the amybot gateway's ops, in its `{s, t, d}` message shape, and its proxy
//! mark made dot-native.
//!
//! A control message is `{"s": source, "t": op name, "d": {"opcode": n, …op fields}}`. The
//! numeric `d.opcode` is authoritative; `t` repeats its name for people reading a tail.
//! Control messages travel on `control.{service}…` topics.
//!
//! The proxy mark: a service publishes on `gateway-proxy.{source}.{topic…}`; the gateway counts
//! the message for `source` and republishes it unchanged on `{topic…}`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::topic::{NameError, Topic};

pub mod auth;

/// The first segment of every control topic.
pub const CONTROL_PREFIX: &str = "control";

/// The first segment of proxied topics.
pub const PROXY_PREFIX: &str = "gateway-proxy";

/// The service control ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ControlOp {
    /// A service announces itself; the gateway answers with the same op.
    Identify = 0,
    /// The gateway tells a service to shut down.
    Shutdown = 1,
    /// The gateway tells a service to restart.
    Reboot = 2,
    /// A gateway process asks the pool for shards.
    ShardConnect = 10,
    /// The coordinator grants shards: which ids, and the total.
    ShardAccept = 11,
    /// A process gives its shards back to the pool.
    ShardDeath = 12,
}

impl ControlOp {
    /// Every op, for iteration and docs.
    pub const ALL: [ControlOp; 6] = [
        ControlOp::Identify,
        ControlOp::Shutdown,
        ControlOp::Reboot,
        ControlOp::ShardConnect,
        ControlOp::ShardAccept,
        ControlOp::ShardDeath,
    ];

    /// The op's number.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The op's name, as in the amybot table.
    pub fn name(self) -> &'static str {
        match self {
            ControlOp::Identify => "IDENTIFY",
            ControlOp::Shutdown => "SHUTDOWN",
            ControlOp::Reboot => "REBOOT",
            ControlOp::ShardConnect => "SHARD_CONNECT",
            ControlOp::ShardAccept => "SHARD_ACCEPT",
            ControlOp::ShardDeath => "SHARD_DEATH",
        }
    }

    /// The op with this number.
    pub fn from_code(code: u64) -> Result<Self, ControlError> {
        ControlOp::ALL
            .into_iter()
            .find(|op| u64::from(op.code()) == code)
            .ok_or(ControlError::UnknownOp(code))
    }
}

/// Why a control message was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Not JSON, or not the `{s, t, d}` shape.
    #[error("malformed control message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// `d.opcode` is missing or not a number.
    #[error("control message has no numeric `d.opcode`")]
    MissingOpcode,
    /// `d.opcode` is not a known op.
    #[error(
        "unknown control opcode {0}; known: 0 IDENTIFY, 1 SHUTDOWN, 2 REBOOT, 10 SHARD_CONNECT, 11 SHARD_ACCEPT, 12 SHARD_DEATH"
    )]
    UnknownOp(u64),
    /// The payload does not fit the op.
    #[error("bad {op} payload: {source}")]
    BadPayload {
        /// The op's name.
        op: &'static str,
        /// What did not fit.
        source: serde_json::Error,
    },
}

/// A control message.
///
/// ```
/// use switchyard_core::control::{ControlMessage, ControlOp, Identify};
/// let hello = Identify { name: "echo".into(), instance: "echo-1".into(),
///     version: "0.1.0".into(), envelope_version: 1, groups: vec![] };
/// let msg = ControlMessage::new("echo/echo-1", ControlOp::Identify, &hello)?;
/// let bytes = msg.encode();
/// let back = ControlMessage::decode(&bytes)?;
/// assert_eq!(back.op, ControlOp::Identify);
/// assert_eq!(back.payload::<Identify>()?, hello);
/// # Ok::<(), switchyard_core::control::ControlError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ControlMessage {
    /// Who sent it, `{service}/{instance}` by convention.
    pub source: String,
    /// The op.
    pub op: ControlOp,
    /// The op's fields (without `opcode`).
    pub fields: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    s: String,
    #[serde(default)]
    t: String,
    d: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<auth::Auth>,
}

impl ControlMessage {
    /// Builds a message from a typed payload (which must serialize to an object).
    pub fn new(
        source: impl Into<String>,
        op: ControlOp,
        payload: &impl Serialize,
    ) -> Result<Self, ControlError> {
        let fields = match serde_json::to_value(payload)? {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(ControlError::BadPayload {
                    op: op.name(),
                    source: serde::de::Error::custom(format!(
                        "payload must be an object, got {other}"
                    )),
                });
            }
        };
        Ok(ControlMessage {
            source: source.into(),
            op,
            fields,
        })
    }

    /// Encodes as `{"s", "t", "d": {"opcode", …}}`, unsigned (see [`auth::ControlKey::sign`]).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(self.wire_fields(), None)
    }

    /// `d` as on the wire: the fields with `opcode`.
    fn wire_fields(&self) -> Map<String, Value> {
        let mut d = Map::with_capacity(self.fields.len() + 1);
        d.insert("opcode".into(), Value::from(self.op.code()));
        d.extend(self.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        d
    }

    fn encode_with(&self, d: Map<String, Value>, auth: Option<auth::Auth>) -> Vec<u8> {
        let wire = Wire {
            s: self.source.clone(),
            t: self.op.name().to_owned(),
            d,
            auth,
        };
        // Serializing a map of JSON values cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decodes and checks the opcode, ignoring any signature (receivers that hold the control
    /// key check with [`auth::Verifier`] instead).
    pub fn decode(bytes: &[u8]) -> Result<Self, ControlError> {
        Self::from_wire(serde_json::from_slice(bytes)?)
    }

    fn from_wire(mut wire: Wire) -> Result<Self, ControlError> {
        let code = wire
            .d
            .remove("opcode")
            .and_then(|v| v.as_u64())
            .ok_or(ControlError::MissingOpcode)?;
        Ok(ControlMessage {
            source: wire.s,
            op: ControlOp::from_code(code)?,
            fields: wire.d,
        })
    }

    /// The fields as a typed payload.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, ControlError> {
        serde_json::from_value(Value::Object(self.fields.clone())).map_err(|source| {
            ControlError::BadPayload {
                op: self.op.name(),
                source,
            }
        })
    }
}

/// IDENTIFY from a service: who it is. With a control key, the message is signed with it
/// ([`auth`]); the key itself is never sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identify {
    /// The service's name, such as `echo`.
    pub name: String,
    /// This instance, such as `echo-7f9c`.
    pub instance: String,
    /// The service's version.
    pub version: String,
    /// The highest envelope version the service reads.
    pub envelope_version: u32,
    /// The worker groups this instance reads in (none: it reads every message itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<JoinedGroup>,
}

/// A worker group a service instance joined, as IDENTIFY announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinedGroup {
    /// The group's name on the broker.
    pub name: String,
    /// The pattern the group reads.
    pub pattern: String,
    /// `queue`, `keyed`, `durable` or `durable-keyed`.
    pub kind: String,
}

/// The gateway's answer to IDENTIFY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifyReply {
    /// Whether identification succeeded.
    pub ok: bool,
    /// Why not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// SHUTDOWN or REBOOT: which service (and optionally which instance), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// The service's name.
    pub name: String,
    /// One instance, or every instance when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// A reason for the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// SHARD_CONNECT: a gateway process asks for shards. Repeated as the process's heartbeat,
/// with the shards it runs, so that a new coordinator learns who holds what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardConnect {
    /// The bot's name.
    pub bot: String,
    /// The asking process.
    pub node: String,
    /// The shard ids it runs now.
    #[serde(default)]
    pub shards: Vec<u32>,
    /// Where its admin listener answers (`http://host:port`), so that any node can forward
    /// a cache query for these shards to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
    /// The guilds of each shard it runs, so that the coordinator weighs shards by them when
    /// it balances the nodes. Shards missing from it weigh one guild.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guilds: BTreeMap<u32, u32>,
    /// Whether it is drained: it runs no shard and is given none until undrained. A new
    /// coordinator learns it from here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    /// The number of this beat, counted by the node from 1; the coordinator's ACCEPT echoes
    /// the last one it heard, so that the node knows how fresh the grant is by its own clock.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub beat: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// SHARD_ACCEPT: the shards granted to a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardAccept {
    /// The bot's name.
    pub bot: String,
    /// The process granted the shards.
    pub node: String,
    /// The shard ids it should run.
    pub shards: Vec<u32>,
    /// The total shard count.
    pub total: u32,
    /// The coordinator's term: the revision at which the sender (the message's `s`, the node
    /// id stored in the lease `pool.{bot}.coordinator`) took the lease. Terms only grow, so a
    /// process ignores an ACCEPT with a term below one it has obeyed. Absent from older
    /// gateways; their ACCEPTs are checked against the lease alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// The epoch of each granted shard: every grant of a shard gets a higher one than all
    /// before it. The node stamps the shard's events and saved session with it, so that
    /// consumers and the session store refuse what a node that lost the shard still sends.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub epochs: BTreeMap<u32, u64>,
    /// The node is drained: it runs no shard until undrained, and says so in its beats.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    /// The last beat the coordinator heard from the node (its `beat`). The grant holds for
    /// a lease from when the node sent that beat: an ACCEPT delivered late (to a node that
    /// was paused, say) renews nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat: Option<u64>,
}

/// SHARD_DEATH: shards going back to the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardDeath {
    /// The bot's name.
    pub bot: String,
    /// The process giving them back.
    pub node: String,
    /// The shard ids.
    pub shards: Vec<u32>,
    /// Whether the process leaves the pool (it stops); otherwise it only handed these shards
    /// back, as the coordinator asked, and stays.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
}

/// The control topic for a service: `control.{service}`.
pub fn control_topic(service: &str) -> Result<Topic, NameError> {
    Topic::new(&format!("{CONTROL_PREFIX}.{service}"))
}

/// A topic carrying the proxy mark, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxied<'a> {
    /// The service that sent it.
    pub source: &'a str,
    /// Where it is meant to go.
    pub target: &'a str,
}

/// Splits `gateway-proxy.{source}.{topic…}`; `None` for any other topic.
///
/// ```
/// use switchyard_core::control::proxied;
/// let p = proxied("gateway-proxy.echo.outbound.discord.1.2.3").expect("proxied");
/// assert_eq!((p.source, p.target), ("echo", "outbound.discord.1.2.3"));
/// assert!(proxied("gateway-proxy.echo").is_none());
/// ```
pub fn proxied(topic: &str) -> Option<Proxied<'_>> {
    let rest = topic.strip_prefix(PROXY_PREFIX)?.strip_prefix('.')?;
    let (source, target) = rest.split_once('.')?;
    if source.is_empty() || Topic::check(target).is_err() {
        return None;
    }
    Some(Proxied { source, target })
}

/// The proxied form of `target` sent by `source`.
pub fn proxy_topic(source: &str, target: &Topic) -> Result<Topic, NameError> {
    Topic::new(&format!("{PROXY_PREFIX}.{source}.{target}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_round_trips_with_its_number() {
        for op in ControlOp::ALL {
            let msg = ControlMessage::new("svc/1", op, &serde_json::json!({"x": 1}))
                .expect("object payload");
            let back = ControlMessage::decode(&msg.encode()).expect("decodes");
            assert_eq!(back, msg);
        }
        assert_eq!(ControlOp::ShardDeath.code(), 12);
    }

    #[test]
    fn unknown_opcode_and_missing_opcode_are_named() {
        let e = ControlMessage::decode(br#"{"s":"x","t":"?","d":{"opcode":7}}"#).unwrap_err();
        assert!(matches!(e, ControlError::UnknownOp(7)));
        assert!(e.to_string().contains("unknown control opcode 7"));
        let e = ControlMessage::decode(br#"{"s":"x","d":{}}"#).unwrap_err();
        assert!(matches!(e, ControlError::MissingOpcode));
    }

    #[test]
    fn typed_payload_mismatch_names_the_op() {
        let msg = ControlMessage::new("a", ControlOp::ShardAccept, &serde_json::json!({"node": 1}))
            .expect("object");
        let e = msg.payload::<ShardAccept>().unwrap_err();
        assert!(e.to_string().contains("SHARD_ACCEPT"), "{e}");
    }

    #[test]
    fn proxy_mark() {
        let target = Topic::new("outbound.discord.1.2.3").expect("valid");
        let t = proxy_topic("echo", &target).expect("valid");
        let p = proxied(t.as_str()).expect("marked");
        assert_eq!(p.source, "echo");
        assert_eq!(p.target, target.as_str());
        assert!(proxied("inbound.discord.1.2.3").is_none());
    }
}
