//! The dashboard's buttons: move a shard and drain a node of a shard pool (through the
//! operator API's own code, `super::super::pool`), SHUTDOWN or REBOOT a service. Each is a
//! POST from the page that passed `admit`, from the same origin, with the page's token.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use switchyard_broker::Broker;
use switchyard_core::control::ControlOp;
use switchyard_core::control::auth::ControlKey;

use super::{TOKEN_HEADER, admit, refuse};
use crate::admin::AdminState;
use crate::admin::pool::{self, PoolAsk};

/// What SHUTDOWN and REBOOT are sent with: the broker, and the control key that signs them.
#[derive(Clone)]
pub struct ServiceControl {
    /// The broker the services read `control.{service}` on.
    pub broker: Arc<dyn Broker>,
    /// Signs the messages, when `control.key` is set.
    pub key: Option<ControlKey>,
}

/// The checks of an action beyond `admit`: a same-origin request, carrying a page's token.
/// The refusal, if any.
fn allowed(state: &AdminState, headers: &HeaderMap) -> Option<Response> {
    if let Some(refused) = admit(state, headers) {
        return Some(refused);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let same = |o: &str| o == format!("http://{host}") || o == format!("https://{host}");
    match origin {
        Some(o) if same(o) => {}
        Some(o) => {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                format!("cross-origin request refused: Origin {o:?} is not this dashboard"),
            ));
        }
        None => {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "request refused: no Origin header (actions come from the dashboard page)",
            ));
        }
    }
    let token = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    match token {
        Some(t) if state.dashboard.valid(t) => None,
        Some(_) => Some(refuse(
            StatusCode::FORBIDDEN,
            "the page token is not valid (any more): reload the dashboard",
        )),
        None => Some(refuse(
            StatusCode::FORBIDDEN,
            format!("request refused: no page token ({TOKEN_HEADER}); use the dashboard page"),
        )),
    }
}

/// The JSON body, or the 400 that says what it should be.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], shape: &str) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("the body must be {shape}: {e}"))
}

#[derive(Deserialize)]
struct Move {
    bot: String,
    shard: u32,
    to: String,
}

/// `POST /dashboard/move` `{"bot", "shard", "to"}`.
pub(super) async fn move_shard(
    State(state): State<AdminState>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    if let Some(refused) = allowed(&state, &headers) {
        return refused;
    }
    let shape = r#"{"bot": "BOT", "shard": N, "to": "NODE"}"#;
    match body::<Move>(&bytes, shape) {
        Ok(m) => {
            let ask = PoolAsk::Move {
                shard: m.shard,
                to: m.to,
            };
            pool::ask(&state, &headers, &m.bot, ask).await
        }
        Err(message) => refuse(StatusCode::BAD_REQUEST, message),
    }
}

#[derive(Deserialize)]
struct Drain {
    bot: String,
    node: String,
    drain: bool,
}

/// `POST /dashboard/drain` `{"bot", "node", "drain": true|false}`.
pub(super) async fn drain(
    State(state): State<AdminState>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    if let Some(refused) = allowed(&state, &headers) {
        return refused;
    }
    let shape = r#"{"bot": "BOT", "node": "NODE", "drain": true}"#;
    match body::<Drain>(&bytes, shape) {
        Ok(d) => {
            let ask = PoolAsk::Drain {
                node: d.node,
                drain: d.drain,
            };
            pool::ask(&state, &headers, &d.bot, ask).await
        }
        Err(message) => refuse(StatusCode::BAD_REQUEST, message),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Shutdown,
    Reboot,
}

#[derive(Deserialize)]
struct Service {
    op: Op,
    service: String,
    #[serde(default)]
    instance: Option<String>,
}

/// `POST /dashboard/service` `{"op": "shutdown"|"reboot", "service", "instance"?}`: sent on
/// `control.{service}` as `switchyard control` sends it.
pub(super) async fn service(
    State(state): State<AdminState>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    if let Some(refused) = allowed(&state, &headers) {
        return refused;
    }
    let shape = r#"{"op": "shutdown" or "reboot", "service": "NAME", "instance": "ID" (optional)}"#;
    let s = match body::<Service>(&bytes, shape) {
        Ok(s) => s,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    let Some(control) = &state.dashboard.control else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("`switchyard {}` controls no services", state.command),
        );
    };
    let op = match s.op {
        Op::Shutdown => ControlOp::Shutdown,
        Op::Reboot => ControlOp::Reboot,
    };
    let reason = Some("asked on the dashboard");
    let sent = switchyard_gateway::services::send(
        control.broker.as_ref(),
        control.key.as_ref(),
        op,
        &s.service,
        s.instance.as_deref(),
        reason,
    )
    .await;
    match sent {
        Ok(()) => {
            tracing::info!(service = %s.service, instance = ?s.instance, op = op.name(), "sent from the dashboard");
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({"accepted": true, "message": format!("sent {} to {}", op.name(), s.service)})),
            )
                .into_response()
        }
        Err(e) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot send {}: {e}", op.name()),
        ),
    }
}
