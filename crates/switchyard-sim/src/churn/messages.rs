//! Messages sent, edited, deleted and bulk-deleted (MESSAGE_CREATE, MESSAGE_UPDATE,
//! MESSAGE_DELETE, MESSAGE_DELETE_BULK), in text channels, voice channels' text and threads.
//!
//! Rules, from Discord's gateway documentation:
//! - MESSAGE_CREATE is a message object with `guild_id`, the author's partial `member`
//!   (without `user`), `mentions` (users, each with a partial `member`) and `channel_type`.
//! - MESSAGE_UPDATE is the whole message "with the same extra fields as MESSAGE_CREATE";
//!   "the value for `tts` will always be false in message updates".
//! - MESSAGE_DELETE carries `id`, `channel_id` and `guild_id`; MESSAGE_DELETE_BULK carries
//!   `ids`, `channel_id` and `guild_id`.
//! - CHANNEL_UPDATE "is not sent when the field `last_message_id` is altered": channels
//!   keep the `last_message_id` they were created with here.
//! - Nothing is sent about a channel the bots cannot view, nor in an outage.
//!
//! Only the last [`RECENT_MESSAGES`] of each channel are kept, and edits and deletes pick
//! among them.

use serde_json::{Value, json};

use super::Ctx;
use super::RECENT_MESSAGES;
use super::state::parent_of;

/// The channels (and threads) where messages are sent now: visible text channels, voice
/// channels, and threads of visible channels, with their type.
fn writable(cx: &Ctx<'_>) -> Vec<(u64, u64)> {
    let Some(g) = cx.state.guilds.get(&cx.guild) else {
        return Vec::new();
    };
    let channels = g
        .channels
        .iter()
        .filter(|(id, _)| !g.hidden.contains(id))
        .filter_map(|(id, c)| match c["type"].as_u64() {
            Some(k @ (0 | 2)) => Some((*id, k)),
            _ => None,
        });
    let threads = g
        .threads
        .iter()
        .filter(|(_, t)| !parent_of(t).is_some_and(|p| g.hidden.contains(&p)))
        .map(|(id, t)| (*id, t["type"].as_u64().unwrap_or(11)));
    channels.chain(threads).collect()
}

/// A member sends a message (one in five mentions another member).
pub(super) fn create(cx: &mut Ctx<'_>) -> bool {
    let channels = writable(cx);
    let members = cx.state.member_ids(cx.guild);
    let (Some((channel, kind)), Some(author)) = (cx.pick(&channels), cx.pick(&members)) else {
        return false;
    };
    let Some(author_member) = cx.state.member(cx.guild, author) else {
        return false;
    };
    let id = cx.state.next_id();
    let n = 2 + cx.rng.below(14);
    let mut content = super::words(cx.rng, n);
    let mut mentions = Vec::new();
    if cx.chance(20)
        && let Some(other) = cx.pick(&members)
        && let Some(mut m) = cx.state.member(cx.guild, other)
    {
        content = format!("<@{other}> {content}");
        let mut user = m["user"].take();
        if let Some(o) = m.as_object_mut() {
            o.remove("user");
        }
        user["member"] = m;
        mentions.push(user);
    }
    let mut member = author_member.clone();
    if let Some(o) = member.as_object_mut() {
        o.remove("user");
    }
    let d = json!({
        "type": 0, "tts": false, "timestamp": cx.state.now(), "pinned": false,
        "nonce": cx.rng.next_u64().to_string(), "mentions": mentions, "mention_roles": [],
        "mention_everyone": false, "member": member, "id": id.to_string(), "flags": 0,
        "embeds": [], "edited_timestamp": null, "content": content, "components": [],
        "channel_type": kind, "channel_id": channel.to_string(),
        "author": author_member["user"], "attachments": [], "guild_id": cx.gid(),
    });
    let list = cx.state.messages.entry(channel).or_default();
    if list.len() >= RECENT_MESSAGES {
        list.pop_front();
    }
    list.push_back(d.clone());
    cx.emit("MESSAGE_CREATE", d, None);
    true
}

/// A channel of [`writable`] with messages, and their ids.
fn with_messages(cx: &mut Ctx<'_>) -> Option<(u64, Vec<String>)> {
    let candidates: Vec<u64> = writable(cx)
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| cx.state.messages.get(c).is_some_and(|m| !m.is_empty()))
        .collect();
    let channel = cx.pick(&candidates)?;
    let ids = cx
        .state
        .messages
        .get(&channel)?
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    Some((channel, ids))
}

/// A member edits one of its messages: the whole message again, with its new content and
/// the author's member and user as they are now. Only an author can edit, so messages of
/// users who left are not edited.
pub(super) fn edit(cx: &mut Ctx<'_>) -> bool {
    let Some((channel, _)) = with_messages(cx) else {
        return false;
    };
    let members = cx.state.member_ids(cx.guild);
    let ids: Vec<String> = cx
        .state
        .messages(channel)
        .iter()
        .filter(|m| {
            members
                .iter()
                .any(|u| m["author"]["id"] == json!(u.to_string()))
        })
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    let Some(id) = cx.pick(&ids) else {
        return false;
    };
    let n = 2 + cx.rng.below(10);
    let content = super::words(cx.rng, n);
    let Some(before) = cx
        .state
        .messages(channel)
        .into_iter()
        .find(|m| m["id"] == json!(id))
    else {
        return false;
    };
    let author = super::state::id_of(&before["author"]["id"]).unwrap_or(0);
    let Some(mut member) = cx.state.member(cx.guild, author) else {
        return false;
    };
    let user = member
        .as_object_mut()
        .and_then(|m| m.remove("user"))
        .unwrap_or(Value::Null);
    let mut d = before.clone();
    d["content"] = json!(content);
    d["edited_timestamp"] = json!(cx.state.now());
    d["tts"] = json!(false);
    d["author"] = user;
    d["member"] = member;
    let Some(slot) = cx
        .state
        .messages
        .get_mut(&channel)
        .and_then(|m| m.iter_mut().find(|m| m["id"] == json!(id)))
    else {
        return false;
    };
    *slot = d.clone();
    cx.emit("MESSAGE_UPDATE", d, Some(before));
    true
}

/// Takes message `id` out of `channel`.
fn take(cx: &mut Ctx<'_>, channel: u64, id: &str) -> Option<Value> {
    let list = cx.state.messages.get_mut(&channel)?;
    let at = list.iter().position(|m| m["id"] == json!(id))?;
    list.remove(at)
}

/// A message is deleted.
pub(super) fn delete(cx: &mut Ctx<'_>) -> bool {
    let Some((channel, ids)) = with_messages(cx) else {
        return false;
    };
    let Some(id) = cx.pick(&ids) else {
        return false;
    };
    let Some(before) = take(cx, channel, &id) else {
        return false;
    };
    let d = json!({"id": id, "channel_id": channel.to_string(), "guild_id": cx.gid()});
    cx.emit("MESSAGE_DELETE", d, Some(before));
    true
}

/// Two to six messages of a channel are deleted at once; `before` is the list of them, in
/// the order of `ids`.
pub(super) fn bulk_delete(cx: &mut Ctx<'_>) -> bool {
    let Some((channel, mut ids)) = with_messages(cx) else {
        return false;
    };
    if ids.len() < 2 {
        return false;
    }
    let n = 2 + cx.rng.below(5).min(ids.len() as u64 - 2);
    let mut chosen = Vec::new();
    for _ in 0..n {
        let at = cx.rng.below(ids.len() as u64) as usize;
        chosen.push(ids.swap_remove(at));
    }
    let before: Vec<Value> = chosen
        .iter()
        .filter_map(|id| take(cx, channel, id))
        .collect();
    let d = json!({"ids": chosen, "channel_id": channel.to_string(), "guild_id": cx.gid()});
    cx.emit("MESSAGE_DELETE_BULK", d, Some(json!(before)));
    true
}
