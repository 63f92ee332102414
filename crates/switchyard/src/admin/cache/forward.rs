//! Queries one node passes to others in a shard pool: a guild's query forwarded to the node
//! that runs its shard, and a query every shard answers a part of gathered from every node.

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use switchyard_gateway::{CacheMiss, CacheQuery, CacheRead};

use super::super::AdminState;
use super::Refused;

/// Marks a request one node forwarded to another, which answers it from its own caches
/// only (no second hop).
pub(super) const FORWARDED: &str = "x-switchyard-forwarded";

/// Asks the node at `holder` (running `shard`) the same request, with the caller's
/// credentials, and answers what it answers.
pub(super) async fn forward(
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
                reason: Some("unreachable"),
            }
            .into_response();
        }
    };
    metrics::counter!("switchyard_cache_forwards_total", "outcome" => "answered").increment(1);
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = answer.bytes().await.unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A query every shard answers a part of (a user's, the bot's identity and guilds) in a
/// shard pool: this node's answer joined with every other node's (each asked once, for its
/// own shards).
pub(super) async fn gather(
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
    let (mut reads, miss) = match local {
        Ok(read) => (vec![read], CacheMiss::Unknown("User")),
        Err(miss) => (Vec::new(), miss),
    };
    reads.extend(
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten(),
    );
    metrics::counter!("switchyard_cache_forwards_total", "outcome" => "gathered").increment(1);
    match query.merge(reads) {
        Some(read) => axum::Json(read).into_response(),
        None => Refused::from(miss).into_response(),
    }
}

/// How long a forwarded query may take.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
