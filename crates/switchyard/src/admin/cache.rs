//! The cache API: reads of each bot's shard caches, as JSON, one route per
//! [`CacheQuery`]. Every answer names the shard and the last sequence its cache read
//! (`{"shard", "seq", "data"}`); an unknown object is a 404 with Discord's error body, a
//! shard that is not ready a 503. In a shard pool, a query for a guild whose shard another
//! node runs is forwarded to that node's admin listener. The routes are listed in
//! `docs/cache.md`.

use std::collections::HashMap;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::json;
use switchyard_gateway::{CacheMiss, CacheQuery, CacheRead, CacheView, PresenceStatus};

use super::{AdminState, authorized};

/// Members or messages a page holds unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

pub(super) fn routes() -> axum::Router<AdminState> {
    use CacheQuery as Q;
    let g = "/v1/cache/{bot}/guilds/{guild}";
    axum::Router::new()
        .route("/v1/cache/{bot}/counts", get(counts))
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
                Ok(match p.ids()? {
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
                    ids: p.ids()?.unwrap_or_default(),
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

    /// `ids=1,2,3`, when given.
    fn ids(&self) -> Result<Option<Vec<u64>>, Refused> {
        let Some(ids) = self.0.get("ids") else {
            return Ok(None);
        };
        ids.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| Refused::bad(format!("ids: {s:?} is not a snowflake")))
            })
            .collect::<Result<Vec<u64>, _>>()
            .map(Some)
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

/// Marks a request one node forwarded to another, which answers it from its own caches
/// only (no second hop).
const FORWARDED: &str = "x-switchyard-forwarded";

/// Asks the node at `holder` (running `shard`) the same request, with the caller's
/// credentials, and answers what it answers.
async fn forward(
    state: &AdminState,
    headers: &HeaderMap,
    holder: &str,
    uri: &Uri,
    shard: u32,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = state
        .client
        .get(format!("{holder}{path}"))
        .header(FORWARDED, "1")
        .timeout(FORWARD_TIMEOUT);
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, auth);
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => {
            metrics::counter!("switchyard_cache_forwards_total", "outcome" => "unreachable")
                .increment(1);
            tracing::warn!(shard, %holder, error = %e, "the node running the shard did not answer a forwarded cache query");
            return Refused {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("shard {shard} runs at {holder}, which did not answer: {e}"),
                code: 0,
            }
            .into_response();
        }
    };
    metrics::counter!("switchyard_cache_forwards_total", "outcome" => "answered").increment(1);
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = answer.bytes().await.unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A user's query in a shard pool: this node's answer joined with every other node's
/// (each asked once, for its own shards).
async fn gather(
    state: &AdminState,
    headers: &HeaderMap,
    uri: &Uri,
    query: &CacheQuery,
    local: Result<CacheRead, CacheMiss>,
    peers: &[String],
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let asks = peers.iter().map(|peer| {
        let mut request = state
            .client
            .get(format!("{peer}{path}"))
            .header(FORWARDED, "1")
            .timeout(FORWARD_TIMEOUT);
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            request = request.header(header::AUTHORIZATION, auth);
        }
        async move {
            let answer = request.send().await.ok()?;
            let found = answer.status().is_success();
            let body = answer.bytes().await.ok()?;
            let doc: serde_json::Value = serde_json::from_slice(&body).ok()?;
            found.then(|| CacheRead {
                shard: doc["shard"]
                    .as_u64()
                    .and_then(|s| u32::try_from(s).ok())
                    .unwrap_or(0),
                seq: doc["seq"].as_u64(),
                data: doc["data"].clone(),
                more: Vec::new(),
            })
        }
    });
    let mut reads: Vec<CacheRead> = local.ok().into_iter().collect();
    reads.extend(
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten(),
    );
    metrics::counter!("switchyard_cache_forwards_total", "outcome" => "gathered").increment(1);
    match query.merge(reads) {
        Some(read) => axum::Json(read).into_response(),
        None => Refused::from(CacheMiss::Unknown("User")).into_response(),
    }
}

/// How long a forwarded query may take.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A request the API cannot answer: its status and Discord-shaped body.
struct Refused {
    status: StatusCode,
    message: String,
    code: u32,
}

impl Refused {
    /// A 400 with Discord's "Invalid Form Body" code.
    fn bad(message: String) -> Self {
        Refused {
            status: StatusCode::BAD_REQUEST,
            message,
            code: 50035,
        }
    }
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
