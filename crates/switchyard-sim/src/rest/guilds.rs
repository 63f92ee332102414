//! REST handlers for the gateway info, the current user and application, users, DMs,
//! guilds, their channels and their members.

use std::time::Duration;

use serde_json::{Value, json};

use crate::rest::error::{ApiError, Reply};
use crate::rest::{Ctx, RouteKind};
use crate::state::lock;
use crate::world::{Channel, User};

/// A channel of the world or a DM channel created at run time.
pub fn find_channel(ctx: &Ctx<'_>, id: u64) -> Option<Channel> {
    ctx.shared
        .world
        .channel(id)
        .cloned()
        .or_else(|| lock(&ctx.shared.store).dm_channels.get(&id).cloned())
}

/// A user: a world member or a bot known to the sim.
pub fn find_user(ctx: &Ctx<'_>, id: u64) -> Option<User> {
    if let Some(u) = ctx.shared.world.user(id) {
        return Some(u.clone());
    }
    lock(&ctx.shared.bots)
        .values()
        .find(|b| b.identity.user_id == id)
        .map(|b| b.user())
}

/// Handles the routes of this module.
pub fn handle(kind: RouteKind, ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let shared = ctx.shared;
    match kind {
        RouteKind::Gateway => Ok(Reply::Json(json!({"url": shared.ws_url}))),
        RouteKind::GatewayBot => {
            let bot = ctx.bot()?;
            let period = Duration::from_millis(shared.config.session_start_reset_ms);
            let (remaining, reset_after) =
                bot.session_starts(shared.config.session_start_total, period);
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
        RouteKind::Me => {
            let bot = ctx.bot()?;
            let mut u = bot.user().to_json();
            u["verified"] = json!(true);
            u["mfa_enabled"] = json!(false);
            u["email"] = Value::Null;
            u["locale"] = json!("en-US");
            u["bio"] = json!("");
            Ok(Reply::Json(u))
        }
        RouteKind::Application => {
            let bot = ctx.bot()?;
            let id = bot.identity.application_id.to_string();
            Ok(Reply::Json(json!({
                "id": id, "name": bot.identity.username, "icon": null, "description": "",
                "summary": "", "type": null, "hook": true, "bot_public": true,
                "bot_require_code_grant": false, "verify_key": format!("{:064x}", bot.identity.user_id),
                "flags": 565_248, "bot": bot.user().to_json(),
                "owner": {"id": "80351110224678912", "username": "owner", "discriminator": "0", "global_name": "Owner", "avatar": null, "public_flags": 0, "flags": 0},
                "team": null, "approximate_guild_count": shared.world.guilds.len(),
                "redirect_uris": [], "interactions_endpoint_url": null, "tags": [],
                "install_params": null, "integration_types_config": {"0": {}},
            })))
        }
        RouteKind::MyGuilds => {
            let limit: usize = ctx
                .query
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(200)
                .clamp(1, 200);
            let after: u64 = ctx
                .query
                .get("after")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            let mut guilds: Vec<_> = shared
                .world
                .guilds
                .iter()
                .filter(|g| g.id > after)
                .collect();
            guilds.sort_by_key(|g| g.id);
            Ok(Reply::Json(Value::Array(
                guilds
                    .into_iter()
                    .take(limit)
                    .map(|g| json!({"id": g.id.to_string(), "name": g.name, "icon": null, "banner": null, "owner": false, "permissions": "2248473465835073", "features": ["COMMUNITY"]}))
                    .collect(),
            )))
        }
        RouteKind::GetUser => {
            let id = if ctx.args.first() == Some(&"@me") {
                ctx.bot()?.identity.user_id
            } else {
                ctx.snowflake(0, "user_id")?
            };
            find_user(ctx, id)
                .map(|u| Reply::Json(u.to_json()))
                .ok_or(ApiError::UNKNOWN_USER)
        }
        RouteKind::CreateDm => {
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
            let user = find_user(ctx, recipient).ok_or(ApiError::UNKNOWN_USER)?;
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
        RouteKind::GetGuild => {
            let g = shared
                .world
                .guild(ctx.snowflake(0, "guild_id")?)
                .ok_or(ApiError::UNKNOWN_GUILD)?;
            let mut v = g.to_json();
            if ctx.query.get("with_counts").is_some_and(|w| w == "true") {
                v["approximate_member_count"] = json!(g.members.len() + 1);
                v["approximate_presence_count"] = json!(g.members.len() / 2);
            }
            Ok(Reply::Json(v))
        }
        RouteKind::GuildChannels => {
            let g = shared
                .world
                .guild(ctx.snowflake(0, "guild_id")?)
                .ok_or(ApiError::UNKNOWN_GUILD)?;
            Ok(Reply::Json(Value::Array(
                g.channels.iter().map(Channel::to_json).collect(),
            )))
        }
        RouteKind::GuildMembers => {
            let g = shared
                .world
                .guild(ctx.snowflake(0, "guild_id")?)
                .ok_or(ApiError::UNKNOWN_GUILD)?;
            let limit: usize = ctx
                .query
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(1)
                .clamp(1, 1000);
            let after: u64 = ctx
                .query
                .get("after")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
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
        RouteKind::GuildMember => {
            let g = shared
                .world
                .guild(ctx.snowflake(0, "guild_id")?)
                .ok_or(ApiError::UNKNOWN_GUILD)?;
            let uid = ctx.snowflake(1, "user_id")?;
            let bot = ctx.bot()?;
            if uid == bot.identity.user_id {
                return Ok(Reply::Json(g.bot_member(&bot.identity).to_json(true)));
            }
            g.member(uid)
                .map(|m| Reply::Json(m.to_json(true)))
                .ok_or(ApiError::UNKNOWN_MEMBER)
        }
        _ => Err(ApiError::NotFound),
    }
}
