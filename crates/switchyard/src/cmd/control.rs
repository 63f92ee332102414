//! `switchyard control shutdown|reboot SERVICE`: sends SHUTDOWN or REBOOT on
//! `control.{service}` through the broker, to every instance or one, signed with
//! `control.key` (`SWITCHYARD_CONTROL_KEY`) when it is set.

use std::process::ExitCode;

use switchyard_core::control::ControlOp;

use super::client;
use crate::cli::{ControlArgs, LifecycleOp};
use crate::config::Config;

pub async fn run(config: Config, args: ControlArgs) -> anyhow::Result<ExitCode> {
    let url = client::broker_url(&config, &args.client)?;
    let broker = client::connect(&config, &args.client, &url).await?;
    let op = match args.op {
        LifecycleOp::Shutdown => ControlOp::Shutdown,
        LifecycleOp::Reboot => ControlOp::Reboot,
    };
    let key = switchyard_gateway::services::control_key(config.control.key.as_ref());
    if key.is_none() {
        eprintln!(
            "warning: control.key is not set: sending {} unsigned (services that hold a key ignore it)",
            op.name()
        );
    }
    switchyard_gateway::services::send(
        broker.as_ref(),
        key.as_ref(),
        op,
        &args.service,
        args.instance.as_deref(),
        args.reason.as_deref(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot send {}: {e}", op.name()))?;
    // A publish is batched: without this, the process could exit with the message unsent.
    broker
        .flush()
        .await
        .map_err(|e| anyhow::anyhow!("cannot send {}: {e}", op.name()))?;
    let whom = match &args.instance {
        Some(i) => format!("instance {i} of {}", args.service),
        None => format!("every instance of {}", args.service),
    };
    eprintln!("sent {} to {whom} on control.{}", op.name(), args.service);
    Ok(ExitCode::SUCCESS)
}
