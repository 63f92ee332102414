//! `switchyard sim`: the fake Discord as a standalone server, until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use switchyard_sim::{Scenario, Sim};

use super::broker::shutdown_signal;
use crate::admin;
use crate::cli::SimArgs;
use crate::config::Config;

/// The default port of `switchyard sim`.
const DEFAULT_PORT: u16 = 8765;

pub async fn run(config: Config, args: SimArgs) -> anyhow::Result<ExitCode> {
    let mut sim = config.sim;
    if sim.port == 0 {
        sim.port = DEFAULT_PORT;
    }
    if let Some(port) = args.port {
        sim.port = port;
    }
    if let Some(host) = args.host {
        sim.host = host;
    }
    if args.token.is_some() {
        sim.token = args.token;
    }
    if let Some(shards) = args.shards {
        sim.shards = shards;
    }
    if let Some(guilds) = args.guilds {
        sim.world.guilds = guilds;
    }
    if let Some(seed) = args.seed {
        sim.world.seed = seed;
    }
    if !sim.host.is_loopback() && sim.token.is_none() {
        anyhow::bail!(
            "sim.host = {} is not a loopback address; pass --token (or set sim.token) so that only that bot can connect",
            sim.host
        );
    }
    // Check the scenario before binding anything, so that a bad file fails at once.
    let scenario = match &args.scenario {
        Some(path) => Some((path.display().to_string(), Scenario::from_path(path)?)),
        None => None,
    };
    let metrics = admin::install_metrics()?;
    let handle = Sim::start(sim)
        .await
        .context("cannot start the fake Discord (sim.port / --port)")?;
    let handle = Arc::new(handle);
    // The status page holds only a weak reference, so that shutdown can take the handle back.
    let status_handle = Arc::downgrade(&handle);
    let status: admin::StatusFn = Arc::new(move || {
        let Some(status_handle) = status_handle.upgrade() else {
            return serde_json::json!({"sim": "stopping"});
        };
        serde_json::json!({
            "sim": {
                "gateway": status_handle.gateway_url(),
                "rest": status_handle.api_url(),
                "counters": serde_json::to_value(status_handle.counters_summary()).unwrap_or_default(),
            }
        })
    });
    let admin_addr = admin::serve(
        &config.admin,
        "sim",
        metrics,
        status,
        admin::Parts::default(),
    )
    .await?;
    // One line: scripts read the URLs from the first line and the scenario from the second.
    println!(
        "switchyard sim: gateway {} REST {} control {}/_sim/ admin http://{admin_addr} interactions key {}",
        handle.gateway_url(),
        handle.api_url(),
        handle.http_url(),
        handle.interactions_public_key(),
    );
    if let Some((name, scenario)) = scenario {
        let steps = scenario.steps.len();
        let play = handle.play_when_ready(scenario);
        println!("switchyard sim: scenario {name} ({steps} steps) starts when a client is ready");
        tokio::spawn(async move {
            match play.await {
                Ok(Ok(ran)) => println!("switchyard sim: scenario {name} played ({ran} steps)"),
                Ok(Err(e)) => eprintln!("error: scenario {name}: {e}"),
                Err(e) => eprintln!("error: scenario {name} stopped: {e}"),
            }
        });
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    match Arc::try_unwrap(handle) {
        Ok(handle) => handle.shutdown().await,
        Err(_) => {
            tracing::warn!("a status request still holds the sim; exiting without a graceful close")
        }
    }
    Ok(ExitCode::SUCCESS)
}
