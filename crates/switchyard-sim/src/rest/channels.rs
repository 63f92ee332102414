//! REST handlers of the channel routes: the channel, its messages (list, create, get, edit,
//! delete, bulk delete) and typing. Every change dispatches the gateway event Discord sends.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::ids::now_ms;
use crate::rest::error::{ApiError, Reply};
use crate::rest::messages::{self, emit};
use crate::rest::request::Ctx;
use crate::state::{Bot, lock};
use crate::world::Channel;

/// The channel of a `channels/{c}/...` route and the bot asking, as every channel route
/// starts: 50035 for an id that is no snowflake, 10003 for an unknown channel.
pub fn channel_and_bot(ctx: &Ctx<'_>) -> Result<(Channel, Arc<Bot>), ApiError> {
    let channel = ctx
        .find_channel(ctx.snowflake(0, "channel_id")?)
        .ok_or(ApiError::UNKNOWN_CHANNEL)?;
    let bot = ctx.bot()?.clone();
    Ok((channel, bot))
}

/// `GET channels/{c}`.
pub fn get_channel(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, _) = channel_and_bot(ctx)?;
    Ok(Reply::Json(channel.to_json()))
}

/// `GET channels/{c}/messages`: a page of at most `limit` (1 to 100, default 50) messages,
/// newest first, `after`, `around` or `before` an id.
pub fn list_messages(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, bot) = channel_and_bot(ctx)?;
    let limit: usize = ctx.query_num("limit").unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            "NUMBER_TYPE_MAX",
            "int value should be less than or equal to 100.",
        ));
    }
    let store = lock(&ctx.shared.store);
    let Some(all) = store.messages.get(&channel.id) else {
        return Ok(Reply::Json(json!([])));
    };
    let me = bot.identity.user_id;
    Ok(Reply::Json(Value::Array(
        page(ctx, all, limit)
            .into_iter()
            .filter_map(|id| store.message_with_reactions(channel.id, id, me))
            .collect(),
    )))
}

/// The ids of one page of a channel's messages, newest first.
fn page(ctx: &Ctx<'_>, all: &BTreeMap<u64, Value>, limit: usize) -> Vec<u64> {
    let q = |k: &str| ctx.query_num::<u64>(k);
    if let Some(after) = q("after") {
        let mut v: Vec<u64> = all
            .range(after.saturating_add(1)..)
            .map(|(k, _)| *k)
            .take(limit)
            .collect();
        v.reverse();
        v
    } else if let Some(around) = q("around") {
        let mut v: Vec<u64> = all
            .range(..=around)
            .rev()
            .take(limit.div_ceil(2))
            .map(|(k, _)| *k)
            .collect();
        v.reverse();
        v.extend(
            all.range(around.saturating_add(1)..)
                .map(|(k, _)| *k)
                .take(limit / 2),
        );
        v.reverse();
        v
    } else {
        let before = q("before").unwrap_or(u64::MAX);
        all.range(..before)
            .rev()
            .take(limit)
            .map(|(k, _)| *k)
            .collect()
    }
}

/// `POST channels/{c}/messages`.
pub fn create_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, bot) = channel_and_bot(ctx)?;
    let (body, uploads) = ctx.message_body(channel.id)?;
    messages::create_message(ctx.shared, &channel, &bot.user(), &body, &uploads, None, 0)
        .map(Reply::Json)
}

/// `GET channels/{c}/messages/{m}`.
pub fn get_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, bot) = channel_and_bot(ctx)?;
    lock(&ctx.shared.store)
        .message_with_reactions(
            channel.id,
            ctx.snowflake(1, "message_id")?,
            bot.identity.user_id,
        )
        .map(Reply::Json)
        .ok_or(ApiError::UNKNOWN_MESSAGE)
}

/// `PATCH channels/{c}/messages/{m}`.
pub fn edit_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, bot) = channel_and_bot(ctx)?;
    let (body, uploads) = ctx.message_body(channel.id)?;
    let id = ctx.snowflake(1, "message_id")?;
    messages::edit_message(
        ctx.shared,
        &channel,
        id,
        bot.identity.user_id,
        &body,
        &uploads,
    )
    .map(Reply::Json)
}

/// `DELETE channels/{c}/messages/{m}`.
pub fn delete_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, _) = channel_and_bot(ctx)?;
    messages::delete_message(ctx.shared, &channel, ctx.snowflake(1, "message_id")?)
        .map(|()| Reply::NoContent)
}

/// `POST channels/{c}/messages/bulk-delete`: 2 to 100 ids; dispatches MESSAGE_DELETE_BULK
/// with those that existed.
pub fn bulk_delete(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, _) = channel_and_bot(ctx)?;
    let body = ctx.json()?;
    let ids: Vec<u64> = body["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    if !(2..=100).contains(&ids.len()) {
        return Err(ApiError::field(
            "messages",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 2 and 100 in length.",
        ));
    }
    let mut store = lock(&ctx.shared.store);
    let list = store.messages.entry(channel.id).or_default();
    let removed: Vec<String> = ids
        .iter()
        .filter(|id| list.remove(id).is_some())
        .map(u64::to_string)
        .collect();
    drop(store);
    let mut d = json!({"ids": removed, "channel_id": channel.id.to_string()});
    if let Some(g) = channel.guild_id {
        d["guild_id"] = json!(g.to_string());
    }
    emit(ctx.shared, "MESSAGE_DELETE_BULK", &channel, d);
    Ok(Reply::NoContent)
}

/// `POST channels/{c}/typing`: dispatches TYPING_START.
pub fn typing(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, bot) = channel_and_bot(ctx)?;
    let me = bot.identity.user_id;
    let mut d = json!({"channel_id": channel.id.to_string(), "user_id": me.to_string(), "timestamp": now_ms() / 1000});
    if let Some(g) = channel.guild_id.and_then(|g| ctx.shared.world.guild(g)) {
        d["guild_id"] = json!(g.id.to_string());
        d["member"] = g.bot_member(&bot.identity).to_json(true);
    }
    emit(ctx.shared, "TYPING_START", &channel, d);
    Ok(Reply::NoContent)
}
