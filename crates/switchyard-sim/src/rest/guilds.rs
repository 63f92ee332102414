//! REST handlers of the gateway info, the current user and application, users, DMs, and the
//! guilds with their channels and members.

use std::time::Duration;

use serde_json::{Value, json};

use crate::rest::error::{ApiError, Reply};
use crate::rest::request::Ctx;
use crate::state::lock;
use crate::world::{Channel, Guild};

/// `GET gateway` (no token needed).
pub fn gateway(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::Json(json!({"url": ctx.shared.ws_url})))
}

/// `GET gateway/bot`: the URL, the recommended shards and the session start limit.
pub fn gateway_bot(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let shared = ctx.shared;
    let bot = ctx.bot()?;
    let period = Duration::from_millis(shared.config.session_start_reset_ms);
    let (remaining, reset_after) = bot.session_starts(shared.config.session_start_total, period);
    Ok(Reply::Json(json!({
        "url": shared.ws_url,
        "shards": shared.config.shards,
        "session_start_limit": {
            "total": shared.config.session_start_total,
            "remaining": remaining,
            "reset_after": reset_after,
            "max_concurrency": shared.config.max_concurrency,
        },
    })))
}

/// `GET users/@me`.
pub fn me(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let bot = ctx.bot()?;
    let mut u = bot.user().to_json();
    u["verified"] = json!(true);
    u["mfa_enabled"] = json!(false);
    u["email"] = Value::Null;
    u["locale"] = json!("en-US");
    u["bio"] = json!("");
    Ok(Reply::Json(u))
}

/// `GET applications/@me` (and `oauth2/applications/@me`).
pub fn application(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let bot = ctx.bot()?;
    let id = bot.identity.application_id.to_string();
    Ok(Reply::Json(json!({
        "id": id, "name": bot.identity.username, "icon": null, "description": "",
        "summary": "", "type": null, "hook": true, "bot_public": true,
        "bot_require_code_grant": false, "verify_key": format!("{:064x}", bot.identity.user_id),
        "flags": 565_248, "bot": bot.user().to_json(),
        "owner": {"id": "80351110224678912", "username": "owner", "discriminator": "0", "global_name": "Owner", "avatar": null, "public_flags": 0, "flags": 0},
        "team": null, "approximate_guild_count": ctx.shared.world.guilds.len(),
        "approximate_user_install_count": 0, "approximate_user_authorization_count": 0,
        "redirect_uris": [], "interactions_endpoint_url": null, "tags": [],
        // an application without install settings has no `install_params` (discord.js
        // reads its scopes whenever the key is there)
        "integration_types_config": {"0": {}},
    })))
}

/// `GET users/@me/guilds`: partial guilds in id order, at most `limit` (1 to 200, default
/// 200) of them: the first ones `after` an id, or the last ones `before` an id; with the
/// approximate counts if `with_counts=true`.
pub fn my_guilds(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let limit: usize = ctx.query_num("limit").unwrap_or(200).clamp(1, 200);
    let after: u64 = ctx.query_num("after").unwrap_or(0);
    let before: Option<u64> = ctx.query_num("before");
    let counts = ctx.query_flag("with_counts");
    let mut guilds: Vec<_> = ctx
        .shared
        .world
        .guilds
        .iter()
        .filter(|g| g.id > after && before.is_none_or(|b| g.id < b))
        .collect();
    guilds.sort_by_key(|g| g.id);
    let skip = match (before, ctx.query.contains_key("after")) {
        (Some(_), false) => guilds.len().saturating_sub(limit),
        _ => 0,
    };
    Ok(Reply::Json(Value::Array(
        guilds
            .into_iter()
            .skip(skip)
            .take(limit)
            .map(|g| {
                let mut v = json!({"id": g.id.to_string(), "name": g.name, "icon": null, "banner": null, "owner": false, "permissions": "2248473465835073", "features": ["COMMUNITY"]});
                if counts {
                    approximate_counts(g, &mut v);
                }
                v
            })
            .collect(),
    )))
}

/// `GET users/{u}`: a world member or a bot.
pub fn get_user(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = if ctx.args.first() == Some(&"@me") {
        ctx.bot()?.identity.user_id
    } else {
        ctx.snowflake(0, "user_id")?
    };
    ctx.find_user(id)
        .map(|u| Reply::Json(u.to_json()))
        .ok_or(ApiError::UNKNOWN_USER)
}

/// `POST users/@me/channels`: the bot's DM channel with `recipient_id`, opened once.
pub fn create_dm(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let shared = ctx.shared;
    let bot = ctx.bot()?;
    let body = ctx.json()?;
    let recipient = body["recipient_id"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .or_else(|| body["recipient_id"].as_u64())
        .ok_or_else(|| {
            ApiError::field(
                "recipient_id",
                "BASE_TYPE_REQUIRED",
                "This field is required",
            )
        })?;
    let user = ctx.find_user(recipient).ok_or(ApiError::UNKNOWN_USER)?;
    let mut store = lock(&shared.store);
    let key = (bot.identity.user_id, recipient);
    let id = match store.dms.get(&key) {
        Some(id) => *id,
        None => {
            let id = shared.ids.next();
            store.dms.insert(key, id);
            store.dm_channels.insert(
                id,
                Channel {
                    id,
                    guild_id: None,
                    kind: 1,
                    name: String::new(),
                    position: 0,
                    recipient: Some(user),
                },
            );
            id
        }
    };
    store
        .dm_channels
        .get(&id)
        .map(|c| Reply::Json(c.to_json()))
        .ok_or(ApiError::UNKNOWN_CHANNEL)
}

/// The guild of a `guilds/{g}/...` route: 50035 for an id that is no snowflake, 10004 for
/// an unknown guild.
pub(super) fn guild<'a>(ctx: &Ctx<'a>) -> Result<&'a Guild, ApiError> {
    ctx.shared
        .world
        .guild(ctx.snowflake(0, "guild_id")?)
        .ok_or(ApiError::UNKNOWN_GUILD)
}

/// `GET guilds/{g}`, with the approximate counts if `with_counts=true`.
pub fn get_guild(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let g = guild(ctx)?;
    let mut v = g.to_json();
    if ctx.query_flag("with_counts") {
        approximate_counts(g, &mut v);
    }
    Ok(Reply::Json(v))
}

/// `with_counts`: the members with the bot, and about half of them online.
fn approximate_counts(g: &Guild, v: &mut Value) {
    v["approximate_member_count"] = json!(g.members.len() + 1);
    v["approximate_presence_count"] = json!(g.members.len() / 2);
}

/// `GET guilds/{g}/channels`.
pub fn guild_channels(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let g = guild(ctx)?;
    Ok(Reply::Json(Value::Array(
        g.channels.iter().map(Channel::to_json).collect(),
    )))
}

/// `GET guilds/{g}/members`: at most `limit` (1 to 1000, default 1) members, the bot
/// included, by user id `after` an id.
pub fn guild_members(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let g = guild(ctx)?;
    let limit: usize = ctx.query_num("limit").unwrap_or(1).clamp(1, 1000);
    let after: u64 = ctx.query_num("after").unwrap_or(0);
    let bot = ctx.bot()?;
    let mut members: Vec<_> = std::iter::once(g.bot_member(&bot.identity))
        .chain(g.members.iter().cloned())
        .collect();
    members.sort_by_key(|m| m.user.id);
    Ok(Reply::Json(Value::Array(
        members
            .iter()
            .filter(|m| m.user.id > after)
            .take(limit)
            .map(|m| m.to_json(true))
            .collect(),
    )))
}

/// `GET guilds/{g}/members/{u}`: a member, or the bot's own.
pub fn guild_member(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let g = guild(ctx)?;
    let uid = ctx.snowflake(1, "user_id")?;
    let bot = ctx.bot()?;
    if uid == bot.identity.user_id {
        return Ok(Reply::Json(g.bot_member(&bot.identity).to_json(true)));
    }
    g.member(uid)
        .map(|m| Reply::Json(m.to_json(true)))
        .ok_or(ApiError::UNKNOWN_MEMBER)
}
