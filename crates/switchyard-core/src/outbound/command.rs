//! Gateway commands a consumer may ask the process holding a shard to send: presence (op 3),
//! voice state (op 4) and member requests (op 8), checked as Discord checks them before they
//! are sent, and written in Discord's own frame shape.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::answer::ErrorKind;

/// The longest nonce Discord keeps on a member request; a longer one is dropped.
pub const MAX_NONCE_LEN: usize = 32;

/// The most `user_ids` one member request may name.
const MAX_USER_IDS: usize = 100;

/// The shard of a guild among `shards`: `(guild_id >> 22) % shards`.
pub fn shard_of(guild: u64, shards: u32) -> u32 {
    ((guild >> 22) % u64::from(shards.max(1))) as u32
}

/// A snowflake that reads from a JSON string or number and is written as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Snowflake(pub u64);

impl Serialize for Snowflake {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        let id = match Either::deserialize(d)? {
            Either::Number(n) => n,
            Either::Text(t) => t.parse().map_err(|_| {
                serde::de::Error::custom(format!("{t:?} is not a snowflake (decimal digits)"))
            })?,
        };
        if id == 0 {
            return Err(serde::de::Error::custom("0 is not a snowflake"));
        }
        Ok(Snowflake(id))
    }
}

/// The intents a command may need, as Discord's intent bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Intent {
    /// `GUILD_MEMBERS` (privileged): a member request for the whole list.
    GuildMembers = 1 << 1,
    /// `GUILD_PRESENCES` (privileged): member requests with `presences: true`.
    GuildPresences = 1 << 8,
}

impl Intent {
    fn name(self) -> &'static str {
        match self {
            Intent::GuildMembers => "GUILD_MEMBERS",
            Intent::GuildPresences => "GUILD_PRESENCES",
        }
    }
}

/// A presence status Discord accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    /// Online.
    Online,
    /// Do not disturb.
    Dnd,
    /// Away.
    Idle,
    /// Shown as offline.
    Invisible,
    /// Offline.
    Offline,
}

/// Op 3: the bot's presence, on one shard or on all of the bot's shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceUpdate {
    /// The shard to set it on; all of the bot's shards when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// Unix time in milliseconds since the client went idle, or none.
    #[serde(default)]
    pub since: Option<u64>,
    /// Activities (Discord's activity objects, passed through).
    #[serde(default)]
    pub activities: Vec<Value>,
    /// The status.
    pub status: PresenceStatus,
    /// Whether the client is AFK.
    #[serde(default)]
    pub afk: bool,
}

/// Op 4: join, move within or leave (`channel_id` null) a guild's voice channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceStateUpdate {
    /// The guild.
    pub guild_id: Snowflake,
    /// The voice channel, or none to leave.
    pub channel_id: Option<Snowflake>,
    /// Whether the bot mutes itself.
    #[serde(default)]
    pub self_mute: bool,
    /// Whether the bot deafens itself.
    #[serde(default)]
    pub self_deaf: bool,
}

/// Op 8: members of a guild by name prefix (`query` and `limit`) or by id (`user_ids`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersRequest {
    /// The guild.
    pub guild_id: Snowflake,
    /// Members whose username starts with this; `""` with `limit` 0 is the whole list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The most members to send (required with `query`; 0 means no limit for `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Whether to send the members' presences too.
    #[serde(default)]
    pub presences: bool,
    /// The members to send, at most 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_ids: Option<Vec<Snowflake>>,
    /// The requester's own nonce, given back in every chunk it gets (the gateway sends
    /// Discord one of its own, so that requesters never see each other's chunks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// A gateway command, as published in an outbound message's `command` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum GatewayCommand {
    /// Op 3.
    UpdatePresence(PresenceUpdate),
    /// Op 4.
    UpdateVoiceState(VoiceStateUpdate),
    /// Op 8.
    RequestGuildMembers(MembersRequest),
}

impl GatewayCommand {
    /// Discord's opcode.
    pub fn op(&self) -> u8 {
        match self {
            GatewayCommand::UpdatePresence(_) => 3,
            GatewayCommand::UpdateVoiceState(_) => 4,
            GatewayCommand::RequestGuildMembers(_) => 8,
        }
    }

    /// The `command` name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            GatewayCommand::UpdatePresence(_) => "update_presence",
            GatewayCommand::UpdateVoiceState(_) => "update_voice_state",
            GatewayCommand::RequestGuildMembers(_) => "request_guild_members",
        }
    }

    /// The guild whose shard sends it (none for a presence).
    pub fn guild(&self) -> Option<u64> {
        match self {
            GatewayCommand::UpdatePresence(_) => None,
            GatewayCommand::UpdateVoiceState(v) => Some(v.guild_id.0),
            GatewayCommand::RequestGuildMembers(r) => Some(r.guild_id.0),
        }
    }

    /// The shards it goes to among `shards`: the guild's shard, the presence's shard, or
    /// every shard for a presence without one.
    pub fn shards(&self, shards: u32) -> Result<Vec<u32>, (ErrorKind, String)> {
        match self {
            GatewayCommand::UpdatePresence(p) => match p.shard {
                Some(s) if s < shards => Ok(vec![s]),
                Some(s) => Err((
                    ErrorKind::NoShard,
                    format!("shard {s} is not one of the bot's {shards} shards (0..{shards})"),
                )),
                None => Ok((0..shards).collect()),
            },
            _ => Ok(self
                .guild()
                .map(|g| vec![shard_of(g, shards)])
                .unwrap_or_default()),
        }
    }

    /// Refuses what Discord would refuse (or quietly ignore), with the reason: a member
    /// request needs exactly one of `query` and `user_ids`, a `limit` with `query`, at most
    /// 100 ids, the GUILD_MEMBERS intent for an empty query (the whole list) and
    /// GUILD_PRESENCES for presences (which Discord would quietly drop). `intents` are the
    /// bot's intent bits.
    pub fn check(&self, intents: u64) -> Result<(), (ErrorKind, String)> {
        let bad = |why: String| Err((ErrorKind::BadPayload, why));
        let r = match self {
            GatewayCommand::RequestGuildMembers(r) => r,
            // Discord closes the connection (4001) for an activity without a string `name`
            // and an integer `type`: one consumer's typo would cost every event on the shard
            // a reconnect.
            GatewayCommand::UpdatePresence(p) => {
                return match p.activities.iter().position(|a| {
                    !(a.get("name").is_some_and(Value::is_string)
                        && a.get("type").is_some_and(Value::is_u64))
                }) {
                    Some(i) => bad(format!(
                        "activities[{i}] needs a string name and an integer type (Discord closes the shard for it)"
                    )),
                    None => Ok(()),
                };
            }
            GatewayCommand::UpdateVoiceState(_) => return Ok(()),
        };
        match (&r.query, &r.user_ids) {
            (Some(_), Some(_)) => {
                return bad("a member request has query or user_ids, not both".into());
            }
            (None, None) => {
                return bad("a member request needs query (with limit) or user_ids".into());
            }
            (Some(_), None) if r.limit.is_none() => {
                return bad("a member request by query needs a limit (0 with an empty query for every member)".into());
            }
            (None, Some(ids)) if ids.is_empty() || ids.len() > MAX_USER_IDS => {
                return bad(format!(
                    "user_ids names {} members; a request names 1 to {MAX_USER_IDS}",
                    ids.len()
                ));
            }
            _ => {}
        }
        // Discord's docs: the intent is needed for `query: ""` with any limit (0 <= n).
        let whole_list = r.query.as_deref() == Some("");
        let need = |intent: Intent, what: &str| {
            if intents & intent as u64 == 0 {
                Err((
                    ErrorKind::MissingIntent,
                    format!(
                        "{what} needs the {} intent, which this bot does not identify with (add it to gateway.intents and enable it for the application)",
                        intent.name()
                    ),
                ))
            } else {
                Ok(())
            }
        };
        if whole_list {
            need(Intent::GuildMembers, "requesting every member of a guild")?;
        }
        if r.presences {
            need(Intent::GuildPresences, "a member request with presences")?;
        }
        Ok(())
    }

    /// The frame sent to Discord, `{"op": n, "d": {…}}`; a member request carries `nonce`
    /// instead of the requester's.
    pub fn to_frame(&self, nonce: Option<&str>) -> String {
        let d = match self {
            GatewayCommand::UpdatePresence(p) => json!({
                "since": p.since,
                "activities": p.activities,
                "status": p.status,
                "afk": p.afk,
            }),
            GatewayCommand::UpdateVoiceState(v) => json!({
                "guild_id": v.guild_id,
                "channel_id": v.channel_id,
                "self_mute": v.self_mute,
                "self_deaf": v.self_deaf,
            }),
            GatewayCommand::RequestGuildMembers(r) => {
                let mut d = Map::new();
                d.insert("guild_id".into(), json!(r.guild_id));
                if let Some(q) = &r.query {
                    d.insert("query".into(), json!(q));
                }
                d.insert("limit".into(), json!(r.limit.unwrap_or(0)));
                if r.presences {
                    d.insert("presences".into(), json!(true));
                }
                if let Some(ids) = &r.user_ids {
                    d.insert("user_ids".into(), json!(ids));
                }
                if let Some(n) = nonce {
                    d.insert("nonce".into(), json!(n));
                }
                Value::Object(d)
            }
        };
        json!({"op": self.op(), "d": d}).to_string()
    }
}

/// A command on its way to the process holding a shard, on `command.discord.{bot}.{shard}`:
/// the command's own fields, beside `reply_to` (the requester's), `ack_to` (the forwarding
/// process's, which waits to hear that the shard's holder took it) and `at_ms` (when the
/// requester's message was read, for its age).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandMessage {
    /// The command.
    #[serde(flatten)]
    pub command: GatewayCommand,
    /// Where the requester hears the outcome and the events that answer it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Where the holder confirms that it took the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_to: Option<String>,
    /// Unix time in milliseconds when the requester's message was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(v: Value) -> Result<GatewayCommand, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn commands_read_and_write_discord_frames() {
        let c = cmd(json!({"command": "update_presence", "status": "dnd", "activities": [{"name": "x", "type": 0}]}))
            .expect("presence");
        assert_eq!(c.op(), 3);
        let frame: Value = serde_json::from_str(&c.to_frame(None)).expect("json");
        assert_eq!(
            frame,
            json!({"op": 3, "d": {"since": null, "activities": [{"name": "x", "type": 0}], "status": "dnd", "afk": false}})
        );
        assert_eq!(c.shards(4).expect("all"), vec![0, 1, 2, 3]);
        let bad_activity = cmd(
            json!({"command": "update_presence", "status": "idle", "activities": [{"name": "x"}]}),
        )
        .expect("parses");
        let (kind, why) = bad_activity.check(0).expect_err("no type");
        assert_eq!(kind, ErrorKind::BadPayload);
        assert!(why.contains("activities[0]"), "{why}");
        assert!(c.check(0).is_ok());
        let e = cmd(json!({"command": "update_presence", "status": "busy"})).expect_err("status");
        assert!(e.to_string().contains("unknown variant `busy`"), "{e}");

        let v = cmd(json!({"command": "update_voice_state", "guild_id": "81384788765712384", "channel_id": 5}))
            .expect("voice");
        let frame: Value = serde_json::from_str(&v.to_frame(None)).expect("json");
        assert_eq!(frame["d"]["guild_id"], "81384788765712384");
        assert_eq!(frame["d"]["channel_id"], "5");
        assert_eq!(
            v.shards(16).expect("one"),
            vec![shard_of(81384788765712384, 16)]
        );

        let m = cmd(json!({"command": "request_guild_members", "guild_id": "7", "query": "ab", "limit": 10, "nonce": "mine"}))
            .expect("members");
        let frame: Value = serde_json::from_str(&m.to_frame(Some("sy-1"))).expect("json");
        assert_eq!(
            frame,
            json!({"op": 8, "d": {"guild_id": "7", "query": "ab", "limit": 10, "nonce": "sy-1"}})
        );
        assert!(cmd(json!({"command": "request_guild_members", "guild_id": "x"})).is_err());
        assert!(
            cmd(json!({"command": "request_guild_members", "guild_id": "7", "qurey": "a"}))
                .is_err()
        );
        assert!(cmd(json!({"command": "warp"})).is_err());
    }

    #[test]
    fn member_requests_are_checked_as_discord_checks_them() {
        let members = 1 << 1;
        let presences = 1 << 8;
        let req = |v: Value| {
            let mut v = v;
            v["command"] = json!("request_guild_members");
            v["guild_id"] = json!("7");
            cmd(v).expect("parses")
        };
        let whole = req(json!({"query": "", "limit": 0}));
        let (kind, why) = whole.check(0).expect_err("needs GUILD_MEMBERS");
        assert_eq!(kind, ErrorKind::MissingIntent);
        assert!(why.contains("GUILD_MEMBERS"), "{why}");
        assert!(whole.check(members).is_ok());
        let prefix = req(json!({"query": "a", "limit": 5}));
        assert!(prefix.check(0).is_ok(), "a prefix needs no intent");
        assert!(req(json!({"user_ids": ["1", 2]})).check(0).is_ok());
        let with_presences = req(json!({"query": "a", "limit": 5, "presences": true}));
        assert_eq!(
            with_presences.check(members).expect_err("presences").0,
            ErrorKind::MissingIntent
        );
        assert!(with_presences.check(presences).is_ok());
        for bad in [
            json!({}),
            json!({"query": "a"}),
            json!({"query": "a", "limit": 1, "user_ids": ["1"]}),
            json!({"user_ids": []}),
            json!({"user_ids": (1..=101).collect::<Vec<u64>>()}),
        ] {
            assert_eq!(
                req(bad.clone())
                    .check(members | presences)
                    .expect_err("bad")
                    .0,
                ErrorKind::BadPayload,
                "{bad}"
            );
        }
    }

    #[test]
    fn shard_commands_carry_their_routing() {
        let s = CommandMessage {
            command: cmd(json!({"command": "update_presence", "status": "idle", "shard": 1}))
                .expect("presence"),
            reply_to: Some("inbound.rest.x.1".into()),
            ack_to: None,
            at_ms: Some(5),
        };
        let text = serde_json::to_string(&s).expect("json");
        let back: CommandMessage = serde_json::from_str(&text).expect("back");
        assert_eq!(back, s);
        assert_eq!(s.command.shards(2).expect("one"), vec![1]);
        assert_eq!(
            s.command.shards(1).expect_err("out of range").0,
            ErrorKind::NoShard
        );
    }
}
