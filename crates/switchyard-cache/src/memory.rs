//! [`ShardCache::memory_bytes`]: about how much memory a shard's cache holds, from the sizes
//! of what it keeps (tables at their capacity, each object and what it points to). An
//! estimate, not the allocator's count: the memory bench measures that (`BENCHMARKS.md`).

use crate::id::Id;
use crate::member::Member;
use crate::presence::Presence;
use crate::shard::{Channel, Guild, ShardCache, SharedUser, Stored};

/// A hash table's slot overhead per entry (control byte), beside the entry itself.
const SLOT: usize = 1;

fn table<K, V>(capacity: usize) -> usize {
    capacity * (size_of::<K>() + size_of::<V>() + SLOT)
}

impl ShardCache {
    /// About how many bytes the cache holds.
    pub fn memory_bytes(&self) -> usize {
        let guilds: usize = self.guilds.values().map(guild_bytes).sum();
        let channels: usize = self.channels.values().map(|c| c.raw.get().len()).sum();
        let users: usize = self.users.values().map(|u| u.user.heap_bytes()).sum();
        let messages: usize = self
            .messages
            .values()
            .map(|m| {
                m.capacity() * size_of::<(Id, Stored)>()
                    + m.iter().map(|(_, s)| s.text().len()).sum::<usize>()
            })
            .sum();
        size_of::<ShardCache>()
            + table::<Id, Guild>(self.guilds.capacity())
            + guilds
            + table::<Id, Channel>(self.channels.capacity())
            + channels
            + table::<Id, SharedUser>(self.users.capacity())
            + users
            + messages
            + self.rests.heap_bytes()
            + self.application.as_ref().map_or(0, |a| a.get().len())
    }
}

fn guild_bytes(g: &Guild) -> usize {
    let raw = |r: &serde_json::value::RawValue| r.get().len();
    g.raw.as_deref().map_or(0, raw)
        + table::<Id, ()>(g.channels.capacity())
        + table::<Id, Box<serde_json::value::RawValue>>(g.roles.capacity())
        + g.roles.values().map(|r| raw(r)).sum::<usize>()
        + table::<Id, Member>(g.members.capacity())
        + g.members.values().map(Member::heap_bytes).sum::<usize>()
        + g.emojis.as_deref().map_or(0, raw)
        + g.stickers.as_deref().map_or(0, raw)
        + table::<Id, Presence>(g.presences.capacity())
        + g.presences
            .values()
            .map(Presence::heap_bytes)
            .sum::<usize>()
        + table::<Id, Stored>(g.voice_states.capacity())
        + g.voice_states
            .values()
            .map(|v| v.text().len())
            .sum::<usize>()
        + g.stage_instances.values().map(|r| raw(r)).sum::<usize>()
        + g.scheduled_events.values().map(|r| raw(r)).sum::<usize>()
        + g.names.lock().as_ref().map_or(0, |n| n.heap_bytes())
        + g.ids
            .lock()
            .as_ref()
            .map_or(0, |i| i.len() * (size_of::<Id>() + 8))
}
