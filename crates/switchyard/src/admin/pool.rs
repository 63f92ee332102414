//! The shard pool's operator API: move a shard, drain or undrain a node. Any node answers:
//! the coordinator does it, another node forwards the request to the coordinator's admin
//! listener (one hop). `switchyard shards move` and `switchyard node drain` call it.
//!
//! - `POST /v1/pool/{bot}/shards/{shard}/move` with `{"to": "NODE"}`
//! - `POST /v1/pool/{bot}/nodes/{node}/drain` and `…/undrain`
//!
//! 202 once the coordinator has started it (a move completes when the target has resumed
//! the shard: watch `/status`); 404 for an unknown bot, shard or node; 409 when the shard is
//! already moving or there, or the target is drained; 503 while the coordinator settles or
//! cannot be reached.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use switchyard_gateway::ShardLocator;
use switchyard_gateway::pool::{MoveRefusal, PoolControl, PoolRequestError};

use super::{AdminState, authorized};

/// Marks a request one node forwarded to the coordinator (no second hop).
const FORWARDED: &str = "x-switchyard-forwarded";

/// One bot's pool, as the admin listener reaches it.
#[derive(Clone)]
pub struct PoolAdmin {
    /// The bot.
    pub bot: String,
    /// Asks this node's pool member.
    pub control: PoolControl,
    /// Where the other nodes' admin listeners answer.
    pub locator: ShardLocator,
}

pub(super) fn routes() -> axum::Router<AdminState> {
    axum::Router::new()
        .route("/v1/pool/{bot}/shards/{shard}/move", post(move_shard))
        .route("/v1/pool/{bot}/nodes/{node}/drain", post(drain))
        .route("/v1/pool/{bot}/nodes/{node}/undrain", post(undrain))
}

#[derive(serde::Deserialize)]
struct MoveBody {
    to: String,
}

async fn move_shard(
    State(state): State<AdminState>,
    Path((bot, shard)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    // The token first: a caller without it learns nothing, not even what a good body is.
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(shard) = shard.parse::<u32>() else {
        return answer(
            StatusCode::BAD_REQUEST,
            format!("{shard:?} is not a shard id"),
        );
    };
    let to = match serde_json::from_slice::<MoveBody>(&body) {
        Ok(b) => b.to,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                format!("the body must be {{\"to\": \"NODE\"}}: {e}"),
            );
        }
    };
    let ask = |control: PoolControl| async move { control.move_shard(shard, &to).await };
    handle(&state, &headers, &uri, &bot, &body, ask).await
}

async fn drain(
    State(state): State<AdminState>,
    Path((bot, node)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ask = |control: PoolControl| async move { control.drain(&node, true).await };
    handle(&state, &headers, &uri, &bot, &[], ask).await
}

async fn undrain(
    State(state): State<AdminState>,
    Path((bot, node)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ask = |control: PoolControl| async move { control.drain(&node, false).await };
    handle(&state, &headers, &uri, &bot, &[], ask).await
}

/// What the dashboard asks of a pool: the same as the routes above.
pub(super) enum PoolAsk {
    /// Move `shard` to the node `to`.
    Move { shard: u32, to: String },
    /// Drain `node` (or undrain it).
    Drain { node: String, drain: bool },
}

/// Asks `bot`'s pool as the routes above do (forwarded to the coordinator if need be).
pub(super) async fn ask(
    state: &AdminState,
    headers: &HeaderMap,
    bot: &str,
    ask: PoolAsk,
) -> Response {
    let (path, body) = match &ask {
        PoolAsk::Move { shard, to } => (
            format!("/v1/pool/{bot}/shards/{shard}/move"),
            json!({"to": to}).to_string().into_bytes(),
        ),
        PoolAsk::Drain { node, drain } => {
            let verb = if *drain { "drain" } else { "undrain" };
            (format!("/v1/pool/{bot}/nodes/{node}/{verb}"), Vec::new())
        }
    };
    let Ok(uri) = path.parse::<Uri>() else {
        return answer(
            StatusCode::BAD_REQUEST,
            format!("{bot:?} or the node is not a name the operator API can carry"),
        );
    };
    let run = |control: PoolControl| async move {
        match ask {
            PoolAsk::Move { shard, to } => control.move_shard(shard, &to).await,
            PoolAsk::Drain { node, drain } => control.drain(&node, drain).await,
        }
    };
    handle(state, headers, &uri, bot, &body, run).await
}

async fn handle<F, Fut>(
    state: &AdminState,
    headers: &HeaderMap,
    uri: &Uri,
    bot: &str,
    body: &[u8],
    ask: F,
) -> Response
where
    F: FnOnce(PoolControl) -> Fut,
    Fut: std::future::Future<Output = Result<(), PoolRequestError>>,
{
    if !authorized(state, headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(pool) = state.pools.iter().find(|p| p.bot == bot) else {
        let known: Vec<&str> = state.pools.iter().map(|p| p.bot.as_str()).collect();
        return answer(
            StatusCode::NOT_FOUND,
            format!(
                "no shard pool of bot {bot:?} here (pools: {})",
                known.join(", ")
            ),
        );
    };
    match ask(pool.control.clone()).await {
        Ok(()) => (StatusCode::ACCEPTED, axum::Json(json!({"accepted": true}))).into_response(),
        Err(PoolRequestError::NotCoordinator { holder }) => {
            let admin = holder
                .as_deref()
                .and_then(|h| pool.locator.admin_of_node(h));
            match admin {
                Some(admin) if !headers.contains_key(FORWARDED) => {
                    forward(state, headers, &admin, uri, body).await
                }
                _ => answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "this node does not coordinate the pool, and the coordinator ({}) cannot be reached from here; ask its admin listener",
                        holder.as_deref().unwrap_or("none yet")
                    ),
                ),
            }
        }
        Err(PoolRequestError::Stopped) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node has left the pool".to_owned(),
        ),
        Err(PoolRequestError::Refused(refusal)) => {
            let status = match refusal {
                MoveRefusal::NoSuchShard { .. } | MoveRefusal::UnknownNode(_) => {
                    StatusCode::NOT_FOUND
                }
                MoveRefusal::Settling | MoveRefusal::Starting(_) => StatusCode::SERVICE_UNAVAILABLE,
                MoveRefusal::AlreadyMoving { .. }
                | MoveRefusal::AlreadyThere { .. }
                | MoveRefusal::Draining(_)
                | MoveRefusal::LastNode(_) => StatusCode::CONFLICT,
            };
            metrics::counter!("switchyard_gateway_pool_requests_refused_total").increment(1);
            answer(status, refusal.to_string())
        }
    }
}

/// Passes the request on to the coordinator's admin listener, with the caller's credentials.
async fn forward(
    state: &AdminState,
    headers: &HeaderMap,
    admin: &str,
    uri: &Uri,
    body: &[u8],
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = state
        .client
        .post(format!("{admin}{path}"))
        .header(FORWARDED, "1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .timeout(std::time::Duration::from_secs(10));
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, auth);
    }
    match request.send().await {
        Ok(res) => {
            let status =
                StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = res.bytes().await.unwrap_or_default();
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the coordinator's admin listener {admin} did not answer: {e}"),
        ),
    }
}

fn answer(status: StatusCode, message: String) -> Response {
    (
        status,
        axum::Json(json!({"accepted": false, "message": message})),
    )
        .into_response()
}
