//! A [`ReadRequest`] as the gateway's [`CacheQuery`], and a [`CacheMiss`] as what a caller
//! gets back: a [`Status`] for one read, a [`Miss`] within several.

use switchyard_gateway::{CacheMiss, CacheQuery, CacheRead, PresenceStatus};
use tonic::Status;

use crate::proto::{self, Miss, MissKind, ReadReply, read_request::Query as Q};

/// Members or messages a page holds when the request says 0.
const DEFAULT_LIMIT: usize = 100;

/// The query `request` asks, or why it cannot be asked.
pub(crate) fn to_query(request: proto::ReadRequest) -> Result<CacheQuery, Status> {
    use CacheQuery as C;
    let Some(query) = request.query else {
        return Err(Status::invalid_argument(
            "a ReadRequest must set one query (guild, member, messages, …)",
        ));
    };
    Ok(match query {
        Q::Guild(g) => C::Guild { guild: g.guild },
        Q::Channels(g) => C::Channels { guild: g.guild },
        Q::Channel(c) => C::Channel {
            guild: c.guild,
            channel: c.channel,
        },
        Q::Roles(g) => C::Roles { guild: g.guild },
        Q::Role(r) => C::Role {
            guild: r.guild,
            role: r.role,
        },
        Q::Emojis(g) => C::Emojis { guild: g.guild },
        Q::Stickers(g) => C::Stickers { guild: g.guild },
        Q::StageInstances(g) => C::StageInstances { guild: g.guild },
        Q::ScheduledEvents(g) => C::ScheduledEvents { guild: g.guild },
        Q::Member(m) => C::Member {
            guild: m.guild,
            user: m.user,
        },
        Q::Members(m) => C::Members {
            guild: m.guild,
            ids: m.ids,
        },
        Q::MembersPage(p) => C::MembersPage {
            guild: p.guild,
            after: p.after,
            limit: limit(p.limit),
        },
        Q::SearchMembers(s) => C::SearchMembers {
            guild: s.guild,
            prefix: (!s.prefix.is_empty()).then_some(s.prefix),
            role: s.role,
            status: status(s.status)?,
            limit: limit(s.limit),
        },
        Q::Presence(m) => C::Presence {
            guild: m.guild,
            user: m.user,
        },
        Q::VoiceState(m) => C::VoiceState {
            guild: m.guild,
            user: m.user,
        },
        Q::ChannelVoiceStates(c) => C::ChannelVoiceStates {
            guild: c.guild,
            channel: c.channel,
        },
        Q::Messages(p) => C::Messages {
            guild: p.guild,
            channel: p.channel,
            before: p.before,
            limit: limit(p.limit),
        },
        Q::Message(m) => C::Message {
            guild: m.guild,
            channel: m.channel,
            message: m.message,
        },
        Q::Permissions(p) => C::Permissions {
            guild: p.guild,
            user: p.user,
            channel: p.channel,
        },
        Q::User(u) => C::User { user: u.user },
        Q::Users(u) => C::Users { ids: u.ids },
        Q::UserGuilds(u) => C::UserGuilds { user: u.user },
        Q::Identity(_) => C::Identity,
        Q::Guilds(_) => C::Guilds,
    })
}

fn limit(asked: u32) -> usize {
    match asked {
        0 => DEFAULT_LIMIT,
        n => n as usize,
    }
}

fn status(asked: i32) -> Result<Option<PresenceStatus>, Status> {
    use proto::PresenceStatus as P;
    Ok(match P::try_from(asked) {
        Ok(P::Unspecified) => None,
        Ok(P::Online) => Some(PresenceStatus::Online),
        Ok(P::Idle) => Some(PresenceStatus::Idle),
        Ok(P::Dnd) => Some(PresenceStatus::Dnd),
        Ok(P::Offline) => Some(PresenceStatus::Offline),
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown presence status {asked}: 1 online, 2 idle, 3 dnd, 4 offline"
            )));
        }
    })
}

/// An answer as the proto carries it.
pub(crate) fn to_reply(read: CacheRead) -> ReadReply {
    ReadReply {
        shard: read.shard,
        seq: read.seq,
        json: read.data.to_string(),
        more: read
            .more
            .into_iter()
            .map(|s| proto::ShardSeq {
                shard: s.shard,
                seq: s.seq,
            })
            .collect(),
    }
}

/// A miss as a call's status: NOT_FOUND with Discord's code in the trailing metadata,
/// UNAVAILABLE while a shard is elsewhere or not ready, FAILED_PRECONDITION without a cache.
pub(crate) fn to_status(miss: &CacheMiss) -> Status {
    let message = miss.to_string();
    match miss {
        CacheMiss::Unknown(_) => {
            let mut status = Status::not_found(message);
            if let Some(code) = miss.discord_code() {
                status
                    .metadata_mut()
                    .insert("x-switchyard-discord-code", code.into());
            }
            status
        }
        CacheMiss::NotReady { .. } | CacheMiss::NotHere { .. } => Status::unavailable(message),
        CacheMiss::Off => Status::failed_precondition(message),
    }
}

/// A miss as one answer of several.
pub(crate) fn to_miss(miss: &CacheMiss) -> Miss {
    let kind = match miss {
        CacheMiss::Unknown(_) => MissKind::Unknown,
        CacheMiss::NotReady { .. } => MissKind::NotReady,
        CacheMiss::NotHere { .. } => MissKind::NotHere,
        CacheMiss::Off => MissKind::CacheOff,
    };
    Miss {
        kind: kind.into(),
        message: miss.to_string(),
        discord_code: miss.discord_code().unwrap_or(0),
    }
}
