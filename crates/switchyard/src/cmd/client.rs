//! Connecting `tail` and `publish` to a broker chosen by URL: `redis://…` / `rediss://…`
//! (a real Redis or a running `switchyard broker`'s RESP port alike), `nats://…` or `zmq://…`
//! (a switchyard's ZeroMQ endpoints), with durable mode from `--durable`, the URL, or
//! `broker.durable`.

use std::sync::Arc;

use anyhow::Context as _;
use switchyard_broker::{Broker, BrokerUrl};

use crate::redact::redact_url;

use crate::cli::BrokerClientArgs;
use crate::config::Config;
use crate::config::broker::DEFAULT_RESP_PORT;

/// The broker URL `tail` and `publish` use: the flag, else `broker.url` unless it is
/// `embedded`, else the local embedded broker's RESP port.
pub fn broker_url(config: &Config, args: &BrokerClientArgs) -> anyhow::Result<String> {
    let url = match &args.broker {
        Some(url) => url.clone(),
        None if config.broker.process.url != "embedded" => config.broker.process.url.clone(),
        None => format!("redis://127.0.0.1:{}", config.broker.process.resp_port),
    };
    if url == "embedded" {
        anyhow::bail!(
            "the embedded broker lives inside a switchyard process; reach it through its RESP port, e.g. --broker redis://127.0.0.1:{DEFAULT_RESP_PORT}"
        );
    }
    BrokerUrl::parse(&url).with_context(|| format!("--broker {}", redact_url(&url)))?;
    Ok(url)
}

/// Connects to `url` with the `[broker]` settings (retries, limits, durable mode).
pub async fn connect(
    config: &Config,
    args: &BrokerClientArgs,
    url: &str,
) -> anyhow::Result<Arc<dyn Broker>> {
    let mut options = config.broker.options.clone();
    if args.durable {
        options.durable.enabled = true;
    }
    switchyard_broker::connect(url, &options)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
