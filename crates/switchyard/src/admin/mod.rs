//! The admin listener every long-running subcommand opens: `/metrics` in Prometheus text,
//! `/status` in JSON, `/health` and `/ready` (`health`), the live dashboard at `/`
//! (`dashboard`) and, for `switchyard run`, the cache API under `/v1/cache/` (`cache`)
//! and the shard pool's operator API under `/v1/pool/` (`pool`).
//! Binds loopback by default; any other address needs a token (bearer, or basic auth's
//! password for a browser).

mod cache;
mod dashboard;
mod health;
mod pool;

pub use dashboard::ServiceControl;
pub use health::{ReadyFn, broker_probe, gateway_probe, upstream_probe};
pub use pool::PoolAdmin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use switchyard_gateway::CacheView;

use crate::config::AdminConfig;
use crate::config::admin::DEFAULT_ADMIN;

/// Produces the `/status` document on request.
pub type StatusFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Installs the process-wide metrics recorder. Call before creating anything that records,
/// since metric handles taken earlier go nowhere.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("a metrics recorder is already installed")?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// What a command serves on its admin listener beyond metrics and status.
#[derive(Default)]
pub struct Parts {
    /// The caches of the bots this process runs, for the cache API.
    pub caches: Vec<CacheView>,
    /// The shard pools of the bots this process runs in pool mode, for the operator API.
    pub pools: Vec<PoolAdmin>,
    /// What `/ready` checks; without it, ready as soon as the listener serves.
    pub ready: Option<ReadyFn>,
    /// Sends SHUTDOWN and REBOOT to services, for the dashboard's buttons.
    pub control: Option<ServiceControl>,
    /// The REST limiter, for the dashboard's busiest buckets and queued requests.
    pub limiter: Option<Arc<switchyard_rest::Limiter>>,
    /// The broker, for the dashboard's dead letters.
    pub broker: Option<Arc<dyn switchyard_broker::Broker>>,
}

#[derive(Clone)]
struct AdminState {
    metrics: PrometheusHandle,
    status: StatusFn,
    /// The caches of the bots this process runs (none for other commands).
    caches: Arc<Vec<CacheView>>,
    /// The shard pools of the bots this process runs in pool mode.
    pools: Arc<Vec<PoolAdmin>>,
    /// What `/ready` checks.
    ready: Option<ReadyFn>,
    /// Asks other nodes of a shard pool (forwarded cache queries).
    client: reqwest::Client,
    token: Option<Arc<str>>,
    started: Instant,
    command: &'static str,
    /// The dashboard's page tokens, allowed hosts and live feed.
    dashboard: Arc<dashboard::Dashboard>,
}

/// Starts the admin listener for `command`, with the cache API, operator API and readiness
/// check of `parts`; returns the address it bound.
pub async fn serve(
    config: &AdminConfig,
    command: &'static str,
    metrics: PrometheusHandle,
    status: StatusFn,
    parts: Parts,
) -> anyhow::Result<SocketAddr> {
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && config.bind == DEFAULT_ADMIN => {
            let fallback = SocketAddr::new(config.bind.ip(), 0);
            let l = tokio::net::TcpListener::bind(fallback)
                .await
                .with_context(|| format!("cannot bind the admin listener on {fallback}"))?;
            tracing::warn!(
                wanted = %config.bind,
                bound = %l.local_addr().unwrap_or(fallback),
                "the default admin port is taken (another switchyard process?); using a free port instead. Set admin.bind to choose one"
            );
            l
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot bind the admin listener on {} (admin.bind)",
                    config.bind
                )
            });
        }
    };
    let addr = listener.local_addr().context("admin listener address")?;
    let caches = Arc::new(parts.caches);
    let started = Instant::now();
    let feed = dashboard::Sources {
        metrics: metrics.clone(),
        status: status.clone(),
        caches: caches.clone(),
        limiter: parts.limiter,
        broker: parts.broker,
        command,
        started,
    };
    let dashboard = dashboard::Dashboard::start(config, addr, feed, parts.control);
    let state = AdminState {
        metrics,
        status,
        caches,
        pools: Arc::new(parts.pools),
        ready: parts.ready,
        client: reqwest::Client::new(),
        token: config.token.as_deref().map(Arc::from),
        started,
        command,
        dashboard: Arc::new(dashboard),
    };
    let app = axum::Router::new()
        .route("/metrics", get(metrics_page))
        .route("/status", get(status_page))
        .merge(health::routes())
        .merge(cache::routes())
        .merge(pool::routes())
        .merge(dashboard::routes())
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin listener stopped");
        }
    });
    tracing::info!(
        "admin listener on http://{addr} (dashboard at /; /metrics, /status, /health, /ready, /v1/cache/…, /v1/pool/…)"
    );
    Ok(addr)
}

/// Whether the request carries the admin token, when one is set: as a bearer token, or as
/// the password of basic auth (what a browser sends after asking, for the dashboard).
fn authorized(state: &AdminState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let given = match (value.strip_prefix("Bearer "), value.strip_prefix("Basic ")) {
        (Some(bearer), _) => bearer.as_bytes().to_vec(),
        (None, Some(basic)) => {
            use base64::Engine as _;
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
                return false;
            };
            // user:password; the user name is not checked
            match decoded.iter().position(|&b| b == b':') {
                Some(colon) => decoded[colon + 1..].to_vec(),
                None => return false,
            }
        }
        (None, None) => return false,
    };
    // In constant time (for tokens of the same length), as the REST proxy's secret.
    use subtle::ConstantTimeEq as _;
    bool::from(given.ct_eq(token.as_bytes()))
}

async fn metrics_page(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn status_page(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut doc = serde_json::json!({
        "service": "switchyard",
        "version": env!("CARGO_PKG_VERSION"),
        "command": state.command,
        "uptime_s": state.started.elapsed().as_secs(),
    });
    if let (serde_json::Value::Object(doc), serde_json::Value::Object(extra)) =
        (&mut doc, (state.status)())
    {
        doc.extend(extra);
    }
    axum::Json(doc).into_response()
}
