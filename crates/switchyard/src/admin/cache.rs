//! The cache API: reads of each bot's shard caches on this node, as JSON. Every answer names
//! the shard and the last sequence its cache read (`{"shard", "seq", "data"}`); an unknown
//! object is a 404 with Discord's error body, a shard that is not ready or not here a 503.
//!
//! - `GET /v1/cache/{bot}/counts`
//! - `GET /v1/cache/{bot}/guilds/{guild}` (its own fields), `…/channels`, `…/roles`
//! - `GET /v1/cache/{bot}/guilds/{guild}/members/{user}`
//! - `GET /v1/cache/{bot}/guilds/{guild}/channels/{channel}/messages`

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use switchyard_gateway::{CacheMiss, CacheRead, CacheView};

use super::{AdminState, authorized};

pub(super) fn routes() -> axum::Router<AdminState> {
    axum::Router::new()
        .route("/v1/cache/{bot}/counts", get(counts))
        .route("/v1/cache/{bot}/guilds/{guild}", get(guild))
        .route("/v1/cache/{bot}/guilds/{guild}/channels", get(channels))
        .route("/v1/cache/{bot}/guilds/{guild}/roles", get(roles))
        .route("/v1/cache/{bot}/guilds/{guild}/members/{user}", get(member))
        .route(
            "/v1/cache/{bot}/guilds/{guild}/channels/{channel}/messages",
            get(messages),
        )
}

/// A request the API cannot answer: its status and Discord-shaped body.
struct Refused {
    status: StatusCode,
    message: String,
    code: u32,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = json!({"message": self.message, "code": self.code});
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<CacheMiss> for Refused {
    fn from(miss: CacheMiss) -> Self {
        let status = match miss {
            CacheMiss::Unknown(_) | CacheMiss::Off => StatusCode::NOT_FOUND,
            CacheMiss::NotHere { .. } | CacheMiss::NotReady { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        Refused {
            status,
            message: miss.to_string(),
            code: miss.discord_code().unwrap_or(0),
        }
    }
}

/// The view of `bot`, once the caller is authorized.
fn view<'a>(
    state: &'a AdminState,
    headers: &HeaderMap,
    bot: &str,
) -> Result<&'a CacheView, Refused> {
    if !authorized(state, headers) {
        return Err(Refused {
            status: StatusCode::UNAUTHORIZED,
            message: "401: Unauthorized".into(),
            code: 0,
        });
    }
    state.caches.iter().find(|v| v.bot() == bot).ok_or_else(|| {
        let known: Vec<&str> = state.caches.iter().map(CacheView::bot).collect();
        Refused {
            status: StatusCode::NOT_FOUND,
            message: format!("no bot {bot:?} runs here (bots: {})", known.join(", ")),
            code: 0,
        }
    })
}

/// A snowflake from the path, or a 400 naming it.
fn id(what: &str, value: &str) -> Result<u64, Refused> {
    value.parse().map_err(|_| Refused {
        status: StatusCode::BAD_REQUEST,
        message: format!("{what} {value:?} is not a snowflake"),
        code: 50035,
    })
}

async fn counts(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(bot): Path<String>,
) -> Response {
    match view(&state, &headers, &bot).and_then(|v| v.counts().map_err(Refused::from)) {
        Ok(counts) => axum::Json(counts).into_response(),
        Err(refused) => refused.into_response(),
    }
}

async fn guild(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((bot, guild)): Path<(String, String)>,
) -> Response {
    read(
        &state,
        &headers,
        &bot,
        |v| Ok(v.guild(id("guild", &guild)?)),
    )
}

async fn channels(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((bot, guild)): Path<(String, String)>,
) -> Response {
    read(&state, &headers, &bot, |v| {
        Ok(v.channels(id("guild", &guild)?))
    })
}

async fn roles(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((bot, guild)): Path<(String, String)>,
) -> Response {
    read(
        &state,
        &headers,
        &bot,
        |v| Ok(v.roles(id("guild", &guild)?)),
    )
}

async fn member(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((bot, guild, user)): Path<(String, String, String)>,
) -> Response {
    read(&state, &headers, &bot, |v| {
        Ok(v.member(id("guild", &guild)?, id("user", &user)?))
    })
}

async fn messages(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path((bot, guild, channel)): Path<(String, String, String)>,
) -> Response {
    read(&state, &headers, &bot, |v| {
        Ok(v.messages(id("guild", &guild)?, id("channel", &channel)?))
    })
}

/// Answers `f` on `bot`'s view.
fn read(
    state: &AdminState,
    headers: &HeaderMap,
    bot: &str,
    f: impl FnOnce(&CacheView) -> Result<Result<CacheRead, CacheMiss>, Refused>,
) -> Response {
    match view(state, headers, bot).and_then(f) {
        Ok(Ok(read)) => axum::Json(read).into_response(),
        Ok(Err(miss)) => Refused::from(miss).into_response(),
        Err(refused) => refused.into_response(),
    }
}
