//! REST handlers of application commands, interaction callbacks and webhook follow-ups
//! (the last two need no Authorization header, as on Discord).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::rest::error::{ApiError, Reply};
use crate::rest::messages::{
    EPHEMERAL, LOADING, create_loading_message, create_message, delete_message, edit_message,
};
use crate::rest::request::Ctx;
use crate::state::store::Interaction;
use crate::state::{Bot, lock};
use crate::world::Channel;

fn app_bot(ctx: &Ctx<'_>, app: u64) -> Option<Arc<Bot>> {
    lock(&ctx.shared.bots)
        .values()
        .find(|b| b.identity.application_id == app)
        .cloned()
}

/// The command objects of a body overwriting an application's commands (in `guild`, if any).
fn command_objects(ctx: &Ctx<'_>, app: u64, guild: Option<u64>) -> Result<Value, ApiError> {
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

/// The application of a commands route, checked to be the bot's own (50001 otherwise), and
/// for a guild route (`in_guild`) its guild, checked to exist (10004 otherwise).
fn command_scope(ctx: &Ctx<'_>, in_guild: bool) -> Result<(u64, Option<u64>), ApiError> {
    let bot = ctx.bot()?;
    let app = ctx.snowflake(0, "application_id")?;
    if app != bot.identity.application_id {
        return Err(ApiError::MISSING_ACCESS);
    }
    if !in_guild {
        return Ok((app, None));
    }
    let g = ctx.snowflake(1, "guild_id")?;
    ctx.shared.world.guild(g).ok_or(ApiError::UNKNOWN_GUILD)?;
    Ok((app, Some(g)))
}

fn list_commands(ctx: &Ctx<'_>, in_guild: bool) -> Result<Reply, ApiError> {
    let (app, guild) = command_scope(ctx, in_guild)?;
    let store = lock(&ctx.shared.store);
    let cmds = match guild {
        Some(g) => store.guild_commands.get(&(app, g)),
        None => store.commands.get(&app),
    };
    Ok(Reply::Json(cmds.cloned().unwrap_or(json!([]))))
}

fn overwrite_commands(ctx: &Ctx<'_>, in_guild: bool) -> Result<Reply, ApiError> {
    let (app, guild) = command_scope(ctx, in_guild)?;
    let cmds = command_objects(ctx, app, guild)?;
    let mut store = lock(&ctx.shared.store);
    match guild {
        Some(g) => store.guild_commands.insert((app, g), cmds.clone()),
        None => store.commands.insert(app, cmds.clone()),
    };
    Ok(Reply::Json(cmds))
}

/// `GET applications/{a}/commands`.
pub fn global_commands(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    list_commands(ctx, false)
}

/// `PUT applications/{a}/commands`.
pub fn overwrite_global_commands(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    overwrite_commands(ctx, false)
}

/// `GET applications/{a}/guilds/{g}/commands`.
pub fn guild_commands(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    list_commands(ctx, true)
}

/// `PUT applications/{a}/guilds/{g}/commands`.
pub fn overwrite_guild_commands(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    overwrite_commands(ctx, true)
}

/// `POST interactions/{i}/{t}/callback` (no token needed): acknowledges the interaction once;
/// types 4 and 5 create its response message (5 a deferred, LOADING one).
pub fn callback(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.snowflake(0, "interaction_id")?;
    let token = ctx.arg(1);
    let body = ctx.json()?;
    let interaction = lock(&ctx.shared.store)
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
        4 | 5 => response_message(ctx, &interaction, kind, &body)?,
        _ => None,
    };
    {
        let mut store = lock(&ctx.shared.store);
        if let Some(i) = store.interactions.get_mut(token) {
            i.acknowledged = true;
            i.original = message;
        }
    }
    if ctx.query_flag("with_response") {
        return Ok(Reply::Json(callback_response(
            ctx,
            &interaction,
            kind,
            message,
        )));
    }
    Ok(Reply::NoContent)
}

/// The response message a callback of type 4 (the message now) or 5 (deferred: a LOADING
/// message) creates; its id.
fn response_message(
    ctx: &Ctx<'_>,
    interaction: &Interaction,
    kind: u64,
    body: &Value,
) -> Result<Option<u64>, ApiError> {
    let shared = ctx.shared;
    let bot = app_bot(ctx, interaction.application_id).ok_or(ApiError::UNKNOWN_INTERACTION)?;
    let channel = ctx
        .find_channel(interaction.channel_id)
        .ok_or(ApiError::UNKNOWN_CHANNEL)?;
    let data = body.get("data").cloned().unwrap_or(json!({}));
    let m = if kind == 4 {
        let uploads = ctx.uploads(channel.id, &data);
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
    Ok(m["id"].as_str().and_then(|s| s.parse::<u64>().ok()))
}

/// What a webhook route's `{a}/{t}` name: the interaction of token `t` (for application `a`),
/// the bot of that application and the interaction's channel.
struct Webhook {
    interaction: Interaction,
    bot: Arc<Bot>,
    channel: Channel,
}

/// The webhook of a `webhooks/{a}/{t}/...` route: 10015 unless `t` is the token of an
/// interaction for application `a`.
fn webhook(ctx: &Ctx<'_>) -> Result<Webhook, ApiError> {
    let app = ctx.snowflake(0, "webhook_id")?;
    let token = ctx.arg(1);
    let interaction: Option<Interaction> = lock(&ctx.shared.store)
        .interactions
        .get(token)
        .filter(|i| i.application_id == app)
        .cloned();
    let interaction = interaction.ok_or(ApiError::UNKNOWN_WEBHOOK)?;
    let bot = app_bot(ctx, app).ok_or(ApiError::UNKNOWN_WEBHOOK)?;
    let channel = ctx
        .find_channel(interaction.channel_id)
        .ok_or(ApiError::UNKNOWN_CHANNEL)?;
    Ok(Webhook {
        interaction,
        bot,
        channel,
    })
}

/// The message `{m}` of a webhook message route names: `@original` (the interaction's
/// response; 10008 before there is one) or an id.
fn webhook_message(ctx: &Ctx<'_>, webhook: &Webhook) -> Result<u64, ApiError> {
    match ctx.args.get(2) {
        Some(&"@original") => webhook
            .interaction
            .original
            .ok_or(ApiError::UNKNOWN_MESSAGE),
        _ => ctx.snowflake(2, "message_id"),
    }
}

/// `POST webhooks/{a}/{t}` (no token needed): a follow-up message.
pub fn execute_webhook(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let w = webhook(ctx)?;
    // A follow-up is Execute Webhook with `wait` always true: the message comes back whatever
    // the query says.
    let (body, uploads) = ctx.message_body(w.channel.id)?;
    let m = create_message(
        ctx.shared,
        &w.channel,
        &w.bot.user(),
        &body,
        &uploads,
        Some(w.interaction.application_id),
        20,
    )?;
    Ok(Reply::Json(m))
}

/// `GET webhooks/{a}/{t}/messages/{m}` (no token needed).
pub fn get_webhook_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let w = webhook(ctx)?;
    let id = webhook_message(ctx, &w)?;
    lock(&ctx.shared.store)
        .message(w.channel.id, id)
        .cloned()
        .map(Reply::Json)
        .ok_or(ApiError::UNKNOWN_MESSAGE)
}

/// `PATCH webhooks/{a}/{t}/messages/{m}` (no token needed).
pub fn edit_webhook_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let w = webhook(ctx)?;
    let id = webhook_message(ctx, &w)?;
    let (body, uploads) = ctx.message_body(w.channel.id)?;
    let editor = w.bot.identity.user_id;
    edit_message(ctx.shared, &w.channel, id, editor, &body, &uploads).map(Reply::Json)
}

/// `DELETE webhooks/{a}/{t}/messages/{m}` (no token needed).
pub fn delete_webhook_message(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let w = webhook(ctx)?;
    let id = webhook_message(ctx, &w)?;
    delete_message(ctx.shared, &w.channel, id).map(|()| Reply::NoContent)
}
