//! The HTTP server: one port for the gateway (WebSocket upgrade on any path), REST under
//! `/api[/vN]`, and the test-control API under `/_sim/` (served by [`crate::sim_api`]); plus
//! [`Sim`] and its [`SimHandle`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::churn::LiveState;
use crate::config::SimConfig;
use crate::counters::Counters;
use crate::error::SimError;
use crate::load::LoadSpec;
use crate::rest::error::ApiError;
use crate::rest::{self, ApiRequest};
use crate::scenario::Scenario;
use crate::sim_api::{self, Fault, Inject};
use crate::sim_churn::{ChurnReport, ChurnSpec};
use crate::state::Load;
use crate::state::Shared;
use crate::world::World;

/// Entry point: `Sim::start(config)`.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Binds `config.host:config.port` and serves until the handle is shut down or dropped.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let http_url = format!("http://{local}");
        let ws_url = format!("ws://{local}");
        let shared = Arc::new(Shared::new(config, http_url.clone(), ws_url.clone()));
        let app = Router::new()
            .fallback(entry)
            .layer(DefaultBodyLimit::max(crate::rest::MAX_REQUEST_BODY))
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            // Like Discord's edge, write each frame at once: without TCP_NODELAY a small frame
            // can wait for the client's delayed ACK (up to 40 ms).
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
            });
            let result = axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "sim server stopped");
            }
        });
        tracing::info!(%http_url, %ws_url, "fake Discord listening");
        Ok(SimHandle {
            addr: local,
            http_url,
            ws_url,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A running sim. Dropping it stops the server at once; [`SimHandle::shutdown`] stops it
/// gracefully (gateway connections get close code 1001).
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    http_url: String,
    ws_url: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`.
    pub fn http_url(&self) -> &str {
        &self.http_url
    }

    /// The REST base, `http://host:port/api/v10`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v10", self.http_url)
    }

    /// The gateway URL, `ws://host:port` (no trailing slash, no query).
    pub fn gateway_url(&self) -> &str {
        &self.ws_url
    }

    /// The generated world.
    pub fn world(&self) -> &World {
        &self.shared.world
    }

    /// The configuration in use.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Injects an event (see [`Inject`]).
    pub fn inject(&self, event: &Inject) -> Result<Value, SimError> {
        sim_api::inject(&self.shared, event)
    }

    /// Injects a fault (see [`Fault`]); returns how many connections it reached.
    pub fn fault(&self, fault: &Fault) -> Result<usize, SimError> {
        sim_api::fault(&self.shared, fault)
    }

    /// Delivers an interaction to an HTTP endpoint, signed as Discord signs it (see
    /// [`crate::Delivery`]); returns the answer, which is also recorded.
    pub async fn deliver(&self, delivery: &crate::Delivery) -> Result<crate::Delivered, SimError> {
        crate::deliver::deliver(&self.shared, delivery).await
    }

    /// Every answer an interactions endpoint gave the fake (the last 1000), oldest first.
    pub fn delivered(&self) -> Vec<crate::Delivered> {
        self.shared.deliveries.answers()
    }

    /// The public key of the fake's interactions (64 hex digits): what an endpoint that the
    /// fake delivers to must be configured with. It follows from `world.seed`.
    pub fn interactions_public_key(&self) -> String {
        self.shared.deliveries.public_key()
    }

    /// Reads the counters.
    pub fn counters(&self) -> Counters {
        crate::counters::counters(&self.shared)
    }

    /// The messages the fake holds in `channel` (created through REST or injected), oldest
    /// first; what a client reading the channel would see.
    pub fn messages(&self, channel: u64) -> Vec<Value> {
        crate::state::lock(&self.shared.store)
            .messages
            .get(&channel)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Runs a churn (see [`ChurnSpec`]): applies its changes to the fake's live state and
    /// dispatches each to the connected sessions by the usual rules (the guild's shard, the
    /// session's intents). From the first churn on, every GUILD_CREATE (a new session's, or
    /// the end of an outage) shows the live state. REST still answers from the generated
    /// world.
    pub fn churn(&self, spec: &ChurnSpec) -> Result<ChurnReport, SimError> {
        crate::sim_churn::churn(&self.shared, spec)
    }

    /// `f` on the live state the churn keeps, or `None` before any churn.
    pub fn churn_state<T>(&self, f: impl FnOnce(&LiveState) -> T) -> Option<T> {
        crate::sim_churn::with_state(&self.shared, f)
    }

    /// Starts a load generator (see [`LoadSpec`]); stop it with [`Load::stop`].
    pub fn start_load(&self, spec: LoadSpec) -> Load {
        crate::load::start(self.shared.clone(), spec)
    }

    /// Dispatches one pre-rendered event (from [`crate::build_mix`], or one like it) now;
    /// returns how many sessions got it. Unlike [`SimHandle::inject`], nothing is parsed or
    /// serialized, so a benchmark's driver costs the fake little per event.
    pub fn dispatch_prerendered(&self, item: &crate::mix::Prerendered) -> usize {
        crate::load::dispatch_prerendered(&self.shared, item)
    }

    /// Runs a scenario to its end; returns how many steps ran.
    pub async fn run_scenario(&self, scenario: &Scenario) -> Result<usize, SimError> {
        scenario.run(&self.shared).await
    }

    /// Plays a scenario in the background once the first session has received READY and
    /// its GUILD_CREATEs; the steps' times count from then. The task ends with the sim.
    pub fn play_when_ready(&self, scenario: Scenario) -> JoinHandle<Result<usize, SimError>> {
        let shared = self.shared.clone();
        let mut stop = shared.shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                r = scenario.run_when_ready(&shared) => r,
                _ = stop.wait_for(|s| *s) => Ok(0),
            }
        })
    }

    /// The counters without the REST call log (which holds up to 100,000 calls) and without
    /// the sessions' command records.
    pub fn counters_summary(&self) -> Counters {
        crate::counters::summary(&self.shared)
    }

    /// Forgets sessions (closing their connections), bots, REST objects and counters.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops gracefully: closes gateway connections with 1001 and waits (up to 5 s) for
    /// the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn entry(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Ok(ws) = ws {
        return crate::gateway::upgrade(shared, ws, uri.query());
    }
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::TooLarge.into_response();
        }
        Err(e) => return crate::sim_routes::bad(e.body_text()),
    };
    let path = uri.path();
    if let Some(op) = path.strip_prefix("/_sim/") {
        return crate::sim_routes::serve(&shared, &method, op, &headers, &body).await;
    }
    let rest_path = (path == "/api" || path.starts_with("/api/")).then(|| {
        let p = path.trim_start_matches("/api").trim_start_matches('/');
        let is_version = |v: &str| v.starts_with('v') && v[1..].parse::<u8>().is_ok();
        match p.split_once('/') {
            Some((v, rest)) if is_version(v) => rest.to_owned(),
            None if is_version(p) => String::new(),
            _ => p.to_owned(),
        }
    });
    match rest_path {
        Some(rest) => {
            let req = ApiRequest {
                method,
                path: path.to_owned(),
                rest,
                query: uri.query().map(str::to_owned),
                headers,
                body,
                ip: peer.ip(),
            };
            rest::handle(&shared, req).await
        }
        None => ApiError::NotFound.into_response(),
    }
}
