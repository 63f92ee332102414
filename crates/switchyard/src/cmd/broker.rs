//! `switchyard broker`: the embedded broker with its RESP listener (and ZeroMQ endpoints when
//! `broker.zmq_pub` / `broker.zmq_pull` are set) and the admin listener,
//! until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::embedded::resp::RespServer;
use switchyard_broker::embedded::zmq::ZmqServer;

use crate::admin;
use crate::cli::BrokerArgs;
use crate::config::Config;

pub async fn run(mut config: Config, args: BrokerArgs) -> anyhow::Result<ExitCode> {
    if let Some(port) = args.resp_port {
        config.broker.process.resp_port = port;
    }
    if let Some(bind) = args.resp_bind {
        config.broker.process.resp_bind = bind;
    }
    if let Some(addr) = args.admin {
        config.admin.bind = addr;
    }
    let metrics = admin::install_metrics()?;
    let broker = EmbeddedBroker::new(config.broker.embedded());
    let resp = RespServer::bind(&broker, config.broker.resp())
        .await
        .context("cannot start the RESP listener (broker.resp_port / --resp-port)")?;
    let resp_addr = resp.local_addr();
    let running = resp.spawn();
    let zmq = match config.broker.zmq() {
        Some(zmq) => Some(
            ZmqServer::bind(&broker, zmq)
                .await
                .context("cannot start the ZeroMQ endpoints (broker.zmq_pub, broker.zmq_pull)")?
                .spawn(),
        ),
        None => None,
    };
    let zmq_addrs = zmq.as_ref().map(|z| (z.pub_addr(), z.pull_addr()));

    let status_broker = broker.clone();
    let status: admin::StatusFn = Arc::new(move || {
        let stats = status_broker.stats();
        serde_json::json!({
            "broker": {
                "backend": "embedded",
                "resp": format!("redis://{resp_addr}"),
                "zmq": zmq_addrs.map(|(p, q)| serde_json::json!({
                    "pub": format!("tcp://{p}"),
                    "pull": format!("tcp://{q}"),
                })),
                "subscriptions": stats.subscriptions,
                "published": stats.published,
                "delivered": stats.delivered,
                "dropped": stats.dropped,
            }
        })
    });
    let admin_addr = admin::serve(
        &config.admin,
        "broker",
        metrics,
        status,
        admin::Parts::default(),
    )
    .await?;

    // The first line on stdout is the address, for scripts and tests.
    println!("switchyard broker: RESP on redis://{resp_addr}, admin on http://{admin_addr}");
    eprintln!(
        "try: redis-cli -p {} PSUBSCRIBE 'inbound.*'   and   switchyard publish --broker redis://{resp_addr} inbound.discord.1.2.3 hello",
        resp_addr.port()
    );
    if let Some((p, q)) = zmq_addrs {
        println!("switchyard broker: ZeroMQ PUB on tcp://{p}, PULL on tcp://{q}");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    if let Some(zmq) = zmq {
        zmq.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
