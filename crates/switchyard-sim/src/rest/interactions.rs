//! REST handlers for application commands, interaction callbacks and webhook follow-ups
//! (the last two need no Authorization header, as on Discord).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::rest::error::{ApiError, Reply};
use crate::rest::form;
use crate::rest::guilds::find_channel;
use crate::rest::messages::{
    EPHEMERAL, LOADING, create_loading_message, create_message, delete_message, edit_message,
};
use crate::rest::store::Interaction;
use crate::rest::{Ctx, RouteKind};
use crate::state::{Bot, lock};

fn app_bot(ctx: &Ctx<'_>, app: u64) -> Option<Arc<Bot>> {
    lock(&ctx.shared.bots)
        .values()
        .find(|b| b.identity.application_id == app)
        .cloned()
}

fn overwrite_commands(ctx: &Ctx<'_>, app: u64, guild: Option<u64>) -> Result<Value, ApiError> {
    let body = ctx.json()?;
    let Some(list) = body.as_array() else {
        return Err(ApiError::field("", "BASE_TYPE_ARRAY", "Must be an array."));
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, cmd) in list.iter().enumerate() {
        let name = cmd["name"].as_str().unwrap_or("");
        if name.is_empty() || name.len() > 32 {
            return Err(ApiError::field(
                &format!("{i}.name"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 32 in length.",
            ));
        }
        let mut c = cmd.clone();
        c["id"] = json!(ctx.shared.ids.next().to_string());
        c["application_id"] = json!(app.to_string());
        c["version"] = json!(ctx.shared.ids.next().to_string());
        c["type"] = cmd.get("type").cloned().unwrap_or(json!(1));
        c["description"] = cmd.get("description").cloned().unwrap_or(json!(""));
        c["default_member_permissions"] = cmd
            .get("default_member_permissions")
            .cloned()
            .unwrap_or(Value::Null);
        c["nsfw"] = cmd.get("nsfw").cloned().unwrap_or(json!(false));
        if let Some(g) = guild {
            c["guild_id"] = json!(g.to_string());
        }
        out.push(c);
    }
    Ok(Value::Array(out))
}

/// The body of a callback with `?with_response=true`: the interaction callback response
/// object, `{interaction, resource?}`.
fn callback_response(
    ctx: &Ctx<'_>,
    interaction: &Interaction,
    kind: u64,
    message: Option<u64>,
) -> Value {
    let msg = message.and_then(|m| {
        lock(&ctx.shared.store)
            .message(interaction.channel_id, m)
            .cloned()
    });
    let mut callback = json!({
        "id": interaction.id.to_string(), "type": 2, "activity_instance_id": null,
    });
    let mut resource = json!({"type": kind});
    if let Some(m) = msg {
        let flags = m["flags"].as_u64().unwrap_or(0);
        callback["response_message_id"] = m["id"].clone();
        callback["response_message_loading"] = json!(flags & LOADING != 0);
        callback["response_message_ephemeral"] = json!(flags & EPHEMERAL != 0);
        resource["message"] = m;
    }
    json!({"interaction": callback, "resource": resource})
}

/// Handles the routes of this module.
pub fn handle(kind: RouteKind, ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let shared = ctx.shared;
    match kind {
        RouteKind::Commands | RouteKind::GuildCommands => {
            let bot = ctx.bot()?;
            let app = ctx.snowflake(0, "application_id")?;
            if app != bot.identity.application_id {
                return Err(ApiError::MISSING_ACCESS);
            }
            let guild = if kind == RouteKind::GuildCommands {
                let g = ctx.snowflake(1, "guild_id")?;
                shared.world.guild(g).ok_or(ApiError::UNKNOWN_GUILD)?;
                Some(g)
            } else {
                None
            };
            if ctx.req.method == axum::http::Method::PUT {
                let cmds = overwrite_commands(ctx, app, guild)?;
                let mut store = lock(&shared.store);
                match guild {
                    Some(g) => store.guild_commands.insert((app, g), cmds.clone()),
                    None => store.commands.insert(app, cmds.clone()),
                };
                return Ok(Reply::Json(cmds));
            }
            let store = lock(&shared.store);
            let cmds = match guild {
                Some(g) => store.guild_commands.get(&(app, g)),
                None => store.commands.get(&app),
            };
            Ok(Reply::Json(cmds.cloned().unwrap_or(json!([]))))
        }
        RouteKind::InteractionCallback => {
            let id = ctx.snowflake(0, "interaction_id")?;
            let token = ctx.args.get(1).copied().unwrap_or("");
            let body = ctx.json()?;
            let interaction = lock(&shared.store)
                .interactions
                .get(token)
                .filter(|i| i.id == id)
                .cloned();
            let Some(interaction) = interaction else {
                return Err(ApiError::UNKNOWN_INTERACTION);
            };
            if interaction.acknowledged {
                return Err(ApiError::ALREADY_ACKNOWLEDGED);
            }
            let kind = body["type"].as_u64().unwrap_or(0);
            if !matches!(kind, 1 | 4 | 5 | 6 | 7 | 8 | 9 | 12) {
                return Err(ApiError::field(
                    "type",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {1, 4, 5, 6, 7, 8, 9, 12}.",
                ));
            }
            let message = match kind {
                4 | 5 => {
                    let bot = app_bot(ctx, interaction.application_id)
                        .ok_or(ApiError::UNKNOWN_INTERACTION)?;
                    let channel = find_channel(ctx, interaction.channel_id)
                        .ok_or(ApiError::UNKNOWN_CHANNEL)?;
                    let data = body.get("data").cloned().unwrap_or(json!({}));
                    let m = if kind == 4 {
                        let uploads = match ctx.form {
                            Some(Ok(f)) => {
                                form::attachments(&shared.ids, channel.id, &data, &f.files)
                            }
                            _ => Vec::new(),
                        };
                        create_message(
                            shared,
                            &channel,
                            &bot.user(),
                            &data,
                            &uploads,
                            Some(interaction.application_id),
                            20,
                        )?
                    } else {
                        create_loading_message(
                            shared,
                            &channel,
                            &bot.user(),
                            interaction.application_id,
                            data["flags"].as_u64().unwrap_or(0),
                        )
                    };
                    m["id"].as_str().and_then(|s| s.parse::<u64>().ok())
                }
                _ => None,
            };
            {
                let mut store = lock(&shared.store);
                if let Some(i) = store.interactions.get_mut(token) {
                    i.acknowledged = true;
                    i.original = message;
                }
            }
            if ctx.query.get("with_response").is_some_and(|v| v == "true") {
                return Ok(Reply::Json(callback_response(
                    ctx,
                    &interaction,
                    kind,
                    message,
                )));
            }
            Ok(Reply::NoContent)
        }
        RouteKind::WebhookExecute | RouteKind::WebhookMessage => {
            let app = ctx.snowflake(0, "webhook_id")?;
            let token = ctx.args.get(1).copied().unwrap_or("");
            let interaction: Option<Interaction> = lock(&shared.store)
                .interactions
                .get(token)
                .filter(|i| i.application_id == app)
                .cloned();
            let interaction = interaction.ok_or(ApiError::UNKNOWN_WEBHOOK)?;
            let bot = app_bot(ctx, app).ok_or(ApiError::UNKNOWN_WEBHOOK)?;
            let channel =
                find_channel(ctx, interaction.channel_id).ok_or(ApiError::UNKNOWN_CHANNEL)?;
            if kind == RouteKind::WebhookExecute {
                // A follow-up is Execute Webhook with `wait` always true: the message comes
                // back whatever the query says.
                let (body, uploads) = ctx.message_body(channel.id)?;
                let m = create_message(
                    shared,
                    &channel,
                    &bot.user(),
                    &body,
                    &uploads,
                    Some(app),
                    20,
                )?;
                return Ok(Reply::Json(m));
            }
            let id = match ctx.args.get(2) {
                Some(&"@original") => interaction.original.ok_or(ApiError::UNKNOWN_MESSAGE)?,
                _ => ctx.snowflake(2, "message_id")?,
            };
            match ctx.req.method.as_str() {
                "GET" => lock(&shared.store)
                    .message(channel.id, id)
                    .cloned()
                    .map(Reply::Json)
                    .ok_or(ApiError::UNKNOWN_MESSAGE),
                "PATCH" => {
                    let (body, uploads) = ctx.message_body(channel.id)?;
                    edit_message(shared, &channel, id, bot.identity.user_id, &body, &uploads)
                        .map(Reply::Json)
                }
                _ => delete_message(shared, &channel, id).map(|()| Reply::NoContent),
            }
        }
        _ => Err(ApiError::NotFound),
    }
}
