//! The options of `switchyard soak`: the chaos soak of durable delivery.

use clap::Args;

use super::BenchBackend;

/// `switchyard soak`.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long faults are injected, in seconds (the load runs as long; the settling after
    /// comes on top). 1800 is the recorded run of RELIABILITY.md.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub seconds: u64,
    /// Events per second the fake Discord sends across all shards.
    #[arg(long, default_value_t = 300, value_name = "N")]
    pub rate: u64,
    /// Shards of the bot, shared by the three nodes of the pool.
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub shards: u32,
    /// A fault every this many milliseconds on average (each 0.5–1.5 times it).
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    pub fault_every_ms: u64,
    /// Seed of the fault schedule (default: random, printed so that a run can be repeated).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Brokers to soak, comma-separated: `redis` (Streams) and `nats` (JetStream); both by
    /// default.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub only: Vec<BenchBackend>,
    /// Keep the run's directory (processes' logs, consumers' records) instead of removing it.
    #[arg(long)]
    pub keep: bool,
}
