//! The routes the face answers itself, as the bot: `/gateway`, `/gateway/bot`, `/users/@me`
//! and the current application. Nothing here reaches Discord.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{Auth, RestState, auth, face_error, json, json_text, served, unauthorized};
use crate::source::{BotIdentity, SourceError};

/// `GET /gateway`: where the face's WebSocket is (no token needed, as with Discord).
pub(super) async fn gateway(State(state): State<RestState>) -> Response {
    served("gateway");
    json(StatusCode::OK, &json!({"url": state.options.public_url}))
}

/// `GET /gateway/bot`: the URL, the upstream shard count as the recommended one, and the
/// face's own session start limit (the face never identifies upstream for a client).
pub(super) async fn gateway_bot(State(state): State<RestState>, headers: HeaderMap) -> Response {
    let identity = match authed_identity(&state, &headers).await {
        Ok(identity) => identity,
        Err(refusal) => return refusal,
    };
    served("gateway_bot");
    let limit = state.session_starts.limit();
    json(
        StatusCode::OK,
        &json!({
            "url": state.options.public_url,
            "shards": identity.shards.max(1),
            "session_start_limit": {
                "total": limit.total,
                "remaining": limit.remaining,
                "reset_after": u64::try_from(limit.reset_after.as_millis()).unwrap_or(u64::MAX),
                "max_concurrency": state.options.max_concurrency,
            },
        }),
    )
}

/// `GET /users/@me`: the bot's user, as READY gave it.
pub(super) async fn current_user(State(state): State<RestState>, headers: HeaderMap) -> Response {
    match authed_identity(&state, &headers).await {
        Ok(identity) => {
            served("users_me");
            json_text(StatusCode::OK, identity.user.get().to_owned())
        }
        Err(refusal) => refusal,
    }
}

/// `GET /oauth2/applications/@me` and `GET /applications/@me`: the bot's application.
pub(super) async fn application(State(state): State<RestState>, headers: HeaderMap) -> Response {
    match authed_identity(&state, &headers).await {
        Ok(identity) => {
            served("application");
            let guilds = state.source.guilds().await.map_or(0, |g| g.len());
            json(StatusCode::OK, &application_object(&identity, guilds))
        }
        Err(refusal) => refusal,
    }
}

/// The bot's identity for a client with a face token, or the answer refusing it.
async fn authed_identity(state: &RestState, headers: &HeaderMap) -> Result<BotIdentity, Response> {
    if !matches!(auth(headers, &state.options), Auth::Face) {
        return Err(unauthorized());
    }
    state.source.identity().await.map_err(|e| match e {
        SourceError::NotReady => face_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "the bot is not ready yet: none of its shards has received READY; retry shortly",
        ),
        other => face_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "source-unavailable",
            &format!("the bot's state cannot be read: {other}"),
        ),
    })
}

/// An application object as Discord documents it, built from READY's `application` (at least
/// `id` and `flags`) and the bot's user. What the face cannot know gets the value of a new
/// application: public, no code grant, no team, an empty description, a placeholder
/// `verify_key` (only HTTP interaction endpoints use it, and the face has none), and the bot
/// itself as `owner`, which libraries such as discord.py require (no person is then taken
/// for the owner: owner-only commands answer nobody). The approximate counts are the bot's
/// `guilds` and no user installs (hikari reads them). Any field the source's `application`
/// carries (a source may give the whole object) is kept as it is.
fn application_object(identity: &BotIdentity, guilds: usize) -> Value {
    let user: Value = serde_json::from_str(identity.user.get()).unwrap_or(Value::Null);
    let given: Map<String, Value> =
        serde_json::from_str(identity.application.get()).unwrap_or_default();
    let mut app = json!({
        "id": identity.user_id.to_string(),
        "name": user.get("username").cloned().unwrap_or(Value::Null),
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "hook": true,
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "flags": 0,
        "bot": user,
        "owner": user,
        "team": null,
        "rpc_origins": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "tags": [],
        "integration_types_config": {"0": {}},
        "approximate_guild_count": guilds,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
    });
    if let Value::Object(app) = &mut app {
        app.extend(given);
    }
    app
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn raw(v: &Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).expect("json")
    }

    #[test]
    fn the_application_is_the_bot_with_readys_fields_kept() {
        let user = json!({"id": "42", "username": "switchbot", "discriminator": "0", "bot": true});
        let identity = BotIdentity {
            user: raw(&user),
            user_id: 42,
            application: raw(&json!({"id": "43", "flags": 8_675_309})),
            intents: 0,
            shards: 2,
        };
        let app = application_object(&identity, 3);
        assert_eq!(app["id"], "43");
        assert_eq!(app["flags"], 8_675_309);
        assert_eq!(app["name"], "switchbot");
        assert_eq!(app["bot"], user);
        assert_eq!(app["owner"]["id"], "42");
        assert_eq!(app["team"], Value::Null);
        assert_eq!(app["description"], "");
        assert_eq!(app["approximate_guild_count"], 3);
        assert_eq!(app["approximate_user_install_count"], 0);
        assert_eq!(app["verify_key"].as_str().map(str::len), Some(64));
        assert_eq!(
            (&app["bot_public"], &app["bot_require_code_grant"]),
            (&json!(true), &json!(false))
        );
    }
}
