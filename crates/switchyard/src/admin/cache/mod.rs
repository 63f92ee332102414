//! The cache API: reads of each bot's shard caches, as JSON, one route per
//! [`CacheQuery`]. Every answer names the shard and the last sequence its cache read
//! (`{"shard", "seq", "data"}`); an unknown object is a 404 with Discord's error body, a
//! shard that is not ready a 503 (the body's `reason` says which miss). In a shard pool, a
//! query for a guild whose shard another node runs is forwarded to that node's admin
//! listener (`forward`). The routes are listed in `docs/cache.md`.

mod forward;

use std::collections::HashMap;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::json;
use switchyard_gateway::{CacheMiss, CacheQuery, CacheView, PresenceStatus};

use super::{AdminState, authorized};
use forward::{FORWARDED, forward, gather};

/// Members or messages a page holds unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

pub(super) fn routes() -> axum::Router<AdminState> {
    use CacheQuery as Q;
    let g = "/v1/cache/{bot}/guilds/{guild}";
    axum::Router::new()
        .route("/v1/cache/{bot}/counts", get(counts))
        .route("/v1/cache/{bot}/identity", ask(|_| Ok(Q::Identity)))
        .route("/v1/cache/{bot}/guilds", ask(|_| Ok(Q::Guilds)))
        .route(
            &format!("{g}/guild-create"),
            ask(|p| {
                Ok(Q::GuildCreate {
                    guild: p.id("guild")?,
                    presences: p.flag("presences")?,
                    large_threshold: p.large_threshold()?,
                })
            }),
        )
        .route(
            &format!("{g}/member-request"),
            ask(|p| {
                Ok(Q::RequestMembers {
                    guild: p.id("guild")?,
                    query: p.0.get("query").cloned(),
                    limit: p.count("limit")?,
                    user_ids: p.id_list("user_ids")?,
                    presences: p.flag("presences")?,
                })
            }),
        )
        .route(
            g,
            ask(|p| {
                Ok(Q::Guild {
                    guild: p.id("guild")?,
                })
            }),
        )
        .route(
            &format!("{g}/channels"),
            ask(|p| {
                Ok(Q::Channels {
                    guild: p.id("guild")?,
                })
            }),
        )
        .route(
            &format!("{g}/channels/{{channel}}"),
            ask(|p| {
                Ok(Q::Channel {
                    guild: p.id("guild")?,
                    channel: p.id("channel")?,
                })
            }),
        )
        .route(
            &format!("{g}/channels/{{channel}}/voice-states"),
            ask(|p| {
                Ok(Q::ChannelVoiceStates {
                    guild: p.id("guild")?,
                    channel: p.id("channel")?,
                })
            }),
        )
        .route(
            &format!("{g}/channels/{{channel}}/messages"),
            ask(|p| {
                Ok(Q::Messages {
                    guild: p.id("guild")?,
                    channel: p.id("channel")?,
                    before: p.opt_id("before")?,
                    limit: p.limit()?,
                })
            }),
        )
        .route(
            &format!("{g}/channels/{{channel}}/messages/{{message}}"),
            ask(|p| {
                Ok(Q::Message {
                    guild: p.id("guild")?,
                    channel: p.id("channel")?,
                    message: p.id("message")?,
                })
            }),
        )
        .route(
            &format!("{g}/roles"),
            ask(|p| {
                Ok(Q::Roles {
                    guild: p.id("guild")?,
                })
            }),
        )
        .route(
            &format!("{g}/roles/{{role}}"),
            ask(|p| {
                Ok(Q::Role {
                    guild: p.id("guild")?,
                    role: p.id("role")?,
                })
            }),
        )
        .route(
            &format!("{g}/emojis"),
            ask(|p| {
                Ok(Q::Emojis {
                    guild: p.id("guild")?,
                })
            }),
        )
        .route(
            &format!("{g}/stickers"),
            ask(|p| {
                Ok(Q::Stickers {
                    guild: p.id("guild")?,
                })
            }),
        )
        .route(
            &format!("{g}/stage-instances"),
            ask(|p| {
                Ok(Q::StageInstances {
                    guild: p.id("guild")?,
                })
            }),
        )
        .route(
            &format!("{g}/scheduled-events"),
            ask(|p| {
                Ok(Q::ScheduledEvents {
                    guild: p.id("guild")?,
                })
            }),
        )
        .route(
            &format!("{g}/members"),
            ask(|p| {
                let guild = p.id("guild")?;
                Ok(match p.id_list("ids")? {
                    Some(ids) => Q::Members { guild, ids },
                    None => Q::MembersPage {
                        guild,
                        after: p.opt_id("after")?.unwrap_or(0),
                        limit: p.limit()?,
                    },
                })
            }),
        )
        .route(
            &format!("{g}/members/search"),
            ask(|p| {
                Ok(Q::SearchMembers {
                    guild: p.id("guild")?,
                    prefix: p.0.get("query").filter(|q| !q.is_empty()).cloned(),
                    role: p.opt_id("role")?,
                    status: p.status()?,
                    limit: p.limit()?,
                })
            }),
        )
        .route(
            &format!("{g}/members/{{user}}"),
            ask(|p| {
                Ok(Q::Member {
                    guild: p.id("guild")?,
                    user: p.id("user")?,
                })
            }),
        )
        .route(
            &format!("{g}/members/{{user}}/presence"),
            ask(|p| {
                Ok(Q::Presence {
                    guild: p.id("guild")?,
                    user: p.id("user")?,
                })
            }),
        )
        .route(
            &format!("{g}/members/{{user}}/voice-state"),
            ask(|p| {
                Ok(Q::VoiceState {
                    guild: p.id("guild")?,
                    user: p.id("user")?,
                })
            }),
        )
        .route(
            &format!("{g}/members/{{user}}/permissions"),
            ask(|p| {
                Ok(Q::Permissions {
                    guild: p.id("guild")?,
                    user: p.id("user")?,
                    channel: p.opt_id("channel_id")?,
                })
            }),
        )
        .route(
            "/v1/cache/{bot}/users",
            ask(|p| {
                Ok(Q::Users {
                    ids: p.id_list("ids")?.unwrap_or_default(),
                })
            }),
        )
        .route(
            "/v1/cache/{bot}/users/{user}",
            ask(|p| {
                Ok(Q::User {
                    user: p.id("user")?,
                })
            }),
        )
        .route(
            "/v1/cache/{bot}/users/{user}/guilds",
            ask(|p| {
                Ok(Q::UserGuilds {
                    user: p.id("user")?,
                })
            }),
        )
}

/// A request's parameters: the path's and the query string's (the path's win).
struct Params(HashMap<String, String>);

impl Params {
    /// A snowflake, or a 400 naming it.
    fn id(&self, name: &str) -> Result<u64, Refused> {
        let value = self.0.get(name).map_or("", String::as_str);
        value
            .parse()
            .map_err(|_| Refused::bad(format!("{name} {value:?} is not a snowflake")))
    }

    fn opt_id(&self, name: &str) -> Result<Option<u64>, Refused> {
        self.0.contains_key(name).then(|| self.id(name)).transpose()
    }

    /// `{name}=1,2,3`, when given.
    fn id_list(&self, name: &str) -> Result<Option<Vec<u64>>, Refused> {
        let Some(ids) = self.0.get(name) else {
            return Ok(None);
        };
        ids.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| Refused::bad(format!("{name}: {s:?} is not a snowflake")))
            })
            .collect::<Result<Vec<u64>, _>>()
            .map(Some)
    }

    /// `true`/`false` (or `1`/`0`); false when absent.
    fn flag(&self, name: &str) -> Result<bool, Refused> {
        match self.0.get(name).map(String::as_str) {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(Refused::bad(format!(
                "{name} {other:?} must be true or false"
            ))),
        }
    }

    /// A count of at least 0 (0 when absent).
    fn count(&self, name: &str) -> Result<usize, Refused> {
        let Some(value) = self.0.get(name) else {
            return Ok(0);
        };
        value
            .parse()
            .map_err(|_| Refused::bad(format!("{name} {value:?} is not a count")))
    }

    /// `large_threshold`, as the client sent it (Discord's default, 50, when absent; Discord
    /// takes 50 to 250, which is the face's to enforce).
    fn large_threshold(&self) -> Result<u32, Refused> {
        let Some(value) = self.0.get("large_threshold") else {
            return Ok(50);
        };
        value
            .parse()
            .map_err(|_| Refused::bad(format!("large_threshold {value:?} is not a count")))
    }

    fn limit(&self) -> Result<usize, Refused> {
        let Some(limit) = self.0.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        match limit.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(Refused::bad(format!(
                "limit {limit:?} must be between 1 and 1000"
            ))),
        }
    }

    fn status(&self) -> Result<Option<PresenceStatus>, Refused> {
        let Some(status) = self.0.get("status") else {
            return Ok(None);
        };
        serde_json::from_value(serde_json::Value::String(status.clone()))
            .map(Some)
            .map_err(|_| {
                Refused::bad(format!(
                    "status {status:?} is not one of online, idle, dnd, offline"
                ))
            })
    }
}

/// A GET route answering the query `make` reads from the request: from this process's
/// caches, or, in a shard pool, forwarded once to the node that runs the guild's shard.
fn ask(make: fn(&Params) -> Result<CacheQuery, Refused>) -> MethodRouter<AdminState> {
    get(
        move |State(state): State<AdminState>,
              headers: HeaderMap,
              OriginalUri(uri): OriginalUri,
              Path(path): Path<HashMap<String, String>>,
              Query(mut params): Query<HashMap<String, String>>| async move {
            let bot = path.get("bot").cloned().unwrap_or_default();
            params.extend(path);
            let (view, query) =
                match view(&state, &headers, &bot).and_then(|v| Ok((v, make(&Params(params))?))) {
                    Ok(asked) => asked,
                    Err(refused) => return refused.into_response(),
                };
            let local = view.query(&query);
            let forwarded = headers.contains_key(FORWARDED);
            let peers = view.peers();
            if query.guild().is_none() && !forwarded && !peers.is_empty() {
                return gather(&state, &headers, &uri, &query, local, &peers).await;
            }
            match local {
                Ok(read) => axum::Json(read).into_response(),
                Err(CacheMiss::NotHere {
                    shard,
                    holder: Some(holder),
                    ..
                }) if !forwarded => forward(&state, &headers, &holder, &uri, shard).await,
                Err(miss) => Refused::from(miss).into_response(),
            }
        },
    )
}

/// A request the API cannot answer: its status and Discord-shaped body, with the cache's
/// reason beside (`reason`: `not_ready`, `not_here`, `unreachable`, `off`, `unknown`), so
/// that a program can tell a shard not ready yet from one it cannot reach.
struct Refused {
    status: StatusCode,
    message: String,
    code: u32,
    reason: Option<&'static str>,
}

impl Refused {
    /// A 400 with Discord's "Invalid Form Body" code.
    fn bad(message: String) -> Self {
        Refused {
            status: StatusCode::BAD_REQUEST,
            message,
            code: 50035,
            reason: None,
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut body = json!({"message": self.message, "code": self.code});
        if let Some(reason) = self.reason {
            body["reason"] = reason.into();
        }
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<CacheMiss> for Refused {
    fn from(miss: CacheMiss) -> Self {
        let (status, reason) = match miss {
            CacheMiss::Unknown(_) => (StatusCode::NOT_FOUND, "unknown"),
            CacheMiss::Off => (StatusCode::NOT_FOUND, "off"),
            CacheMiss::NotHere { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_here"),
            CacheMiss::NotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
        };
        Refused {
            status,
            message: miss.to_string(),
            code: miss.discord_code().unwrap_or(0),
            reason: Some(reason),
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
            reason: None,
        });
    }
    state.caches.iter().find(|v| v.bot() == bot).ok_or_else(|| {
        let known: Vec<&str> = state.caches.iter().map(CacheView::bot).collect();
        Refused {
            status: StatusCode::NOT_FOUND,
            message: format!("no bot {bot:?} runs here (bots: {})", known.join(", ")),
            code: 0,
            reason: None,
        }
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
