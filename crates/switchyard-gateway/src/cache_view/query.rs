//! [`CacheQuery`]: every read the cache API offers, one variant each, and how one shard's
//! cache answers it. The HTTP API, forwarding between nodes and the gRPC service all speak
//! this one type.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use switchyard_cache::{Id, MemberQuery, PermissionsMiss, PresenceStatus, ShardCache};

use super::{CacheMiss, CacheRead, ShardSeq};

/// The most objects one page or search returns.
const MAX_LIMIT: usize = 1000;

/// One read of the cache. Its fields are the snowflakes of what they name (`guild`,
/// `channel`, `user`…: numbers here, strings in the HTTP API), and `limit`, the most objects
/// to return (at most 1,000).
#[allow(missing_docs, reason = "each field is the snowflake of what it names")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "query", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CacheQuery {
    /// A guild's own fields, with `unavailable` during an outage.
    Guild { guild: u64 },
    /// A guild's channels and threads.
    Channels { guild: u64 },
    /// One channel or thread of a guild.
    Channel { guild: u64, channel: u64 },
    /// A guild's roles.
    Roles { guild: u64 },
    /// One role.
    Role { guild: u64, role: u64 },
    /// A guild's emojis.
    Emojis { guild: u64 },
    /// A guild's stickers.
    Stickers { guild: u64 },
    /// A guild's stage instances.
    StageInstances { guild: u64 },
    /// A guild's scheduled events.
    ScheduledEvents { guild: u64 },
    /// One member, with its user.
    Member { guild: u64, user: u64 },
    /// Many members by id, in one call: those cached, in the order asked.
    Members { guild: u64, ids: Vec<u64> },
    /// Up to `limit` members with ids above `after`, in id order.
    MembersPage {
        guild: u64,
        after: u64,
        limit: usize,
    },
    /// Members by name prefix (username, global name, nickname; any case), role and
    /// presence status: every filter given must match.
    SearchMembers {
        guild: u64,
        prefix: Option<String>,
        role: Option<u64>,
        status: Option<PresenceStatus>,
        limit: usize,
    },
    /// A member's presence.
    Presence { guild: u64, user: u64 },
    /// A member's voice state, while in a voice channel.
    VoiceState { guild: u64, user: u64 },
    /// The voice states of a voice channel.
    ChannelVoiceStates { guild: u64, channel: u64 },
    /// Up to `limit` cached messages of a channel, newest first, older than `before`.
    Messages {
        guild: u64,
        channel: u64,
        before: Option<u64>,
        limit: usize,
    },
    /// One cached message.
    Message {
        guild: u64,
        channel: u64,
        message: u64,
    },
    /// A member's permissions in the guild, or in one of its channels: `{"permissions"}`
    /// as Discord writes them (a string of digits).
    Permissions {
        guild: u64,
        user: u64,
        channel: Option<u64>,
    },
    /// A user, from any shard's cache on this node.
    User { user: u64 },
    /// Many users by id: those cached, in the order asked.
    Users { ids: Vec<u64> },
    /// The ids of the guilds in which a user is a cached member.
    UserGuilds { user: u64 },
}

impl CacheQuery {
    /// The guild whose shard answers, or `None` for a query every shard answers a part of.
    pub fn guild(&self) -> Option<u64> {
        use CacheQuery::*;
        match self {
            Guild { guild }
            | Channels { guild }
            | Channel { guild, .. }
            | Roles { guild }
            | Role { guild, .. }
            | Emojis { guild }
            | Stickers { guild }
            | StageInstances { guild }
            | ScheduledEvents { guild }
            | Member { guild, .. }
            | Members { guild, .. }
            | MembersPage { guild, .. }
            | SearchMembers { guild, .. }
            | Presence { guild, .. }
            | VoiceState { guild, .. }
            | ChannelVoiceStates { guild, .. }
            | Messages { guild, .. }
            | Message { guild, .. }
            | Permissions { guild, .. } => Some(*guild),
            User { .. } | Users { .. } | UserGuilds { .. } => None,
        }
    }

    /// The answer of the cache holding the query's guild.
    pub(super) fn answer(&self, c: &mut ShardCache, now_ms: u64) -> Result<Value, CacheMiss> {
        use CacheQuery::*;
        let g = |guild: &u64| Id(*guild);
        // Lists of a guild are answered only for a guild the cache knows.
        let known = |c: &ShardCache, guild: &u64| {
            c.guild(Id(*guild))
                .map(|_| ())
                .ok_or(CacheMiss::Unknown("Guild"))
        };
        match self {
            Guild { guild } => {
                let mut value = json(c.guild(g(guild)).ok_or(CacheMiss::Unknown("Guild"))?);
                if let (Value::Object(o), Some(true)) = (&mut value, c.guild_unavailable(g(guild)))
                {
                    o.insert("unavailable".into(), Value::Bool(true));
                }
                Ok(value)
            }
            Channels { guild } => {
                known(c, guild)?;
                Ok(list(c.guild_channels(g(guild))))
            }
            Channel { guild, channel } => c
                .channel(Id(*channel))
                .filter(|raw| in_guild(raw, *guild))
                .map(json)
                .ok_or(CacheMiss::Unknown("Channel")),
            Roles { guild } => {
                known(c, guild)?;
                Ok(list(c.guild_roles(g(guild))))
            }
            Role { guild, role } => c
                .role(g(guild), Id(*role))
                .map(json)
                .ok_or(CacheMiss::Unknown("Role")),
            Emojis { guild } => {
                known(c, guild)?;
                Ok(c.emojis(g(guild)).map_or(Value::Array(Vec::new()), json))
            }
            Stickers { guild } => {
                known(c, guild)?;
                Ok(c.stickers(g(guild)).map_or(Value::Array(Vec::new()), json))
            }
            StageInstances { guild } => {
                known(c, guild)?;
                Ok(list(c.stage_instances(g(guild))))
            }
            ScheduledEvents { guild } => {
                known(c, guild)?;
                Ok(list(c.scheduled_events(g(guild))))
            }
            Member { guild, user } => c
                .member(g(guild), Id(*user))
                .map(|m| json(&m))
                .ok_or(CacheMiss::Unknown("Member")),
            Members { guild, ids } => {
                known(c, guild)?;
                let found = ids.iter().filter_map(|u| c.member(g(guild), Id(*u)));
                Ok(owned_list(found))
            }
            MembersPage {
                guild,
                after,
                limit,
            } => {
                known(c, guild)?;
                let page = c.members_page(g(guild), Id(*after), (*limit).min(MAX_LIMIT));
                Ok(owned_list(page.into_iter()))
            }
            SearchMembers {
                guild,
                prefix,
                role,
                status,
                limit,
            } => {
                known(c, guild)?;
                let query = MemberQuery {
                    prefix: prefix.clone(),
                    role: role.map(Id),
                    status: *status,
                    limit: (*limit).min(MAX_LIMIT),
                };
                Ok(owned_list(c.search_members(g(guild), &query).into_iter()))
            }
            Presence { guild, user } => c
                .presence(g(guild), Id(*user))
                .map(|p| json(&p))
                .ok_or(CacheMiss::Unknown("Presence")),
            VoiceState { guild, user } => c
                .voice_state(g(guild), Id(*user))
                .map(json)
                .ok_or(CacheMiss::Unknown("Voice State")),
            ChannelVoiceStates { guild, channel } => {
                known(c, guild)?;
                let states = c.channel_voice_states(g(guild), Id(*channel));
                Ok(owned_list(states.into_iter()))
            }
            Messages {
                channel,
                before,
                limit,
                ..
            } => {
                c.channel(Id(*channel))
                    .ok_or(CacheMiss::Unknown("Channel"))?;
                let page = c.messages_page(Id(*channel), before.map(Id), (*limit).min(MAX_LIMIT));
                Ok(list(page))
            }
            Message {
                channel, message, ..
            } => c
                .message(Id(*channel), Id(*message))
                .map(json)
                .ok_or(CacheMiss::Unknown("Message")),
            Permissions {
                guild,
                user,
                channel,
            } => {
                let bits = c
                    .permissions(g(guild), Id(*user), channel.map(Id), now_ms)
                    .map_err(|miss| match miss {
                        PermissionsMiss::Guild => CacheMiss::Unknown("Guild"),
                        PermissionsMiss::Member => CacheMiss::Unknown("Member"),
                        PermissionsMiss::Channel => CacheMiss::Unknown("Channel"),
                    })?;
                Ok(serde_json::json!({"permissions": bits.to_string()}))
            }
            User { user } => c
                .user(Id(*user))
                .map(|u| json(&u))
                .ok_or(CacheMiss::Unknown("User")),
            Users { ids } => Ok(owned_list(ids.iter().filter_map(|u| c.user(Id(*u))))),
            UserGuilds { user } => Ok(Value::Array(
                c.user_guilds(Id(*user))
                    .into_iter()
                    .map(|id| Value::String(id.to_string()))
                    .collect(),
            )),
        }
    }
}

impl CacheQuery {
    /// One answer from the answers of several shards or nodes (a user's query): the first
    /// user found; the users asked for, each once, in the order asked; the guilds joined.
    /// `None` without any answer.
    pub fn merge(&self, mut reads: Vec<CacheRead>) -> Option<CacheRead> {
        if reads.is_empty() {
            return None;
        }
        let mut first = reads.remove(0);
        first.more = reads
            .iter()
            .map(|r| ShardSeq {
                shard: r.shard,
                seq: r.seq,
            })
            .collect();
        let parts = std::iter::once(&first.data).chain(reads.iter().map(|r| &r.data));
        let items: Vec<Value> = parts
            .filter_map(Value::as_array)
            .flatten()
            .cloned()
            .collect();
        match self {
            CacheQuery::Users { ids } => {
                let by_id = |id: &u64| {
                    items
                        .iter()
                        .find(|u| u["id"].as_str() == Some(&id.to_string()))
                        .cloned()
                };
                let mut seen = std::collections::HashSet::new();
                first.data = Value::Array(
                    ids.iter()
                        .filter(|id| seen.insert(**id))
                        .filter_map(by_id)
                        .collect(),
                );
            }
            CacheQuery::UserGuilds { .. } => {
                let mut ids: Vec<u64> = items
                    .iter()
                    .filter_map(|v| v.as_str()?.parse().ok())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                first.data = ids
                    .into_iter()
                    .map(|id| Value::String(id.to_string()))
                    .collect();
            }
            _ => {}
        }
        Some(first)
    }
}

/// Whether a channel belongs to `guild` (its `guild_id`).
fn in_guild(raw: &RawValue, guild: u64) -> bool {
    #[derive(Deserialize)]
    struct Of {
        guild_id: Option<Id>,
    }
    serde_json::from_str::<Of>(raw.get()).is_ok_and(|o| o.guild_id == Some(Id(guild)))
}

fn json(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

fn list(items: Vec<&RawValue>) -> Value {
    Value::Array(items.into_iter().map(json).collect())
}

fn owned_list(items: impl Iterator<Item = Box<RawValue>>) -> Value {
    Value::Array(items.map(|raw| json(&raw)).collect())
}
