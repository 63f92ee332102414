//! Objects created at run time through REST or the control API: messages, reactions, DM
//! channels, application commands and interactions; and the Discord message object.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Value, json};

use crate::ids::{iso8601, snowflake_ms};
use crate::world::{Channel, User};

/// Messages kept per channel (the oldest are forgotten).
pub const MESSAGES_PER_CHANNEL: usize = 1000;

/// How long a nonce sent with `enforce_nonce` stays unique ("the past few minutes").
pub const NONCE_WINDOW_MS: u64 = 5 * 60 * 1000;

/// A pending or answered interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// Interaction id.
    pub id: u64,
    /// The application it was sent to.
    pub application_id: u64,
    /// Channel it happened in.
    pub channel_id: u64,
    /// Guild, if any.
    pub guild_id: Option<u64>,
    /// Whether the callback was already used.
    pub acknowledged: bool,
    /// The original response message, once created.
    pub original: Option<u64>,
}

/// Run-time objects.
#[derive(Debug, Default)]
pub struct Store {
    /// Messages per channel, by id.
    pub messages: HashMap<u64, BTreeMap<u64, Value>>,
    /// Reactions per message: emoji → users, in order.
    pub reactions: HashMap<u64, BTreeMap<String, Vec<u64>>>,
    /// DM channels by id.
    pub dm_channels: HashMap<u64, Channel>,
    /// DM channel of (bot, user).
    pub dms: HashMap<(u64, u64), u64>,
    /// Global commands per application.
    pub commands: HashMap<u64, Value>,
    /// Guild commands per (application, guild).
    pub guild_commands: HashMap<(u64, u64), Value>,
    /// Interactions by token.
    pub interactions: HashMap<String, Interaction>,
    /// Messages created with `enforce_nonce`: (author, nonce) → (channel, message).
    nonces: HashMap<(u64, String), (u64, u64)>,
    /// The same keys with the time they were sent, oldest first, to forget them.
    nonce_times: VecDeque<(u64, (u64, String))>,
}

impl Store {
    /// Stores a message, forgetting the oldest of its channel beyond the cap.
    pub fn insert_message(&mut self, channel: u64, msg: Value) {
        let id = msg["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        let list = self.messages.entry(channel).or_default();
        list.insert(id, msg);
        while list.len() > MESSAGES_PER_CHANNEL {
            list.pop_first();
        }
    }

    /// With `enforce_nonce`: the message `author` already created with `nonce` within
    /// [`NONCE_WINDOW_MS`] of `now_ms`, if it still exists.
    pub fn nonce_duplicate(&mut self, author: u64, nonce: &str, now_ms: u64) -> Option<Value> {
        while let Some((at, _)) = self.nonce_times.front()
            && at + NONCE_WINDOW_MS <= now_ms
        {
            if let Some((_, key)) = self.nonce_times.pop_front() {
                self.nonces.remove(&key);
            }
        }
        let (channel, id) = *self.nonces.get(&(author, nonce.to_owned()))?;
        self.message(channel, id).cloned()
    }

    /// Remembers that `author` created message `id` in `channel` with `nonce` enforced.
    pub fn remember_nonce(&mut self, author: u64, nonce: &str, channel: u64, id: u64, now_ms: u64) {
        let key = (author, nonce.to_owned());
        self.nonces.insert(key.clone(), (channel, id));
        self.nonce_times.push_back((now_ms, key));
    }

    /// A stored message.
    pub fn message(&self, channel: u64, id: u64) -> Option<&Value> {
        self.messages.get(&channel).and_then(|m| m.get(&id))
    }

    /// The message with its current reactions filled in.
    pub fn message_with_reactions(&self, channel: u64, id: u64, me: u64) -> Option<Value> {
        let mut m = self.message(channel, id)?.clone();
        if let Some(r) = self.reactions.get(&id).filter(|r| !r.is_empty()) {
            m["reactions"] = json!(
                r.iter()
                    .map(|(emoji, users)| reaction_json(emoji, users, me))
                    .collect::<Vec<_>>()
            );
        }
        Some(m)
    }
}

/// Parses a route emoji (`👍` URL-decoded, or `name:id`) into an emoji object.
pub fn emoji_json(emoji: &str) -> Value {
    match emoji.split_once(':') {
        Some((name, id)) => json!({"id": id, "name": name}),
        None => json!({"id": null, "name": emoji}),
    }
}

fn reaction_json(emoji: &str, users: &[u64], me: u64) -> Value {
    json!({
        "count": users.len(),
        "count_details": {"burst": 0, "normal": users.len()},
        "me": users.contains(&me), "me_burst": false, "burst_colors": [],
        "emoji": emoji_json(emoji),
    })
}

/// What a new message is made of.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// Its id.
    pub id: u64,
    /// Its channel.
    pub channel_id: u64,
    /// The author.
    pub author: &'a User,
    /// Content.
    pub content: String,
    /// Mentioned users (resolved).
    pub mentions: Vec<User>,
    /// Embeds as sent.
    pub embeds: Value,
    /// Components as sent.
    pub components: Value,
    /// Attachment objects of the uploaded files.
    pub attachments: Vec<Value>,
    /// Reply reference as sent.
    pub message_reference: Option<Value>,
    /// The referenced message, for replies.
    pub referenced: Option<Value>,
    /// Nonce as sent.
    pub nonce: Option<Value>,
    /// tts.
    pub tts: bool,
    /// Message flags.
    pub flags: u64,
    /// Webhook id for webhook/interaction messages.
    pub webhook_id: Option<u64>,
    /// Discord message type (0 default, 19 reply, 20 chat input command).
    pub kind: u8,
}

/// The REST message object (no `guild_id`, as Discord).
pub fn message_json(m: &NewMessage<'_>) -> Value {
    let mut v = json!({
        "type": m.kind,
        "content": m.content,
        "mentions": m.mentions.iter().map(User::to_json).collect::<Vec<_>>(),
        "mention_roles": [],
        "attachments": m.attachments,
        "embeds": if m.embeds.is_array() { m.embeds.clone() } else { json!([]) },
        "timestamp": iso8601(snowflake_ms(m.id)),
        "edited_timestamp": null,
        "flags": m.flags,
        "components": if m.components.is_array() { m.components.clone() } else { json!([]) },
        "id": m.id.to_string(),
        "channel_id": m.channel_id.to_string(),
        "author": m.author.to_json(),
        "pinned": false,
        "mention_everyone": m.content.contains("@everyone"),
        "tts": m.tts,
    });
    if let Some(n) = &m.nonce {
        v["nonce"] = n.clone();
    }
    if let Some(r) = &m.message_reference {
        let mut r = r.clone();
        r["channel_id"] = json!(m.channel_id.to_string());
        r["type"] = json!(0);
        v["message_reference"] = r;
        v["referenced_message"] = m.referenced.clone().unwrap_or(Value::Null);
    }
    if let Some(w) = m.webhook_id {
        v["webhook_id"] = json!(w.to_string());
        v["application_id"] = json!(w.to_string());
    }
    v
}

/// The user ids mentioned as `<@id>` or `<@!id>` in a content string.
pub fn mentioned_ids(content: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = content;
    while let Some(i) = rest.find("<@") {
        rest = &rest[i + 2..];
        let r = rest.strip_prefix('!').unwrap_or(rest);
        if let Some(end) = r.find('>')
            && let Ok(id) = r[..end].parse::<u64>()
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_parsed() {
        assert_eq!(
            mentioned_ids("hi <@123> and <@!456> <@x> <@123>"),
            vec![123, 456]
        );
        assert!(mentioned_ids("<@").is_empty());
    }

    #[test]
    fn store_caps_messages() {
        let mut s = Store::default();
        for i in 0..(MESSAGES_PER_CHANNEL as u64 + 5) {
            s.insert_message(1, json!({"id": (i + 1).to_string()}));
        }
        assert_eq!(s.messages[&1].len(), MESSAGES_PER_CHANNEL);
        assert!(s.message(1, 1).is_none());
    }

    #[test]
    fn enforced_nonces_are_unique_per_author_for_a_few_minutes() {
        let mut s = Store::default();
        s.insert_message(1, json!({"id": "7"}));
        s.remember_nonce(5, "n", 1, 7, 1000);
        assert_eq!(s.nonce_duplicate(5, "n", 2000), Some(json!({"id": "7"})));
        assert_eq!(s.nonce_duplicate(6, "n", 2000), None, "another author");
        assert_eq!(s.nonce_duplicate(5, "m", 2000), None, "another nonce");
        assert_eq!(s.nonce_duplicate(5, "n", 1000 + NONCE_WINDOW_MS), None);
    }
}
