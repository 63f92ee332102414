//! `/health` and `/ready` on the admin listener, for load balancers and orchestrators: no
//! token, nothing secret in the answer. This module owns what "ready" means for each command
//! (see docs/operating.md): the probes here are built by the commands and run per request.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::future::BoxFuture;
use serde::Serialize;
use switchyard_broker::Broker;
use switchyard_gateway::{GatewayStatus, ShardPhase};

use super::AdminState;

/// How long a probe waits for the broker or an upstream before calling it unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One reason this process is not ready.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotReady {
    /// A shard of this node is not receiving events (starting, resuming, stopped…).
    Shard {
        /// The bot.
        bot: String,
        /// The shard id.
        shard: u32,
        /// Its state, as `/status` shows it.
        state: ShardPhase,
    },
    /// The broker did not answer a round trip.
    Broker {
        /// Its backend (`redis`, `nats`, …).
        backend: &'static str,
        /// What happened, without addresses or credentials.
        reason: &'static str,
    },
    /// The upstream this command forwards to did not answer.
    Upstream {
        /// What the upstream is (`discord-api`).
        what: &'static str,
        /// What happened.
        reason: &'static str,
    },
}

/// Runs a readiness check: empty when ready.
pub type ReadyFn = Arc<dyn Fn() -> BoxFuture<'static, Vec<NotReady>> + Send + Sync>;

/// Readiness from shards and the broker: every shard of every bot active, and the broker
/// answering a round trip. A pool node holding no shard is ready when its broker is.
pub fn gateway_probe(
    gateways: Vec<Box<dyn Fn() -> GatewayStatus + Send + Sync>>,
    broker: Arc<dyn Broker>,
) -> ReadyFn {
    let gateways = Arc::new(gateways);
    Arc::new(move || {
        let gateways = gateways.clone();
        let broker = broker.clone();
        Box::pin(async move {
            let mut reasons: Vec<NotReady> = gateways
                .iter()
                .flat_map(|status| {
                    let status = status();
                    let bot = status.bot;
                    status
                        .shards
                        .into_iter()
                        .filter(|s| s.state != ShardPhase::Active)
                        .map(move |s| NotReady::Shard {
                            bot: bot.clone(),
                            shard: s.id,
                            state: s.state,
                        })
                })
                .collect();
            reasons.extend(probe_broker(&*broker).await);
            reasons
        })
    })
}

/// Readiness from the broker alone (`switchyard face`).
pub fn broker_probe(broker: Arc<dyn Broker>) -> ReadyFn {
    Arc::new(move || {
        let broker = broker.clone();
        Box::pin(async move { probe_broker(&*broker).await.into_iter().collect() })
    })
}

/// Readiness from an HTTP upstream (`switchyard rest-proxy`): any HTTP answer from
/// `{upstream}/gateway` counts as reachable (that route needs no token).
pub fn upstream_probe(upstream: &str) -> ReadyFn {
    let url = format!("{}/gateway", upstream.trim_end_matches('/'));
    let client = reqwest::Client::new();
    Arc::new(move || {
        let request = client.get(&url).timeout(PROBE_TIMEOUT).send();
        Box::pin(async move {
            match request.await {
                Ok(_) => Vec::new(),
                Err(e) => {
                    let timeout = e.is_timeout();
                    tracing::warn!(error = %e.without_url(), "readiness: the upstream did not answer");
                    metrics::counter!("switchyard_ready_failures_total", "check" => "upstream")
                        .increment(1);
                    let reason = if timeout {
                        "no answer within 2s"
                    } else {
                        "unreachable"
                    };
                    vec![NotReady::Upstream {
                        what: "discord-api",
                        reason,
                    }]
                }
            }
        })
    })
}

/// A round trip to the broker (its flush: a PING behind what is queued on Redis, a barrier on
/// NATS, nothing for the in-process broker).
async fn probe_broker(broker: &dyn Broker) -> Option<NotReady> {
    let reason = match tokio::time::timeout(PROBE_TIMEOUT, broker.flush()).await {
        Ok(Ok(())) => return None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the broker is unreachable");
            "unreachable"
        }
        Err(_) => {
            tracing::warn!("readiness: the broker did not answer within 2s");
            "no answer within 2s"
        }
    };
    metrics::counter!("switchyard_ready_failures_total", "check" => "broker").increment(1);
    Some(NotReady::Broker {
        backend: broker.backend(),
        reason,
    })
}

pub(super) fn routes() -> axum::Router<AdminState> {
    axum::Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// 200 while the process serves requests.
async fn health(State(state): State<AdminState>) -> Response {
    axum::Json(serde_json::json!({"status": "ok", "command": state.command})).into_response()
}

/// 200 when ready; 503 with the reasons otherwise.
async fn ready(State(state): State<AdminState>) -> Response {
    let reasons = match &state.ready {
        Some(probe) => probe().await,
        None => Vec::new(),
    };
    let code = match reasons.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    let doc = serde_json::json!({
        "ready": reasons.is_empty(),
        "command": state.command,
        "reasons": reasons,
    });
    (code, axum::Json(doc)).into_response()
}
