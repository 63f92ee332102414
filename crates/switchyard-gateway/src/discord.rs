//! What the gateway asks Discord's REST API before it starts: `GET /gateway/bot` (the URL,
//! the recommended shard count, the identify limits) and `GET /users/@me` (the bot's own id),
//! through the rate-limited client, with errors that say what went wrong.

use std::time::Duration;

use switchyard_rest::{HttpRequest, RestClient};

use crate::error::{DiscordError, GatewayError};
use crate::queue::SessionStartLimit;

/// What `GET /gateway/bot` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayBot {
    /// The gateway URL.
    pub url: String,
    /// The recommended shard count.
    pub shards: u32,
    /// The identify limits.
    pub limit: SessionStartLimit,
}

/// `GET path` on Discord with the bot's token, its answer as JSON; the error says what went
/// wrong (the status and the start of the body, with a hint for a rejected token).
async fn get_json(
    rest: &RestClient,
    token: &str,
    path: &str,
) -> Result<serde_json::Value, DiscordError> {
    let res = rest
        .send(HttpRequest::new(http::Method::GET, path, Some(token)))
        .await?;
    let status = res.status;
    let body = res.bytes().await?;
    if !status.is_success() {
        let hint = if status.as_u16() == 401 {
            " (the token was rejected: set a valid DISCORD_TOKEN or gateway.token)"
        } else {
            ""
        };
        return Err(DiscordError::Status {
            status: status.as_u16(),
            hint,
            body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        });
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Asks Discord (through the rate-limited client) for the gateway URL, shard count and
/// session start limit.
pub(crate) async fn gateway_bot(
    rest: &RestClient,
    token: &str,
) -> Result<GatewayBot, GatewayError> {
    let failed = |source| GatewayError::Discord {
        call: "GET /gateway/bot",
        source,
    };
    let v = get_json(rest, token, "/gateway/bot")
        .await
        .map_err(failed)?;
    let num = |v: &serde_json::Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let url = v["url"]
        .as_str()
        .ok_or_else(|| failed(DiscordError::Missing("url")))?
        .to_owned();
    let ssl = &v["session_start_limit"];
    let default = SessionStartLimit::default();
    Ok(GatewayBot {
        url,
        shards: num(&v["shards"]).unwrap_or(1).max(1),
        limit: SessionStartLimit {
            total: num(&ssl["total"]).unwrap_or(default.total),
            remaining: num(&ssl["remaining"]).unwrap_or(default.remaining),
            reset_after: ssl["reset_after"]
                .as_u64()
                .map_or(default.reset_after, Duration::from_millis),
            max_concurrency: num(&ssl["max_concurrency"]).unwrap_or(1).max(1),
        },
    })
}

/// Asks Discord for the bot's own user id (`GET /users/@me`).
pub(crate) async fn own_user_id(rest: &RestClient, token: &str) -> Result<u64, DiscordError> {
    let v = get_json(rest, token, "/users/@me").await?;
    v["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or(DiscordError::Missing("id"))
}
