//! [`CacheQuery`]: every read the cache API offers, one variant each, and how one shard's
//! cache answers it. The HTTP API, forwarding between nodes and the gRPC service all speak
//! this one type.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use switchyard_cache::{
    GuildScope, Id, MemberQuery, MemberRequest, PermissionsMiss, PresenceStatus, ShardCache,
};

use super::CacheMiss;

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
    /// The bot, as READY describes it and as its shards run: `{"user", "application",
    /// "intents", "shards"}` (the intents its shards identify with, the shard count).
    Identity,
    /// Every guild of the bot, from every shard: `[{"id", "unavailable"}]`, in id order.
    Guilds,
    /// A guild as GUILD_CREATE carries it to a client with or without the GUILD_PRESENCES
    /// intent and with this `large_threshold` (Discord's rules: `ShardCache::
    /// guild_create_for`); `{"id", "unavailable": true}` in an outage.
    GuildCreate {
        guild: u64,
        presences: bool,
        large_threshold: u32,
    },
    /// An op 8 Request Guild Members answered from the cache: `{"complete", "members",
    /// "presences", "not_found"}`. `query` is a name prefix (any case; `prefix` in JSON),
    /// `limit` 0 with an empty one: every member; `user_ids` instead: those members, the
    /// others in `not_found`. `complete` is false while the cache lacks some of the guild's
    /// members.
    RequestMembers {
        guild: u64,
        #[serde(rename = "prefix")]
        query: Option<String>,
        limit: usize,
        user_ids: Option<Vec<u64>>,
        presences: bool,
    },
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
            | Permissions { guild, .. }
            | GuildCreate { guild, .. }
            | RequestMembers { guild, .. } => Some(*guild),
            User { .. } | Users { .. } | UserGuilds { .. } | Identity | Guilds => None,
        }
    }

    /// The answer of the cache holding the query's guild.
    pub(super) fn answer(&self, c: &ShardCache, now_ms: u64) -> Result<Value, CacheMiss> {
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
            // A cache no READY (nor snapshot) filled: its shard is not ready (the view
            // names the shard).
            Identity => {
                let user = c.own_user().ok_or(CacheMiss::NotReady { shard: 0 })?;
                Ok(serde_json::json!({
                    "user": json(&user),
                    "application": c.application().map_or(Value::Null, json),
                }))
            }
            Guilds => {
                c.own_user().ok_or(CacheMiss::NotReady { shard: 0 })?;
                let list = c.guild_list().into_iter().map(|(id, unavailable)| {
                    serde_json::json!({"id": id.to_string(), "unavailable": unavailable})
                });
                Ok(Value::Array(list.collect()))
            }
            GuildCreate {
                guild,
                presences,
                large_threshold,
            } => {
                let scope = GuildScope {
                    presences: *presences,
                    large_threshold: *large_threshold,
                };
                c.guild_create_for(g(guild), scope)
                    .map(|raw| json(&raw))
                    .ok_or(CacheMiss::Unknown("Guild"))
            }
            RequestMembers {
                guild,
                query,
                limit,
                user_ids,
                presences,
            } => {
                let request = MemberRequest {
                    query: query.clone(),
                    limit: *limit,
                    user_ids: user_ids
                        .as_ref()
                        .map(|ids| ids.iter().map(|u| Id(*u)).collect()),
                    presences: *presences,
                };
                let a = c
                    .request_members(g(guild), &request)
                    .ok_or(CacheMiss::Unknown("Guild"))?;
                let not_found: Vec<String> = a.not_found.iter().map(Id::to_string).collect();
                Ok(serde_json::json!({
                    "complete": a.complete,
                    "members": owned_list(a.members.into_iter()),
                    "presences": owned_list(a.presences.into_iter()),
                    "not_found": not_found,
                }))
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_queries_read_back_as_json() {
        let asked = [
            CacheQuery::Identity,
            CacheQuery::Guilds,
            CacheQuery::RequestMembers {
                guild: 1,
                query: Some("al".into()),
                limit: 0,
                user_ids: Some(vec![2]),
                presences: true,
            },
        ];
        for q in asked {
            let text = serde_json::to_string(&q).expect("json");
            assert_eq!(serde_json::from_str::<CacheQuery>(&text).expect(&text), q);
        }
    }
}
