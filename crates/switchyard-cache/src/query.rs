//! Composite reads over one shard's cache: member pages and searches, users and the guilds
//! they share with the bot, a channel's voice states, and messages by page and by id.

use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::id::Id;
use crate::search::{self, NameIndex};
use crate::shard::{Set, ShardCache, to_raw};
use crate::user::UserOut;

/// A presence status, as member searches filter on it (`offline`: no presence cached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    /// Online.
    Online,
    /// Idle.
    Idle,
    /// Do not disturb.
    Dnd,
    /// Offline or invisible: no presence.
    Offline,
}

/// A member search (Pylon's FindGuildMembers): every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberQuery {
    /// A prefix of the username, global name or nickname, in any case.
    pub prefix: Option<String>,
    /// A role the member has.
    pub role: Option<Id>,
    /// The member's presence status.
    pub status: Option<PresenceStatus>,
    /// At most this many members.
    pub limit: usize,
}

#[derive(Deserialize)]
struct Presence {
    status: PresenceStatus,
}

impl ShardCache {
    /// A user the cache knows (a member's user, or the bot's own), in Discord's shape.
    pub fn user(&self, id: Id) -> Option<Box<RawValue>> {
        let user = match self.users.get(&id) {
            Some(shared) => &shared.user,
            None => &self.own_user.as_ref().filter(|(own, _)| *own == id)?.1,
        };
        to_raw(&UserOut { id, user })
    }

    /// The guilds in which `user` is a cached member, in id order.
    pub fn user_guilds(&self, user: Id) -> Vec<Id> {
        let mut ids: Vec<Id> = self
            .guilds
            .iter()
            .filter(|(_, g)| g.members.contains_key(&user))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Up to `limit` members of a guild with a user id above `after`, in id order (Discord's
    /// List Guild Members). The guild's first page builds its index of ids in order.
    pub fn members_page(&self, guild: Id, after: Id, limit: usize) -> Vec<Box<RawValue>> {
        let Some(g) = self.guilds.get(&guild) else {
            return Vec::new();
        };
        let page: Vec<Id> = {
            let mut ids = g.ids.lock();
            ids.get_or_insert_with(|| g.members.keys().copied().collect())
                .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .take(limit)
                .copied()
                .collect()
        };
        page.into_iter()
            .filter_map(|id| self.member_json(id, g.members.get(&id)?))
            .collect()
    }

    /// Members of a guild matching `query`: by name order with a prefix, by id order
    /// without. The guild's first search with a prefix builds its name index.
    pub fn search_members(&self, guild: Id, query: &MemberQuery) -> Vec<Box<RawValue>> {
        self.search_member_ids(guild, query)
            .into_iter()
            .filter_map(|id| self.member(guild, id))
            .collect()
    }

    /// The users of the members [`ShardCache::search_members`] finds.
    pub(crate) fn search_member_ids(&self, guild: Id, query: &MemberQuery) -> Vec<Id> {
        let Some(g) = self.guilds.get(&guild) else {
            return Vec::new();
        };
        let Some(prefix) = query.prefix.as_deref().map(search::lower) else {
            let found = g
                .members
                .keys()
                .copied()
                .filter(|id| self.member_matches(guild, *id, None, query));
            return smallest(found, query.limit);
        };
        let mut names = g.names.lock();
        if names.as_ref().is_none_or(|i| i.worn(g.members.len())) {
            let users = &self.users;
            let members = g
                .members
                .iter()
                .filter_map(|(id, m)| Some((*id, &users.get(id)?.user, m)));
            *names = Some(NameIndex::build(members));
        }
        let Some(index) = names.as_ref() else {
            return Vec::new();
        };
        let mut seen = Set::default();
        index
            .starting_with(&prefix)
            .filter(|id| seen.insert(*id))
            .filter(|id| self.member_matches(guild, *id, Some(&prefix), query))
            .take(query.limit)
            .collect()
    }

    /// Whether a member of `guild` is there now and matches `query` (with its prefix
    /// lower-cased).
    fn member_matches(
        &self,
        guild: Id,
        user: Id,
        prefix: Option<&str>,
        query: &MemberQuery,
    ) -> bool {
        let Some(member) = self.guilds.get(&guild).and_then(|g| g.members.get(&user)) else {
            return false;
        };
        if let Some(prefix) = prefix {
            let Some(shared) = self.users.get(&user) else {
                return false;
            };
            if !search::names(&shared.user, member).any(|n| search::matches(n, prefix)) {
                return false;
            }
        }
        if query.role.is_some_and(|r| !member.roles().contains(&r)) {
            return false;
        }
        if let Some(status) = query.status {
            let now = self
                .presence(guild, user)
                .and_then(|p| serde_json::from_str::<Presence>(p.get()).ok())
                .map_or(PresenceStatus::Offline, |p| p.status);
            if now != status {
                return false;
            }
        }
        true
    }

    /// The voice states of the users in a voice channel of a guild.
    pub fn channel_voice_states(&self, guild: Id, channel: Id) -> Vec<Box<RawValue>> {
        #[derive(Deserialize)]
        struct In {
            channel_id: Option<Id>,
        }
        let Some(g) = self.guilds.get(&guild) else {
            return Vec::new();
        };
        g.voice_states
            .keys()
            .filter_map(|user| self.voice_state(guild, *user))
            .filter(|v| {
                serde_json::from_str::<In>(v.get()).is_ok_and(|v| v.channel_id == Some(channel))
            })
            .map(|v| v.to_owned())
            .collect()
    }

    /// One cached message of a channel.
    pub fn message(&self, channel: Id, id: Id) -> Option<&RawValue> {
        self.messages
            .get(&channel)?
            .iter()
            .find(|(m, _)| *m == id)
            .and_then(|(_, raw)| raw.get())
    }

    /// Up to `limit` cached messages of a channel, newest first, older than `before` when
    /// given (Discord's Get Channel Messages).
    pub fn messages_page(&self, channel: Id, before: Option<Id>, limit: usize) -> Vec<&RawValue> {
        let Some(messages) = self.messages.get(&channel) else {
            return Vec::new();
        };
        messages
            .iter()
            .rev()
            .filter(|(id, _)| before.is_none_or(|b| *id < b))
            .take(limit)
            .filter_map(|(_, raw)| raw.get())
            .collect()
    }
}

/// The `limit` smallest ids of `ids`, in order, in one pass.
fn smallest(ids: impl Iterator<Item = Id>, limit: usize) -> Vec<Id> {
    if limit == 0 {
        return Vec::new();
    }
    let mut heap = BinaryHeap::with_capacity(limit + 1);
    for id in ids {
        if heap.len() < limit {
            heap.push(id);
        } else if heap.peek().is_some_and(|top| id < *top) {
            heap.pop();
            heap.push(id);
        }
    }
    heap.into_sorted_vec()
}
