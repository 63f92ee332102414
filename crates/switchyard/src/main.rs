//! `switchyard`: the one binary. Parses the command line, loads the configuration, installs
//! logging and metrics, and runs a subcommand (one module per subcommand under `cmd/`).

mod admin;
mod cli;
mod cmd;
mod config;
// The face's state sources, wired by the face's command (to come).
mod face_source;
mod progress;
mod redact;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.log.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` or `--log` picks the level (info by default). Colours only
/// on a terminal: a log file or journald gets plain text. On a terminal, each log line is
/// written around the shard startup progress line (`progress`).
fn init_tracing(filter: Option<&str>) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let spec = filter
        .map(str::to_owned)
        .or_else(|| std::env::var("RUST_LOG").ok());
    let mut filter = EnvFilter::new(spec.as_deref().unwrap_or("info"));
    // async-nats logs every JetStream API answer at debug, stored values among them (saved
    // sessions, cache snapshots of megabytes): at debug and beyond it stays at info unless
    // the filter names it.
    let names_nats = spec.as_deref().is_some_and(|s| s.contains("async_nats"));
    if !names_nats
        && filter
            .max_level_hint()
            .is_some_and(|l| l > tracing_subscriber::filter::LevelFilter::INFO)
        && let Ok(quiet) = "async_nats=info".parse()
    {
        filter = filter.add_directive(quiet);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match std::io::stderr().is_terminal() {
        true => builder
            .with_writer(progress::LogWriter)
            .with_ansi(true)
            .init(),
        false => builder.with_writer(std::io::stderr).with_ansi(false).init(),
    }
}
