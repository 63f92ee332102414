//! REST handlers of the reaction routes: add, remove (own, a user's, one emoji's, all), list;
//! each change dispatches its MESSAGE_REACTION_* event.

use serde_json::{Value, json};

use crate::rest::channels::channel_and_bot;
use crate::rest::error::{ApiError, Reply};
use crate::rest::messages::emit;
use crate::rest::request::{Ctx, percent_decode};
use crate::state::lock;
use crate::state::store::emoji_json;
use crate::world::Channel;

fn valid_emoji(e: &str) -> bool {
    match e.split_once(':') {
        Some((name, id)) => !name.is_empty() && id.parse::<u64>().is_ok(),
        None => !e.is_empty() && e.len() <= 32 && !e.is_ascii(),
    }
}

fn reaction_event(
    ctx: &Ctx<'_>,
    name: &str,
    channel: &Channel,
    msg: u64,
    emoji: Option<&str>,
    user: Option<u64>,
) {
    let mut d = json!({"channel_id": channel.id.to_string(), "message_id": msg.to_string()});
    if let Some(g) = channel.guild_id {
        d["guild_id"] = json!(g.to_string());
    }
    if let Some(e) = emoji {
        d["emoji"] = emoji_json(e);
    }
    if let Some(u) = user {
        d["user_id"] = json!(u.to_string());
        d["burst"] = json!(false);
        d["type"] = json!(0);
        if name == "MESSAGE_REACTION_ADD" {
            if let (Some(g), Some(bot)) = (
                channel.guild_id.and_then(|g| ctx.shared.world.guild(g)),
                &ctx.bot,
            ) {
                d["member"] = g.bot_member(&bot.identity).to_json(true);
            }
            let author = lock(&ctx.shared.store)
                .message(channel.id, msg)
                .map(|m| m["author"]["id"].clone());
            d["message_author_id"] = author.unwrap_or(Value::Null);
        }
    }
    emit(ctx.shared, name, channel, d);
}

/// The message of a reaction route in `channel`, checked to exist (10008 otherwise).
fn message(ctx: &Ctx<'_>, channel: &Channel) -> Result<u64, ApiError> {
    let msg = ctx.snowflake(1, "message_id")?;
    if lock(&ctx.shared.store).message(channel.id, msg).is_none() {
        return Err(ApiError::UNKNOWN_MESSAGE);
    }
    Ok(msg)
}

/// The channel, message and emoji of a route on one emoji's reactions: 10008 for an unknown
/// message, 10014 for an emoji that is neither unicode nor `name:id`.
fn target(ctx: &Ctx<'_>) -> Result<(Channel, u64, String), ApiError> {
    let (channel, _) = channel_and_bot(ctx)?;
    let msg = message(ctx, &channel)?;
    let emoji = percent_decode(ctx.arg(2));
    if !valid_emoji(&emoji) {
        return Err(ApiError::UNKNOWN_EMOJI);
    }
    Ok((channel, msg, emoji))
}

/// `PUT channels/{c}/messages/{m}/reactions/{e}/@me`.
pub fn add(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, msg, emoji) = target(ctx)?;
    let me = ctx.bot()?.identity.user_id;
    let mut store = lock(&ctx.shared.store);
    let users = store
        .reactions
        .entry(msg)
        .or_default()
        .entry(emoji.clone())
        .or_default();
    let added = !users.contains(&me);
    if added {
        users.push(me);
    }
    drop(store);
    if added {
        let name = "MESSAGE_REACTION_ADD";
        reaction_event(ctx, name, &channel, msg, Some(&emoji), Some(me));
    }
    Ok(Reply::NoContent)
}

/// `DELETE channels/{c}/messages/{m}/reactions/{e}/{u}`, `{u}` a user id or `@me`.
pub fn remove(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, msg, emoji) = target(ctx)?;
    let me = ctx.bot()?.identity.user_id;
    let mut store = lock(&ctx.shared.store);
    let reactions = store.reactions.entry(msg).or_default();
    let user = match ctx.args.get(3) {
        Some(&"@me") => me,
        _ => ctx.snowflake(3, "user_id")?,
    };
    let removed = reactions.get_mut(&emoji).is_some_and(|u| {
        let before = u.len();
        u.retain(|x| *x != user);
        before != u.len()
    });
    reactions.retain(|_, u| !u.is_empty());
    drop(store);
    if removed {
        let name = "MESSAGE_REACTION_REMOVE";
        reaction_event(ctx, name, &channel, msg, Some(&emoji), Some(user));
    }
    Ok(Reply::NoContent)
}

/// `GET channels/{c}/messages/{m}/reactions/{e}`: the users who reacted, by id, at most
/// `limit` (1 to 100, default 25) `after` an id.
pub fn list(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (_, msg, emoji) = target(ctx)?;
    let mut store = lock(&ctx.shared.store);
    let reactions = store.reactions.entry(msg).or_default();
    let limit: usize = ctx.query_num("limit").unwrap_or(25).clamp(1, 100);
    let after: u64 = ctx.query_num("after").unwrap_or(0);
    let mut users: Vec<u64> = reactions.get(&emoji).cloned().unwrap_or_default();
    drop(store);
    users.sort_unstable();
    let list: Vec<Value> = users
        .into_iter()
        .filter(|u| *u > after)
        .take(limit)
        .filter_map(|u| ctx.find_user(u))
        .map(|u| u.to_json())
        .collect();
    Ok(Reply::Json(Value::Array(list)))
}

/// `DELETE channels/{c}/messages/{m}/reactions/{e}`: every user's reaction with one emoji.
pub fn remove_emoji(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, msg, emoji) = target(ctx)?;
    lock(&ctx.shared.store)
        .reactions
        .entry(msg)
        .or_default()
        .remove(&emoji);
    let name = "MESSAGE_REACTION_REMOVE_EMOJI";
    reaction_event(ctx, name, &channel, msg, Some(&emoji), None);
    Ok(Reply::NoContent)
}

/// `DELETE channels/{c}/messages/{m}/reactions`: every reaction on the message.
pub fn remove_all(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let (channel, _) = channel_and_bot(ctx)?;
    let msg = message(ctx, &channel)?;
    lock(&ctx.shared.store).reactions.remove(&msg);
    let name = "MESSAGE_REACTION_REMOVE_ALL";
    reaction_event(ctx, name, &channel, msg, None, None);
    Ok(Reply::NoContent)
}
