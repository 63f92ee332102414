//! Messages as Discord makes them: creating (checked as Discord checks a body), editing and
//! deleting one, shared by the channel routes, interactions, webhooks and the test-control
//! API; and the dispatch of the gateway event each change sends.

use serde_json::{Value, json};

use crate::ids::{iso8601, now_ms};
use crate::rest::error::ApiError;
use crate::state::store::{NewMessage, mentioned_ids, message_json};
use crate::state::{Event, MessageMeta, Shared, lock};
use crate::world::{Channel, User};

/// The bot owning a DM channel (DM events go to that bot only).
fn dm_owner(shared: &Shared, channel: &Channel) -> Option<u64> {
    if channel.guild_id.is_some() {
        return None;
    }
    lock(&shared.store)
        .dms
        .iter()
        .find(|(_, c)| **c == channel.id)
        .map(|((bot, _), _)| *bot)
}

/// Adds the gateway-only fields (`guild_id`, partial `member`) and dispatches.
fn dispatch_message(
    shared: &Shared,
    name: &str,
    channel: &Channel,
    msg: &Value,
    author: u64,
    mentions: Vec<u64>,
) {
    let mut d = msg.clone();
    if let Some(g) = channel.guild_id {
        d["guild_id"] = json!(g.to_string());
        if let Some(guild) = shared.world.guild(g) {
            let member = guild.member(author).map(|m| m.to_json(false)).unwrap_or_else(|| {
                json!({"roles": [], "joined_at": iso8601(now_ms()), "deaf": false, "mute": false, "flags": 0, "pending": false, "premium_since": null, "nick": null, "avatar": null, "banner": null, "communication_disabled_until": null})
            });
            d["member"] = member;
        }
    }
    let mut event = Event::new(name, d, channel.guild_id);
    event.only_bot = dm_owner(shared, channel);
    event.message = Some(MessageMeta {
        author_id: author,
        mentions,
    });
    crate::gateway::dispatch(shared, &event);
}

/// Dispatches an event about `channel` (to its DM's bot only, for a DM).
pub fn emit(shared: &Shared, name: &str, channel: &Channel, d: Value) {
    let mut event = Event::new(name, d, channel.guild_id);
    event.only_bot = dm_owner(shared, channel);
    crate::gateway::dispatch(shared, &event);
}

/// Message flag EPHEMERAL.
pub const EPHEMERAL: u64 = 1 << 6;
/// Message flag LOADING: the "is thinking…" message of a deferred interaction response.
pub const LOADING: u64 = 1 << 7;

/// Validates a message body, stores the message (with `uploads`, the attachment objects of
/// its files) and dispatches MESSAGE_CREATE.
pub fn create_message(
    shared: &Shared,
    channel: &Channel,
    author: &User,
    body: &Value,
    uploads: &[Value],
    webhook_id: Option<u64>,
    kind: u8,
) -> Result<Value, ApiError> {
    let content = match &body["content"] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(ApiError::field(
                "content",
                "BASE_TYPE_STRING",
                "Could not interpret value as string.",
            ));
        }
    };
    if content.chars().count() > 2000 {
        return Err(ApiError::field(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    let nonempty = |k: &str| body[k].as_array().is_some_and(|a| !a.is_empty());
    if body["embeds"].as_array().is_some_and(|a| a.len() > 10) {
        return Err(ApiError::field(
            "embeds",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        ));
    }
    if content.is_empty()
        && !nonempty("embeds")
        && !nonempty("components")
        && !nonempty("sticker_ids")
        && !nonempty("attachments")
        && uploads.is_empty()
        && body["poll"].is_null()
    {
        return Err(ApiError::EMPTY_MESSAGE);
    }
    let mut referenced = None;
    let reference = body
        .get("message_reference")
        .filter(|r| r.is_object())
        .cloned();
    if let Some(r) = &reference {
        let id = r["message_id"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .or_else(|| r["message_id"].as_u64());
        let found = id.and_then(|id| lock(&shared.store).message(channel.id, id).cloned());
        match found {
            Some(m) => referenced = Some(m),
            None if r["fail_if_not_exists"] == json!(false) => {}
            None => {
                return Err(ApiError::field(
                    "message_reference",
                    "REPLIES_UNKNOWN_MESSAGE",
                    "Unknown message",
                ));
            }
        }
    }
    let mention_ids = mentioned_ids(&content);
    let mentions: Vec<User> = mention_ids
        .iter()
        .filter_map(|id| {
            shared.world.user(*id).cloned().or_else(|| {
                lock(&shared.bots)
                    .values()
                    .find(|b| b.identity.user_id == *id)
                    .map(|b| b.user())
            })
        })
        .collect();
    let nonce = body.get("nonce").filter(|n| !n.is_null()).cloned();
    // enforce_nonce: the same author's message with this nonce in the past few minutes is
    // returned instead of creating another (checked and recorded under one lock)
    let enforced = match (&nonce, body["enforce_nonce"].as_bool()) {
        (Some(Value::String(n)), Some(true)) => Some(n.clone()),
        (Some(n @ Value::Number(_)), Some(true)) => Some(n.to_string()),
        _ => None,
    };
    let id = shared.ids.next();
    let msg = message_json(&NewMessage {
        id,
        channel_id: channel.id,
        author,
        content,
        mentions,
        embeds: body["embeds"].clone(),
        components: body["components"].clone(),
        attachments: uploads.to_vec(),
        message_reference: reference,
        referenced: referenced.clone(),
        nonce,
        tts: body["tts"].as_bool().unwrap_or(false),
        flags: body["flags"].as_u64().unwrap_or(0) & (1 << 2 | 1 << 6 | 1 << 12),
        webhook_id,
        kind: if referenced.is_some() && kind == 0 {
            19
        } else {
            kind
        },
    });
    {
        let mut store = lock(&shared.store);
        if let Some(n) = &enforced {
            let now = now_ms();
            if let Some(existing) = store.nonce_duplicate(author.id, n, now) {
                return Ok(existing);
            }
            store.remember_nonce(author.id, n, channel.id, id, now);
        }
        store.insert_message(channel.id, msg.clone());
    }
    dispatch_message(
        shared,
        "MESSAGE_CREATE",
        channel,
        &msg,
        author.id,
        mention_ids,
    );
    Ok(msg)
}

/// The deferred response of an interaction (callback type 5): an empty message flagged
/// LOADING (and EPHEMERAL if asked), which an edit of `@original` fills in. Dispatches
/// MESSAGE_CREATE.
pub fn create_loading_message(
    shared: &Shared,
    channel: &Channel,
    author: &User,
    application_id: u64,
    flags: u64,
) -> Value {
    let msg = message_json(&NewMessage {
        id: shared.ids.next(),
        channel_id: channel.id,
        author,
        content: String::new(),
        mentions: Vec::new(),
        embeds: json!([]),
        components: json!([]),
        attachments: Vec::new(),
        message_reference: None,
        referenced: None,
        nonce: None,
        tts: false,
        flags: LOADING | (flags & EPHEMERAL),
        webhook_id: Some(application_id),
        kind: 20,
    });
    lock(&shared.store).insert_message(channel.id, msg.clone());
    dispatch_message(
        shared,
        "MESSAGE_CREATE",
        channel,
        &msg,
        author.id,
        Vec::new(),
    );
    msg
}

fn same_id(a: &Value, b: &Value) -> bool {
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .or_else(|| v.as_u64().map(|n| n.to_string()))
    };
    s(a).is_some() && s(a) == s(b)
}

/// Edits a stored message and dispatches MESSAGE_UPDATE. `uploads` are the attachment
/// objects of newly uploaded files; a body `attachments` list names the existing ones kept.
/// An edit fills in a deferred (LOADING) message and clears that flag.
pub fn edit_message(
    shared: &Shared,
    channel: &Channel,
    id: u64,
    editor: u64,
    body: &Value,
    uploads: &[Value],
) -> Result<Value, ApiError> {
    let mut store = lock(&shared.store);
    let msg = store
        .messages
        .get_mut(&channel.id)
        .and_then(|m| m.get_mut(&id))
        .ok_or(ApiError::UNKNOWN_MESSAGE)?;
    if msg["author"]["id"] != json!(editor.to_string()) && msg["webhook_id"].is_null() {
        return Err(ApiError::Forbidden(
            50005,
            "Cannot edit a message authored by another user",
        ));
    }
    if let Some(c) = body.get("content").filter(|c| !c.is_null()) {
        let Some(s) = c.as_str() else {
            return Err(ApiError::field(
                "content",
                "BASE_TYPE_STRING",
                "Could not interpret value as string.",
            ));
        };
        if s.chars().count() > 2000 {
            return Err(ApiError::field(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            ));
        }
        msg["content"] = json!(s);
    }
    let was_loading = msg["flags"].as_u64().is_some_and(|f| f & LOADING != 0);
    for k in ["embeds", "components", "flags"] {
        if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
            msg[k] = v.clone();
        }
    }
    let mut kept: Vec<Value> = msg["attachments"].as_array().cloned().unwrap_or_default();
    if let Some(listed) = body["attachments"].as_array() {
        kept.retain(|a| listed.iter().any(|e| same_id(&e["id"], &a["id"])));
    }
    kept.extend(uploads.iter().cloned());
    msg["attachments"] = Value::Array(kept);
    if was_loading {
        let flags = msg["flags"].as_u64().unwrap_or(0) & !LOADING;
        msg["flags"] = json!(flags);
    } else {
        msg["edited_timestamp"] = json!(iso8601(now_ms()));
    }
    let msg = msg.clone();
    drop(store);
    let author = msg["author"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mentions = mentioned_ids(msg["content"].as_str().unwrap_or(""));
    dispatch_message(shared, "MESSAGE_UPDATE", channel, &msg, author, mentions);
    Ok(msg)
}

/// Deletes a stored message and dispatches MESSAGE_DELETE.
pub fn delete_message(shared: &Shared, channel: &Channel, id: u64) -> Result<(), ApiError> {
    let removed = lock(&shared.store)
        .messages
        .get_mut(&channel.id)
        .and_then(|m| m.remove(&id));
    removed.ok_or(ApiError::UNKNOWN_MESSAGE)?;
    let mut d = json!({"id": id.to_string(), "channel_id": channel.id.to_string()});
    if let Some(g) = channel.guild_id {
        d["guild_id"] = json!(g.to_string());
    }
    emit(shared, "MESSAGE_DELETE", channel, d);
    Ok(())
}
