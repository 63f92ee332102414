//! The options of `switchyard bench`: the backends it measures and its cases.

use clap::Args;

/// A broker set-up measured by `switchyard bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    /// The embedded broker, consumer in the same process.
    Embedded,
    /// The embedded broker, consumer a Redis client on its RESP listener.
    Resp,
    /// A Redis server (pub/sub).
    Redis,
    /// A NATS server (core NATS).
    Nats,
}

/// Options of `switchyard bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events per measured run; each backend gets a fixed-rate run (latency) and a full-speed
    /// run (throughput) of this many events.
    #[arg(long, default_value_t = 100_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// Rate of the fixed-rate (latency) run, in events per second across all shards.
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub rate: u64,
    /// Shards of the load runs.
    #[arg(long, default_value_t = 16, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub shards: u32,
    /// Shards of the resident-memory measurement, connected and left idle (0 skips it).
    #[arg(long, default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=2048))]
    pub idle_shards: u32,
    /// How often the gateway saves its shards' sessions during the load runs, in
    /// milliseconds (as `gateway.session_save_ms`), to measure what saving more often costs.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = switchyard_gateway::DEFAULT_SESSION_SAVE_INTERVAL.as_millis() as u64)]
    pub session_save_ms: u64,
    /// Keep each shard's cache during the load runs (as `[gateway.cache] enabled = true`,
    /// every resource), to measure what it costs per event.
    #[arg(long)]
    pub cache: bool,
    /// Backends to measure, comma-separated (default: all four).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub only: Vec<BenchBackend>,
    /// Use this Redis (`redis://host:port`) instead of starting a private redis-server.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Use this NATS (`nats://host:port`) instead of starting a private nats-server.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Measure the cache's query API instead: prefix searches on a guild of `--members`
    /// members, then HTTP queries at `--query-rate` a second for `--query-secs` seconds, then
    /// the same reads over gRPC.
    #[arg(long)]
    pub queries: bool,
    /// Members of the guild of `--queries`.
    #[arg(long, default_value_t = 250_000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=5_000_000))]
    pub members: u32,
    /// Queries a second of `--queries` (HTTP, then gRPC).
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub query_rate: u64,
    /// Seconds of each load of `--queries`.
    #[arg(long, default_value_t = 10, value_name = "S",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub query_secs: u64,
    /// Measure the Discord-compatible face instead: clients reading the fake's mix through
    /// the face of a gateway on the embedded broker (events/s, CPU, latency, memory).
    #[arg(long)]
    pub face: bool,
    /// Client counts of `--face`, comma-separated: each client on virtual shard `[i, n]`
    /// (or all on `[0, 1]` with `--face-fanout`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        default_value = "1,10,50"
    )]
    pub face_clients: Vec<usize>,
    /// Every client of `--face` on `[0, 1]`: each gets every event.
    #[arg(long)]
    pub face_fanout: bool,
    /// Idle clients of `--face`'s memory measurement (0 skips it).
    #[arg(long, default_value_t = 500, value_name = "N",
          value_parser = clap::value_parser!(u64).range(0..=900))]
    pub face_idle_clients: u64,
    /// Events of `--face`'s replay-buffer memory measurement (the face keeps at least
    /// 8192 a session).
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub face_replay: u64,
    /// Internal: run `--face-child-clients` face clients against this URL (the memory
    /// measurement's child process).
    #[arg(long, hide = true, value_name = "URL")]
    pub face_child: Option<String>,
    /// Internal: see `--face-child`.
    #[arg(long, hide = true, default_value_t = 1)]
    pub face_child_clients: usize,
    /// Measure the REST proxy instead, against the fake Discord directly and (with
    /// `--twilight-proxy`) twilight's http-proxy: requests/s, CPU per request, memory by
    /// round, latency.
    #[arg(long)]
    pub rest_proxy: bool,
    /// Measure live migration instead: two `switchyard run` nodes sharing `--shards` shards
    /// under `--rate` events/s on Redis Streams and JetStream; `--moves` moves, a drain and a
    /// kill -9, with the handover gaps and what was lost or delivered twice.
    #[arg(long)]
    pub migration: bool,
    /// Moves of `--migration`.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub moves: u32,
    /// twilight's http-proxy binary for `--rest-proxy` (built from its source with the
    /// upstream read from `DISCORD_API_BASE`; see BENCHMARKS.md).
    #[arg(long, value_name = "PATH")]
    pub twilight_proxy: Option<std::path::PathBuf>,
    /// Another `switchyard` binary whose rest-proxy `--rest-proxy` measures beside this one
    /// (an older build, to compare).
    #[arg(long, value_name = "PATH")]
    pub rest_baseline: Option<std::path::PathBuf>,
    /// Tokens the `--rest-proxy` load spreads its requests over.
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tokens: u32,
    /// Rounds of the `--rest-proxy` case with Discord-like limits.
    #[arg(long, default_value_t = 3, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// Rounds of the `--rest-proxy` case with the limits lifted.
    #[arg(long, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub lifted_rounds: u32,
    /// Seconds of each `--rest-proxy` round, per target.
    #[arg(long, default_value_t = 5, value_name = "S",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub round_secs: u64,
}
