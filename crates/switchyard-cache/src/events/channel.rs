//! CHANNEL_* and THREAD_*: channels and threads, kept as Discord sent them.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map as JsonMap, Value};

use crate::error::CacheError;
use crate::id::Id;
use crate::shard::{Channel, ShardCache};

#[derive(Deserialize)]
pub(super) struct ChannelIds {
    id: Id,
    #[serde(default)]
    guild_id: Option<Id>,
}

/// CHANNEL_CREATE, CHANNEL_UPDATE, THREAD_CREATE, THREAD_UPDATE: the whole channel; `old` is
/// the one it replaces. THREAD_CREATE's `newly_created` belongs to the event ("when a thread
/// is created, includes an additional `newly_created` boolean field"), not to the thread,
/// which is kept without it.
pub(super) fn upsert(
    cache: &mut ShardCache,
    event: &str,
    data: &str,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let ids: ChannelIds = super::read(event, data)?;
    let raw = if event == "THREAD_CREATE" && data.contains("\"newly_created\"") {
        let mut thread: JsonMap<String, Value> = super::read(event, data)?;
        thread.remove("newly_created");
        serde_json::value::to_raw_value(&thread).map_err(CacheError::shape(event))?
    } else {
        super::raw(event, data)?
    };
    Ok(insert(cache, ids, raw))
}

fn insert(cache: &mut ShardCache, ids: ChannelIds, raw: Box<RawValue>) -> Option<Box<RawValue>> {
    if let Some(guild) = ids.guild_id {
        cache
            .guilds
            .entry(guild)
            .or_default()
            .channels
            .insert(ids.id);
    }
    cache
        .channels
        .insert(
            ids.id,
            Channel {
                guild: ids.guild_id,
                raw,
            },
        )
        .map(|old| old.raw)
}

/// CHANNEL_DELETE, THREAD_DELETE: `old` is the channel as it was; its messages go with it,
/// and so do a deleted channel's threads, for which Discord sends no THREAD_DELETE
/// (discord.py drops them on CHANNEL_DELETE for that reason).
pub(super) fn delete(
    cache: &mut ShardCache,
    ids: ChannelIds,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let old = remove(cache, ids.id);
    if let Some(guild) = old.as_ref().and_then(|c| c.guild) {
        for thread in threads_of(cache, guild, |parent| parent == ids.id) {
            remove(cache, thread);
        }
    }
    Ok(old.map(|c| c.raw))
}

/// Removes a channel or thread with its messages.
fn remove(cache: &mut ShardCache, id: Id) -> Option<Channel> {
    cache.messages.remove(&id);
    let old = cache.channels.remove(&id)?;
    if let Some(guild) = old.guild.and_then(|g| cache.guilds.get_mut(&g)) {
        guild.channels.remove(&id);
    }
    Some(old)
}

/// What tells a thread from a channel, and its parent.
#[derive(Deserialize)]
struct Parent {
    #[serde(rename = "type", default)]
    kind: u8,
    #[serde(default)]
    parent_id: Option<Id>,
}

/// The cached threads (types 10, 11, 12) of `guild` whose parent `matches`. Each of the
/// guild's channels is read again: only on the rare events that need it.
fn threads_of(cache: &ShardCache, guild: Id, matches: impl Fn(Id) -> bool) -> Vec<Id> {
    let Some(g) = cache.guilds.get(&guild) else {
        return Vec::new();
    };
    g.channels
        .iter()
        .filter(|id| {
            cache
                .channels
                .get(id)
                .and_then(|c| serde_json::from_str::<Parent>(c.raw.get()).ok())
                .is_some_and(|p| (10..=12).contains(&p.kind) && p.parent_id.is_some_and(&matches))
        })
        .copied()
        .collect()
}

#[derive(Deserialize)]
pub(super) struct ThreadListSync {
    guild_id: Id,
    #[serde(default)]
    channel_ids: Option<Vec<Id>>,
    #[serde(default)]
    threads: Vec<Box<RawValue>>,
}

/// THREAD_LIST_SYNC: the active threads of channels the bot gained access to. As Discord's
/// docs say to use it: "first clear out any active threads whose parent_id is in the
/// channel_ids array, and then ingest any threads that were in the event" (no
/// `channel_ids`: the whole guild was synced). A thread cleared out goes with its messages.
pub(super) fn thread_list_sync(
    cache: &mut ShardCache,
    event: &str,
    d: ThreadListSync,
) -> Result<Option<Box<RawValue>>, CacheError> {
    // Every thread is read before any is kept: a bad one leaves the cache as it was.
    let mut threads = Vec::with_capacity(d.threads.len());
    for thread in d.threads {
        let mut ids: ChannelIds = super::read(event, thread.get())?;
        ids.guild_id.get_or_insert(d.guild_id);
        threads.push((ids, thread));
    }
    let synced = |parent: Id| d.channel_ids.as_ref().is_none_or(|c| c.contains(&parent));
    let listed: Vec<Id> = threads.iter().map(|(ids, _)| ids.id).collect();
    for gone in threads_of(cache, d.guild_id, synced) {
        if !listed.contains(&gone) {
            remove(cache, gone);
        }
    }
    for (ids, thread) in threads {
        insert(cache, ids, thread);
    }
    Ok(None)
}
