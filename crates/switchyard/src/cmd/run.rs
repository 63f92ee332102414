//! `switchyard run`: the gateway. Discord shards to broker topics and outbound topics to
//! Discord, on the embedded broker (with its RESP port) by default, with the admin listener
//! serving per-shard status on `/status`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use switchyard_broker::Broker;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::embedded::resp::{RespServer, RunningRespServer};
use switchyard_broker::embedded::zmq::{RunningZmqServer, ZmqServer};
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
    /// Its ZeroMQ endpoints, when `broker.zmq_pub` / `broker.zmq_pull` are set.
    pub zmq: Option<RunningZmqServer>,
    /// The session store.
    pub sessions: Arc<dyn SessionStore>,
    /// The shared key-value store (Redis or NATS; none beside the embedded broker).
    pub kv: Option<Arc<dyn KvStore>>,
}

/// Opens the configured broker: embedded (with its RESP listener and a file session store),
/// or Redis/NATS (with their key-value store for sessions).
pub async fn backend(config: &Config) -> anyhow::Result<Backend> {
    if config.broker.process.url == "embedded" {
        let broker = EmbeddedBroker::new(config.broker.embedded());
        let resp = RespServer::bind(&broker, config.broker.resp())
            .await
            .context("cannot start the RESP listener (broker.resp_port)")?
            .spawn();
        let zmq = match config.broker.zmq() {
            Some(zmq) => Some(
                ZmqServer::bind(&broker, zmq)
                    .await
                    .context("cannot start the ZeroMQ endpoints (broker.zmq_pub, broker.zmq_pull)")?
                    .spawn(),
            ),
            None => None,
        };
        let sessions =
            FileSessionStore::new(&config.gateway.process.session_dir).with_context(|| {
                format!(
                    "gateway.session_dir = {}",
                    config.gateway.process.session_dir.display()
                )
            })?;
        return Ok(Backend {
            broker: Arc::new(broker),
            resp: Some(resp),
            zmq,
            sessions: Arc::new(sessions),
            kv: None,
        });
    }
    let options = config.broker.options.clone();
    let broker = switchyard_broker::connect(&config.broker.process.url, &options)
        .await
        .map_err(|e| anyhow::anyhow!("broker.url: {e}"))?;
    let kv = switchyard_broker::kv::open(
        &config.broker.process.url,
        &options,
        &config.gateway.process.session_dir.join("sessions.json"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("session store beside broker.url: {e}"))?;
    Ok(Backend {
        broker,
        resp: None,
        zmq: None,
        sessions: Arc::new(KvSessionStore::new(kv.clone())),
        kv: Some(kv),
    })
}

/// Refuses a shard pool on a broker that other processes cannot share.
pub(super) fn check_pool_broker(config: &Config) -> anyhow::Result<()> {
    let url = &config.broker.process.url;
    if config.gateway.process.pool && (url == "embedded" || url.starts_with("zmq://")) {
        anyhow::bail!(
            "gateway.pool needs a broker and key-value store shared by every process: set broker.url to redis://… or nats://…"
        );
    }
    Ok(())
}

/// One bot of this process: its gateway and, in pool mode, its place in the pool.
struct BotRun {
    gateway: switchyard_gateway::RunningGateway,
    pool: Option<switchyard_gateway::pool::RunningPool>,
}

/// Starts one bot's gateway (empty in pool mode, then joins the pool).
async fn start_bot(
    gateway: switchyard_gateway::GatewayConfig,
    deps: GatewayDeps,
    config: &Config,
    backend: &Backend,
) -> anyhow::Result<BotRun> {
    let bot = gateway.bot.clone();
    let Some(kv) = backend.kv.clone().filter(|_| config.gateway.process.pool) else {
        let gateway = switchyard_gateway::start(gateway, deps)
            .await
            .with_context(|| format!("cannot start the gateway of bot {bot}"))?;
        return Ok(BotRun {
            gateway,
            pool: None,
        });
    };
    let gateway = switchyard_gateway::start_empty(gateway, deps)
        .await
        .with_context(|| format!("cannot start the gateway of bot {bot}"))?;
    let pool = switchyard_gateway::pool::join(
        gateway.bot(),
        gateway.shard_handle(),
        backend.broker.clone(),
        kv,
        switchyard_gateway::pool::PoolConfig {
            key: switchyard_gateway::services::control_key(config.control.key.as_ref()),
            ..config.gateway.pool()
        },
    )
    .await
    .with_context(|| format!("bot {bot} cannot join the shard pool"))?;
    Ok(BotRun {
        gateway,
        pool: Some(pool),
    })
}

pub async fn run(mut config: Config, args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(port) = args.resp_port {
        config.broker.process.resp_port = port;
    }
    if let Some(addr) = args.admin {
        config.admin.bind = addr;
    }
    if let Some(profile) = args.profile {
        use serde::Deserialize as _;
        let name = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(&profile);
        config.gateway.bot.profile = switchyard_gateway::Profile::deserialize(name)
            .map_err(|e| anyhow::anyhow!("--profile {profile:?}: {e}"))?;
    }
    let gateways = config.gateway.bot_configs(false)?;
    let face_bot = match config.face.enabled {
        true => {
            let bot = crate::cmd::face::face_bot(&config, &gateways)?;
            crate::cmd::face::check_events(&bot)?;
            Some(bot)
        }
        false => None,
    };
    check_pool_broker(&config)?;
    crate::config::control::check_unsigned(&config.control, &config.broker.process.url)?;
    let metrics = admin::install_metrics()?;
    let backend = backend(&config).await?;
    let mut rest_config = config.rest.config.clone();
    rest_config.upstream = config.gateway.process.api_url.clone();
    let rest = RestClient::new(rest_config)
        .await
        .context("gateway.api_url / [rest]")?;
    let mut bots = Vec::new();
    for gateway in gateways {
        let deps = GatewayDeps {
            broker: backend.broker.clone(),
            rest: rest.clone(),
            sessions: backend.sessions.clone(),
            shared: backend.kv.clone(),
        };
        bots.push(start_bot(gateway, deps, &config, &backend).await?);
    }
    let progress = {
        use std::io::IsTerminal as _;
        let counts: Vec<_> = bots.iter().map(|b| b.gateway.readiness_fn()).collect();
        let count = move || {
            counts
                .iter()
                .map(|f| f())
                .fold((0, 0), |(r, t), (ready, total)| (r + ready, t + total))
        };
        tokio::spawn(crate::progress::follow(
            count,
            std::io::stderr().is_terminal(),
        ))
    };
    let irc = switchyard_irc::start(config.irc.clone(), backend.broker.clone()).await?;
    let irc_status = irc.status_fn();
    let control =
        switchyard_gateway::services::start(backend.broker.clone(), config.control.clone())
            .await
            .context("cannot start service control on control.gateway")?;
    let control = Arc::new(control);
    let control_status = control.status_fn();
    let gw_status: Vec<_> = bots.iter().map(|b| b.gateway.status_fn()).collect();
    let pool_status: Vec<_> = bots
        .iter()
        .map(|b| b.pool.as_ref().map(|p| p.status_fn()))
        .collect();
    let resp_addr = backend.resp.as_ref().map(|r| r.local_addr());
    let zmq_addrs = backend.zmq.as_ref().map(|z| (z.pub_addr(), z.pull_addr()));
    let url = crate::redact::redact_url(&config.broker.process.url);
    // the face starts after the admin listener; its status joins once it serves
    type FaceStatusFn = Box<dyn Fn() -> switchyard_face::FaceStatus + Send + Sync>;
    let face_status: Arc<std::sync::OnceLock<FaceStatusFn>> = Arc::default();
    let face_slot = face_status.clone();
    let status_rest = rest.clone();
    let status: admin::StatusFn = Arc::new(move || {
        let control = control_status();
        let gateways: Vec<_> = gw_status.iter().map(|f| f()).collect();
        let pools: Vec<_> = pool_status
            .iter()
            .map(|f| f.as_ref().map(|f| f()))
            .collect();
        serde_json::json!({
            "gateway": gateways.first(),
            "gateways": gateways,
            "pool": pools.first().cloned().flatten(),
            "pools": pools,
            "services": control["services"],
            "proxied": control["proxied"],
            "broker": {
                "url": url,
                "resp": resp_addr.map(|a| format!("redis://{a}")),
                "zmq": zmq_addrs.map(|(p, q)| serde_json::json!({
                    "pub": format!("tcp://{p}"),
                    "pull": format!("tcp://{q}"),
                })),
            },
            "face": face_slot.get().map(|f| f()),
            "rest": {"limiter": status_rest.limiter().stats()},
            "irc": irc_status(),
        })
    });
    let caches: Vec<_> = bots
        .iter()
        .map(|b| match &b.pool {
            Some(pool) => b.gateway.cache_view().with_locator(pool.locator()),
            None => b.gateway.cache_view(),
        })
        .collect();
    let face_view = face_bot.as_ref().and_then(|bot| {
        let i = bots.iter().position(|b| b.gateway.bot() == bot.bot)?;
        caches.get(i).cloned()
    });
    let pool_admins = bots
        .iter()
        .filter_map(|b| {
            let pool = b.pool.as_ref()?;
            Some(admin::PoolAdmin {
                bot: b.gateway.bot().to_owned(),
                control: pool.control(),
                locator: pool.locator(),
            })
        })
        .collect();
    let probes = bots.iter().map(|b| Box::new(b.gateway.status_fn()) as _);
    let grpc_caches = caches.clone();
    let parts = admin::Parts {
        caches,
        pools: pool_admins,
        ready: Some(admin::gateway_probe(
            probes.collect(),
            backend.broker.clone(),
        )),
        control: Some(admin::ServiceControl {
            broker: backend.broker.clone(),
            key: switchyard_gateway::services::control_key(config.control.key.as_ref()),
        }),
        limiter: Some(rest.limiter().clone()),
        broker: Some(backend.broker.clone()),
    };
    let admin_addr = admin::serve(&config.admin, "run", metrics, status, parts).await?;
    let pools = bots.iter().filter_map(|b| b.pool.as_ref());
    match config.admin.advertised(admin_addr) {
        Some(url) => pools.for_each(|p| p.locator().advertise(url.clone())),
        None if bots.iter().any(|b| b.pool.is_some()) => tracing::warn!(
            bind = %admin_addr,
            "the admin listener binds a wildcard address: other nodes of the pool cannot forward cache queries here; set admin.advertise"
        ),
        None => {}
    }
    let face = match (&face_bot, face_view) {
        (Some(bot), Some(view)) => {
            // in a shard pool, the other nodes' caches answer through this node's admin
            // listener, which forwards to them
            let source: Arc<dyn switchyard_face::StateSource> = if config.gateway.process.pool {
                let own = format!("http://{admin_addr}");
                let remote = crate::face_source::RemoteSource::new(
                    &[own],
                    &bot.bot,
                    config.admin.token.clone(),
                )?;
                Arc::new(remote)
            } else {
                Arc::new(crate::face_source::LocalSource::new(view))
            };
            let started = crate::cmd::face::start(
                &config,
                bot,
                backend.broker.clone(),
                source,
                Some(rest.clone()),
            );
            let face = started.await?;
            let _ = face_status.set(Box::new(face.status_fn()));
            Some(face)
        }
        _ => None,
    };
    let interactions = match config.interactions.process.enabled {
        true => {
            let i = config
                .interactions
                .bot_index(bots.iter().map(|b| b.gateway.bot()))?;
            let serving = bots[i]
                .gateway
                .serve_interactions(&config.interactions.config);
            let endpoint = serving.await?;
            let (addr, path) = (endpoint.local_addr(), &config.interactions.config.path);
            crate::progress::say(format_args!(
                "switchyard run: interactions endpoint on http://{addr}{path}"
            ));
            Some(endpoint)
        }
        false => None,
    };
    let grpc = match config.grpc.enabled {
        true => {
            let parts = switchyard_api::GrpcParts {
                bots: bots
                    .iter()
                    .map(|b| Box::new(b.gateway.status_fn()) as _)
                    .collect(),
                caches: grpc_caches,
                control: Some(control.clone()),
                rest: bots.iter().map(|b| b.gateway.rest()).collect(),
            };
            let grpc = &config.grpc;
            let server = switchyard_api::serve(grpc.bind, grpc.token.as_deref(), parts).await?;
            let addr = server.local_addr();
            crate::progress::say(format_args!("switchyard run: gRPC on http://{addr}"));
            Some(server)
        }
        false => None,
    };
    let names: Vec<&str> = bots.iter().map(|b| b.gateway.bot()).collect();
    let names = names.join(", ");
    match resp_addr {
        Some(a) => crate::progress::say(format_args!(
            "switchyard run: bot {names} on the embedded broker (RESP on redis://{a}), admin on http://{admin_addr}"
        )),
        None => crate::progress::say(format_args!(
            "switchyard run: bot {names} on {}, admin on http://{admin_addr}",
            crate::redact::redact_url(&config.broker.process.url)
        )),
    }
    if let Some((p, q)) = zmq_addrs {
        crate::progress::say(format_args!(
            "switchyard run: ZeroMQ PUB on tcp://{p}, PULL on tcp://{q}"
        ));
    }
    // The process ends when every bot's shards have stopped by themselves (fatal closes),
    // or on a signal; one bot failing does not stop the others.
    let all_stopped = futures_util::future::join_all(bots.iter_mut().map(|b| b.gateway.stopped()));
    let fatal = tokio::select! {
        _ = shutdown_signal() => None,
        errors = all_stopped => Some(errors.concat()),
    };
    progress.abort();
    crate::progress::clear();
    tracing::info!("shutting down");
    if let Some(endpoint) = interactions {
        endpoint.shutdown().await;
    }
    if let Some(face) = face {
        face.shutdown().await;
    }
    if let Some(grpc) = grpc {
        grpc.shutdown().await;
    }
    drop(control);
    irc.shutdown().await;
    for bot in bots {
        if let Some(pool) = bot.pool {
            pool.leave().await;
        }
        bot.gateway.shutdown().await;
    }
    if let Some(resp) = backend.resp {
        resp.shutdown().await;
    }
    if let Some(zmq) = backend.zmq {
        zmq.shutdown().await;
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
