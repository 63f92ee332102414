//! REST handlers for reactions: add, remove (own, a user's, one emoji's, all), list; each
//! dispatches its MESSAGE_REACTION_* event.

use serde_json::{Value, json};

use crate::rest::error::{ApiError, Reply};
use crate::rest::guilds::find_user;
use crate::rest::messages::emit;
use crate::rest::store::emoji_json;
use crate::rest::{Ctx, RouteKind, percent_decode};
use crate::state::lock;
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

/// Handles the reaction routes on a message of `channel`, as bot `me`.
pub fn handle(
    kind: RouteKind,
    ctx: &Ctx<'_>,
    channel: &Channel,
    me: u64,
) -> Result<Reply, ApiError> {
    let shared = ctx.shared;
    let channel = channel.clone();
    let message_id = || ctx.snowflake(1, "message_id");
    let existing = |id: u64| lock(&shared.store).message(channel.id, id).is_some();
    match kind {
        RouteKind::AddReaction
        | RouteKind::RemoveReaction
        | RouteKind::ListReactions
        | RouteKind::RemoveEmojiReactions => {
            let msg = message_id()?;
            if !existing(msg) {
                return Err(ApiError::UNKNOWN_MESSAGE);
            }
            let emoji = percent_decode(ctx.args.get(2).copied().unwrap_or(""));
            if !valid_emoji(&emoji) {
                return Err(ApiError::UNKNOWN_EMOJI);
            }
            let mut store = lock(&shared.store);
            let reactions = store.reactions.entry(msg).or_default();
            match kind {
                RouteKind::AddReaction => {
                    let users = reactions.entry(emoji.clone()).or_default();
                    let added = !users.contains(&me);
                    if added {
                        users.push(me);
                    }
                    drop(store);
                    if added {
                        reaction_event(
                            ctx,
                            "MESSAGE_REACTION_ADD",
                            &channel,
                            msg,
                            Some(&emoji),
                            Some(me),
                        );
                    }
                    Ok(Reply::NoContent)
                }
                RouteKind::RemoveReaction => {
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
                        reaction_event(
                            ctx,
                            "MESSAGE_REACTION_REMOVE",
                            &channel,
                            msg,
                            Some(&emoji),
                            Some(user),
                        );
                    }
                    Ok(Reply::NoContent)
                }
                RouteKind::ListReactions => {
                    let limit: usize = ctx
                        .query
                        .get("limit")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(25)
                        .clamp(1, 100);
                    let after: u64 = ctx
                        .query
                        .get("after")
                        .and_then(|a| a.parse().ok())
                        .unwrap_or(0);
                    let mut users: Vec<u64> = reactions.get(&emoji).cloned().unwrap_or_default();
                    drop(store);
                    users.sort_unstable();
                    let list: Vec<Value> = users
                        .into_iter()
                        .filter(|u| *u > after)
                        .take(limit)
                        .filter_map(|u| find_user(ctx, u))
                        .map(|u| u.to_json())
                        .collect();
                    Ok(Reply::Json(Value::Array(list)))
                }
                _ => {
                    reactions.remove(&emoji);
                    drop(store);
                    reaction_event(
                        ctx,
                        "MESSAGE_REACTION_REMOVE_EMOJI",
                        &channel,
                        msg,
                        Some(&emoji),
                        None,
                    );
                    Ok(Reply::NoContent)
                }
            }
        }
        RouteKind::RemoveAllReactions => {
            let msg = message_id()?;
            if !existing(msg) {
                return Err(ApiError::UNKNOWN_MESSAGE);
            }
            lock(&shared.store).reactions.remove(&msg);
            reaction_event(
                ctx,
                "MESSAGE_REACTION_REMOVE_ALL",
                &channel,
                msg,
                None,
                None,
            );
            Ok(Reply::NoContent)
        }
        _ => Err(ApiError::NotFound),
    }
}
