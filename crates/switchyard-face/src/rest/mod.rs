//! The REST API on the face's port, under `/api/v10`, `/api/v9` and `/api` (Discord's
//! default, forwarded as v10):
//!
//! - `local`: what the face answers itself, as the bot: `GET /gateway`, `/gateway/bot` (the
//!   face's own session start limit, [`SessionStarts`]), `/users/@me`,
//!   `/oauth2/applications/@me` and `/applications/@me`;
//! - `forward`: everything else, sent through Switchyard's REST rate limiter with the bot's
//!   real token in place of the client's face token;
//! - `session_starts`: the face's own IDENTIFY budget, shared with the WebSocket side.
//!
//! Clients authenticate as with Discord (`Authorization: Bot <face token>`); a wrong token is
//! Discord's 401 and goes no further. Requests without Authorization (webhooks with their
//! token, interaction callbacks) are forwarded as they are. Tokens are never logged.

mod forward;
mod local;
mod session_starts;

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{MethodRouter, any, get};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::options::FaceOptions;
use crate::source::StateSource;

pub use session_starts::{SessionStartLimit, SessionStarts};

/// Where REST calls made with a face token go: Switchyard's rate-limited client, with the
/// bot's real token (which its `Debug` never shows).
#[derive(Clone)]
pub struct RestUpstream {
    /// The client (one limiter per process).
    pub client: switchyard_rest::RestClient,
    /// The bot's Discord token (with or without `Bot `).
    pub token: String,
}

impl std::fmt::Debug for RestUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestUpstream")
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What the REST routes need.
#[derive(Clone)]
pub(crate) struct RestState {
    pub(crate) options: Arc<FaceOptions>,
    pub(crate) source: Arc<dyn StateSource>,
    /// `None`: nothing is forwarded (503), the face's own answers still work.
    pub(crate) upstream: Option<Arc<RestUpstream>>,
    pub(crate) session_starts: SessionStarts,
}

/// The face's REST API as an axum router, to serve on the face's port beside its WebSocket
/// (merge it with the WebSocket's router; it has no fallback and only routes under `/api`).
///
/// - `options`: the face tokens clients authenticate with, the public URL `/gateway` gives,
///   `max_concurrency`;
/// - `source`: the bot's identity, for `/users/@me`, `/oauth2/applications/@me` and
///   `/gateway/bot`'s shard count;
/// - `upstream`: Switchyard's REST client and the bot's real token; `None` answers every
///   forwarded route with 503;
/// - `session_starts`: the face's session start limit, which `/gateway/bot` reports and the
///   WebSocket side counts IDENTIFYs against (share the same value with it).
pub fn rest_router(
    options: Arc<FaceOptions>,
    source: Arc<dyn StateSource>,
    upstream: Option<Arc<RestUpstream>>,
    session_starts: SessionStarts,
) -> Router {
    routes(RestState {
        options,
        source,
        upstream,
        session_starts,
    })
}

/// The REST routes: the face's own answers for `GET` on their paths under each prefix (other
/// methods on those paths, such as `PATCH /users/@me`, are forwarded), and every other
/// `/api/…` path forwarded.
pub(crate) fn routes(state: RestState) -> Router {
    let mut router = Router::new();
    for prefix in ["/api", "/api/v9", "/api/v10"] {
        let local: [(&str, MethodRouter<RestState>); 5] = [
            ("gateway", get(local::gateway)),
            ("gateway/bot", get(local::gateway_bot)),
            ("users/@me", get(local::current_user)),
            ("oauth2/applications/@me", get(local::application)),
            ("applications/@me", get(local::application)),
        ];
        for (path, handler) in local {
            router = router.route(
                &format!("{prefix}/{path}"),
                handler.fallback(forward::forward),
            );
        }
    }
    router
        .route("/api/{*rest}", any(forward::forward))
        .with_state(state)
}

/// How the client presented itself.
enum Auth {
    /// `Authorization: Bot <one of the face tokens>`.
    Face,
    /// No Authorization header.
    None,
    /// Anything else.
    Wrong,
}

/// Reads the client's Authorization header, comparing the token in constant time.
fn auth(headers: &HeaderMap, options: &FaceOptions) -> Auth {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Auth::None;
    };
    match value.to_str().ok().and_then(|v| v.strip_prefix("Bot ")) {
        Some(token) if options.tokens.check(token) => Auth::Face,
        _ => Auth::Wrong,
    }
}

/// Discord's answer to a missing or wrong token.
fn unauthorized() -> Response {
    refused("unauthorized");
    json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"message": "401: Unauthorized", "code": 0}),
    )
}

/// An answer of the face's own about why it cannot serve a request: Discord's error shape
/// (`{message, code: 0}`) plus `switchyard` naming the reason, as the REST proxy's own
/// answers are, with `X-Switchyard-Generated`.
fn face_error(status: StatusCode, reason: &'static str, message: &str) -> Response {
    refused(reason);
    let body = serde_json::json!({"message": message, "code": 0, "switchyard": reason});
    let mut r = json(status, &body);
    r.headers_mut()
        .insert(GENERATED, HeaderValue::from_static(reason));
    r
}

/// A JSON response with `Content-Type: application/json` exactly (discord.py compares it).
fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    json_text(status, body.to_string())
}

fn json_text(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The header the REST proxy (and the face) set on the answers they generate themselves.
const GENERATED: &str = "x-switchyard-generated";

/// Counts one request the face answered itself (`route`) or forwarded (`"forward"`).
fn served(route: &'static str) {
    metrics::counter!("switchyard_face_rest_requests_total", "route" => route).increment(1);
}

/// Counts one request the face or its limiter refused, by reason.
fn refused(reason: &'static str) {
    metrics::counter!("switchyard_face_rest_refused_total", "reason" => reason).increment(1);
}
