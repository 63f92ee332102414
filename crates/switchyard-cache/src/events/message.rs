//! MESSAGE_*: the last messages of each channel, kept as Discord sent them.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map as JsonMap, Value};

use crate::error::CacheError;
use crate::id::Id;
use crate::scan;
use crate::shard::{ShardCache, Stored, to_raw};

#[derive(Deserialize)]
pub(super) struct MessageIds {
    id: Id,
    channel_id: Id,
}

/// MESSAGE_CREATE: the channel keeps its last `messages`. The same message again (Discord
/// replays what a resumed session missed) replaces itself.
pub(super) fn create(
    cache: &mut ShardCache,
    event: &str,
    data: &str,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let ids = message_ids(event, data)?;
    let raw = Stored::new(data);
    let limit = cache.config.messages;
    let channel = cache.messages.entry(ids.channel_id).or_default();
    if let Some(slot) = channel.iter_mut().find(|(id, _)| *id == ids.id) {
        slot.1 = raw;
        return Ok(None);
    }
    while channel.len() >= limit {
        channel.pop_front();
    }
    channel.push_back((ids.id, raw));
    Ok(None)
}

/// The message's ids, from a quick look at its top-level keys (serde says what is wrong when
/// that look finds no ids).
fn message_ids(event: &str, data: &str) -> Result<MessageIds, CacheError> {
    if let Some([Some(id), Some(channel)]) = scan::top_level(data, ["id", "channel_id"])
        && let (Some(id), Some(channel_id)) = (scan::id(id), scan::id(channel))
    {
        return Ok(MessageIds { id, channel_id });
    }
    super::read(event, data)
}

/// MESSAGE_UPDATE: Discord may send a part of the message; what it sends is laid over the
/// cached message. `old` is the message as it was.
pub(super) fn update(
    cache: &mut ShardCache,
    event: &str,
    data: &str,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let ids: MessageIds = super::read(event, data)?;
    let Some(slot) = cache
        .messages
        .get_mut(&ids.channel_id)
        .and_then(|c| c.iter_mut().find(|(id, _)| *id == ids.id))
    else {
        return Ok(None);
    };
    let mut merged: JsonMap<String, Value> = super::read(event, slot.1.text())?;
    let update: JsonMap<String, Value> = super::read(event, data)?;
    merged.extend(update);
    let Ok(new) = serde_json::to_string(&merged) else {
        return Ok(None);
    };
    Ok(std::mem::replace(&mut slot.1, Stored::new(&new)).to_raw())
}

/// MESSAGE_DELETE: `old` is the message as it was.
pub(super) fn delete(
    cache: &mut ShardCache,
    d: MessageIds,
) -> Result<Option<Box<RawValue>>, CacheError> {
    Ok(take(cache, d.channel_id, d.id))
}

#[derive(Deserialize)]
pub(super) struct DeleteBulk {
    ids: Vec<Id>,
    channel_id: Id,
}

/// MESSAGE_DELETE_BULK: `old` is the list of the deleted messages the cache held.
pub(super) fn delete_bulk(
    cache: &mut ShardCache,
    d: DeleteBulk,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let old: Vec<Box<RawValue>> = d
        .ids
        .iter()
        .filter_map(|id| take(cache, d.channel_id, *id))
        .collect();
    Ok((!old.is_empty()).then(|| to_raw(&old)).flatten())
}

fn take(cache: &mut ShardCache, channel: Id, id: Id) -> Option<Box<RawValue>> {
    let messages = cache.messages.get_mut(&channel)?;
    let at = messages.iter().position(|(m, _)| *m == id)?;
    messages.remove(at).and_then(|(_, raw)| raw.to_raw())
}
