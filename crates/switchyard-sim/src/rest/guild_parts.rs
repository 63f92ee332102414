//! REST reads of a guild's parts besides its channels and members: roles, emojis and
//! stickers (the generated world has none), active threads, and the member search.

use serde_json::{Value, json};

use crate::rest::error::{ApiError, Reply};
use crate::rest::guilds::guild;
use crate::rest::request::Ctx;
use crate::world::Role;

/// `GET guilds/{g}/roles`.
pub fn roles(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let g = guild(ctx)?;
    Ok(Reply::Json(Value::Array(
        g.roles.iter().map(Role::to_json).collect(),
    )))
}

/// `GET guilds/{g}/roles/{r}`: 10011 for a role the guild does not have.
pub fn role(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let g = guild(ctx)?;
    let id = ctx.snowflake(1, "role_id")?;
    g.roles
        .iter()
        .find(|r| r.id == id)
        .map(|r| Reply::Json(r.to_json()))
        .ok_or(ApiError::UNKNOWN_ROLE)
}

/// A list the generated world keeps empty (`GET guilds/{g}/emojis`, `…/stickers`), for a
/// guild that exists.
pub fn none(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    guild(ctx)?;
    Ok(Reply::Json(json!([])))
}

/// `GET guilds/{g}/threads/active`: the guild's threads, and none of them joined.
pub fn active_threads(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let g = guild(ctx)?;
    let threads: Vec<Value> = g
        .channels
        .iter()
        .filter(|c| matches!(c.kind, 10..=12))
        .map(|c| c.to_json())
        .collect();
    Ok(Reply::Json(json!({"threads": threads, "members": []})))
}

/// `GET guilds/{g}/members/search`: at most `limit` (1 to 1000, default 1) members whose
/// username or nickname starts with `query` (any case), the bot included; `query` is
/// required.
pub fn search_members(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let g = guild(ctx)?;
    let Some(query) = ctx.query.get("query") else {
        return Err(ApiError::field(
            "query",
            "BASE_TYPE_REQUIRED",
            "This field is required",
        ));
    };
    let query = query.to_lowercase();
    let limit: usize = ctx.query_num("limit").unwrap_or(1).clamp(1, 1000);
    let bot = ctx.bot()?;
    let starts = |name: Option<&str>| name.is_some_and(|n| n.to_lowercase().starts_with(&query));
    let found: Vec<Value> = std::iter::once(g.bot_member(&bot.identity))
        .chain(g.members.iter().cloned())
        .filter(|m| starts(Some(&m.user.username)) || starts(m.nick.as_deref()))
        .take(limit)
        .map(|m| m.to_json(true))
        .collect();
    Ok(Reply::Json(Value::Array(found)))
}
