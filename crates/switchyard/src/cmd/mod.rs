//! One module per subcommand; [`run`] dispatches.

mod bench;
mod broker;
mod check_config;
mod client;
mod control;
mod demo;
mod dlq;
mod face;
mod pool;
mod publish;
mod rest_proxy;
mod run;
mod sim;
mod soak;
mod status;
mod tail;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::Config;

/// Loads the configuration and runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Broker(args) => broker::run(config, args).await,
        Command::Tail(args) => tail::run(config, args).await,
        Command::Publish(args) => publish::run(config, args).await,
        Command::RestProxy(args) => rest_proxy::run(config, args).await,
        Command::Run(args) => run::run(config, args).await,
        Command::Demo(args) => demo::run(config, args).await,
        Command::Sim(args) => sim::run(config, args).await,
        Command::Bench(args) => bench::run(config, args).await,
        Command::Status(args) => status::run(config, args).await,
        Command::Control(args) => control::run(config, args).await,
        Command::Face(args) => face::run(config, args).await,
        Command::Shards(args) => pool::shards(config, args).await,
        Command::Node(args) => pool::node(config, args).await,
        Command::Dlq(args) => dlq::run(config, args).await,
        Command::Soak(args) => soak::run(args).await,
        Command::CheckConfig => check_config::run(config).await,
    }
}
