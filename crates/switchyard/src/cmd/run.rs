//! `switchyard run`: the gateway. Discord shards to broker topics and outbound topics to
//! Discord, on the embedded broker (with its RESP port) by default, with the admin listener
//! serving per-shard status on `/status`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use switchyard_broker::Broker;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::embedded::resp::{RespServer, RunningRespServer};
use switchyard_broker::kv::KvStore;
use switchyard_gateway::{FileSessionStore, GatewayDeps, KvSessionStore, SessionStore};
use switchyard_rest::RestClient;

use crate::admin;
use crate::cli::RunArgs;
use crate::cmd::broker::shutdown_signal;
use crate::config::Config;

/// The broker the gateway publishes to, and where its sessions are saved.
pub struct Backend {
    /// The broker.
    pub broker: Arc<dyn Broker>,
    /// Its RESP listener.
    pub resp: Option<RunningRespServer>,
    /// The session store.
    pub sessions: Arc<dyn SessionStore>,
    /// The shared key-value store (Redis or NATS; none beside the embedded broker).
    pub kv: Option<Arc<dyn KvStore>>,
}

/// Opens the configured broker: embedded (with its RESP listener and a file session store),
/// or Redis/NATS (with their key-value store for sessions).
pub async fn backend(config: &Config) -> anyhow::Result<Backend> {
    if config.broker.url == "embedded" {
        let broker = EmbeddedBroker::new(config.broker.embedded());
        let resp = RespServer::bind(&broker, config.broker.resp())
            .await
            .context("cannot start the RESP listener (broker.resp_port)")?
            .spawn();
        let sessions = FileSessionStore::new(&config.gateway.session_dir).with_context(|| {
            format!(
                "gateway.session_dir = {}",
                config.gateway.session_dir.display()
            )
        })?;
        return Ok(Backend {
            broker: Arc::new(broker),
            resp: Some(resp),
            sessions: Arc::new(sessions),
            kv: None,
        });
    }
    let options = config.broker.options();
    let broker = switchyard_broker::connect(&config.broker.url, &options)
        .await
        .map_err(|e| anyhow::anyhow!("broker.url: {e}"))?;
    let kv = switchyard_broker::kv::open(
        &config.broker.url,
        &options,
        &config.gateway.session_dir.join("sessions.json"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("session store beside broker.url: {e}"))?;
    Ok(Backend {
        broker,
        resp: None,
        sessions: Arc::new(KvSessionStore::new(kv.clone())),
        kv: Some(kv),
    })
}

pub async fn run(mut config: Config, args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(port) = args.resp_port {
        config.broker.resp_port = port;
    }
    if let Some(addr) = args.admin {
        config.admin.bind = addr;
    }
    if let Some(profile) = args.profile {
        config.gateway.profile = profile;
    }
    let gateway = config.gateway.library(None)?;
    let metrics = admin::install_metrics()?;
    let backend = backend(&config).await?;
    let mut rest_config = config.rest.to_config();
    rest_config.upstream = config.gateway.api_url.clone();
    let rest = RestClient::new(rest_config)
        .await
        .context("gateway.api_url / [rest]")?;
    let deps = GatewayDeps {
        broker: backend.broker.clone(),
        rest,
        sessions: backend.sessions.clone(),
        shared: backend.kv.clone(),
    };
    let pooled = config.gateway.pool;
    let mut gw = if pooled {
        switchyard_gateway::start_empty(gateway, deps).await
    } else {
        switchyard_gateway::start(gateway, deps).await
    }
    .context("cannot start the gateway")?;
    let pool = match (&backend.kv, pooled) {
        (_, false) => None,
        (None, true) => anyhow::bail!(
            "gateway.pool needs a broker and key-value store shared by every process: set broker.url to redis://… or nats://…"
        ),
        (Some(kv), true) => Some(
            switchyard_gateway::pool::join(
                gw.bot(),
                gw.shard_handle(),
                backend.broker.clone(),
                kv.clone(),
                config.gateway.pool(),
            )
            .await
            .context("cannot join the shard pool")?,
        ),
    };
    let pool_status = pool.as_ref().map(|p| p.status_fn());
    let control =
        switchyard_gateway::control::start(backend.broker.clone(), config.control.library())
            .await
            .context("cannot start service control on control.gateway")?;
    let control_status = control.status_fn();
    let gw_status = gw.status_fn();
    let resp_addr = backend.resp.as_ref().map(|r| r.local_addr());
    let url = crate::redact::redact_url(&config.broker.url);
    let status: admin::StatusFn = Arc::new(move || {
        let control = control_status();
        serde_json::json!({
            "gateway": gw_status(),
            "services": control["services"],
            "pool": pool_status.as_ref().map(|f| f()),
            "proxied": control["proxied"],
            "broker": {
                "url": url,
                "resp": resp_addr.map(|a| format!("redis://{a}")),
            },
        })
    });
    let admin_addr = admin::serve(&config.admin, "run", metrics, status).await?;
    match resp_addr {
        Some(a) => println!(
            "switchyard run: bot {} on the embedded broker (RESP on redis://{a}), admin on http://{admin_addr}",
            gw.bot()
        ),
        None => println!(
            "switchyard run: bot {} on {}, admin on http://{admin_addr}",
            gw.bot(),
            crate::redact::redact_url(&config.broker.url)
        ),
    }
    let fatal = tokio::select! {
        _ = shutdown_signal() => None,
        errors = gw.stopped() => Some(errors),
    };
    tracing::info!("shutting down");
    drop(control);
    if let Some(pool) = pool {
        pool.leave().await;
    }
    gw.shutdown().await;
    if let Some(resp) = backend.resp {
        resp.shutdown().await;
    }
    match fatal {
        Some(errors) if !errors.is_empty() => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            Ok(ExitCode::FAILURE)
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
