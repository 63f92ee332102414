//! [`NameIndex`]: a guild's members by name, for prefix searches on guilds of hundreds of
//! thousands of members.
//!
//! Built on a guild's first search, then kept up as members come, change and go (a guild
//! never searched pays nothing). Entries are only ever added: a search checks each
//! candidate against the member as it is now, so stale names (a member who left, a nickname
//! replaced) are skipped, and the index is rebuilt once stale entries outnumber live ones.

use std::collections::BTreeSet;

use crate::id::Id;
use crate::member::Member;
use crate::user::User;

/// Lower-cased names (username, global name, nickname) with their user, in order.
#[derive(Debug, Default)]
pub(crate) struct NameIndex {
    names: BTreeSet<(Box<str>, Id)>,
    /// Entries added since the last build, beyond the members' current names.
    stale: usize,
}

impl NameIndex {
    /// The index of `members`, each with its user's id and user.
    pub fn build<'a>(members: impl Iterator<Item = (Id, &'a User, &'a Member)>) -> Self {
        let mut index = NameIndex::default();
        for (id, user, member) in members {
            index.add(id, user, member);
        }
        index.stale = 0;
        index
    }

    /// Notes the names of a member as it is now (after a join or a change).
    pub fn add(&mut self, id: Id, user: &User, member: &Member) {
        for name in names(user, member) {
            if self.names.insert((lower(name), id)) {
                self.stale += 1;
            }
        }
    }

    /// About what the index holds: each entry's name and id, and the tree's own nodes.
    pub fn heap_bytes(&self) -> usize {
        self.names
            .iter()
            .map(|(name, _)| name.len() + size_of::<(Box<str>, Id)>() + 8)
            .sum()
    }

    /// Notes that a member left (its entries become stale).
    pub fn removed(&mut self) {
        self.stale += 1;
    }

    /// Whether stale entries outnumber live ones (`live` members), so a rebuild pays.
    pub fn worn(&self, live: usize) -> bool {
        self.stale > live.max(1024)
    }

    /// Users with a name starting with `prefix` (lower-cased), in name order, possibly
    /// stale: the caller checks each.
    pub fn starting_with<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = Id> + 'a {
        self.names
            .range((Box::from(prefix), Id(0))..)
            .take_while(move |(name, _)| name.starts_with(prefix))
            .map(|(_, id)| *id)
    }
}

/// The names a member is found by.
pub(crate) fn names<'a>(user: &'a User, member: &'a Member) -> impl Iterator<Item = &'a str> {
    [Some(user.username()), user.global_name(), member.nick()]
        .into_iter()
        .flatten()
}

/// Whether `name` starts with `prefix` (lower-cased), ignoring case.
pub(crate) fn matches(name: &str, prefix: &str) -> bool {
    lower(name).starts_with(prefix)
}

/// `s` lower-cased (Unicode), as searches compare names.
pub(crate) fn lower(s: &str) -> Box<str> {
    s.to_lowercase().into_boxed_str()
}
