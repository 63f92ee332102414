//! What a gateway client of the bot would get from Discord, answered from the cache: a
//! guild's GUILD_CREATE scoped by the client's intents and `large_threshold`
//! ([`ShardCache::guild_create_for`]), and the members answering its op 8 Request Guild
//! Members ([`ShardCache::request_members`]). A Discord-compatible face serves its clients
//! with these, so that they need not reach Discord.

use serde_json::value::RawValue;

use crate::id::Id;
use crate::query::MemberQuery;
use crate::shard::{Guild, Set, ShardCache, to_raw};
use crate::snapshot::{GuildOut, Scoped, Stub};

/// Above this many members a guild's GUILD_CREATE carries no presences, whatever the
/// client's intents (Discord's rule).
pub const PRESENCES_UP_TO: usize = 75_000;

/// Which members and presences a client's GUILD_CREATE carries, from its IDENTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuildScope {
    /// Whether the client has the GUILD_PRESENCES intent.
    pub presences: bool,
    /// The client's `large_threshold` (Discord takes 50 to 250; 50 by default).
    pub large_threshold: u32,
}

/// An op 8 Request Guild Members, as a client sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberRequest {
    /// A prefix of the username, global name or nickname, in any case; empty or absent
    /// with `limit` 0: every member.
    pub query: Option<String>,
    /// The most members to return (0: no limit).
    pub limit: usize,
    /// Specific members, instead of `query`.
    pub user_ids: Option<Vec<Id>>,
    /// Whether to return the members' presences.
    pub presences: bool,
}

/// The members answering an op 8 request, before they are cut into chunks.
#[derive(Debug, Clone, Default)]
pub struct MemberAnswer {
    /// Whether the cache holds the guild's whole member list (`member_count` of them): if
    /// not, the answer may miss members that Discord would send, and `not_found` may name
    /// members the cache does not hold.
    pub complete: bool,
    /// The members, each with its `user`.
    pub members: Vec<Box<RawValue>>,
    /// Their presences, when asked for (members offline have none).
    pub presences: Vec<Box<RawValue>>,
    /// Of the `user_ids` asked for, those that are not cached members, in the order asked.
    pub not_found: Vec<Id>,
}

impl ShardCache {
    /// A guild as Discord's GUILD_CREATE would carry it to a client of `scope`:
    /// - without presences (or in a guild of over [`PRESENCES_UP_TO`] members), the bot's
    ///   own member and those in voice channels, and no presences;
    /// - with presences, every member of a guild of at most `large_threshold` members, else
    ///   the members who are not offline, with the bot and those in voice, and their
    ///   presences;
    /// - `large` set when `member_count` is above `large_threshold`.
    ///
    /// A guild in an outage is `{"id", "unavailable": true}`; `None` for a guild the cache
    /// does not know.
    pub fn guild_create_for(&self, guild: Id, scope: GuildScope) -> Option<Box<RawValue>> {
        if self.guild_unavailable(guild)? {
            return to_raw(&Stub(guild));
        }
        let scoped = self.scoped(self.guilds.get(&guild)?, guild, scope);
        to_raw(&GuildOut::scoped(self, guild, &scoped))
    }

    fn scoped(&self, g: &Guild, guild: Id, scope: GuildScope) -> Scoped {
        let count = self.member_count(guild).unwrap_or(g.members.len());
        let large = count > scope.large_threshold as usize;
        let presences = scope.presences && count <= PRESENCES_UP_TO;
        let mut few: Set<Id> = g.voice_states.keys().copied().collect();
        if let Some((bot, _)) = &self.own_user {
            few.insert(*bot);
        }
        let members = if !presences {
            Some(few)
        } else if !large {
            None
        } else {
            let online = g.presences.iter().filter(|(_, p)| {
                p.status()
                    .is_none_or(|s| !matches!(s, "offline" | "invisible"))
            });
            few.extend(online.map(|(user, _)| *user));
            Some(few)
        };
        Scoped {
            members,
            presences,
            large,
        }
    }

    /// The members answering an op 8 request for `guild`: those with `user_ids` (the others
    /// in `not_found`), or those whose name starts with `query` (any case; by name order),
    /// at most `limit` (by id order without a query; every member with `limit` 0).
    /// `None` for a guild the cache does not know.
    pub fn request_members(&self, guild: Id, request: &MemberRequest) -> Option<MemberAnswer> {
        let g = self.guilds.get(&guild)?;
        let limit = match request.limit {
            0 => usize::MAX,
            n => n,
        };
        let prefix = request.query.clone().filter(|q| !q.is_empty());
        let mut not_found = Vec::new();
        let ids: Vec<Id> = match (&request.user_ids, prefix) {
            (Some(asked), _) => {
                let mut seen = Set::default();
                let mut found = Vec::new();
                for id in asked.iter().filter(|id| seen.insert(**id)) {
                    if g.members.contains_key(id) {
                        found.push(*id);
                    } else {
                        not_found.push(*id);
                    }
                }
                found
            }
            (None, None) if limit == usize::MAX => {
                let mut all: Vec<Id> = g.members.keys().copied().collect();
                all.sort_unstable();
                all
            }
            (None, prefix) => self.search_member_ids(
                guild,
                &MemberQuery {
                    prefix,
                    limit,
                    ..MemberQuery::default()
                },
            ),
        };
        let members = ids
            .iter()
            .filter_map(|id| self.member(guild, *id))
            .collect();
        let presences = if request.presences {
            ids.iter()
                .filter_map(|id| self.presence(guild, *id))
                .collect()
        } else {
            Vec::new()
        };
        Some(MemberAnswer {
            complete: !self.missing_members(guild),
            members,
            presences,
            not_found,
        })
    }
}
