//! The command line: global options and one variant per subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod bench;
mod dlq;
mod soak;
pub use bench::{BenchArgs, BenchBackend};
pub use dlq::{DlqArgs, DlqOp, DlqSelect};
pub use soak::SoakArgs;

/// Switchyard: a message gateway and router for Discord bots.
///
/// The gateway holds Discord's shards and publishes every event on topics such as
/// `inbound.discord.{guild}.{channel}.{user}`; bots in any language subscribe by pattern and
/// answer on `outbound.discord.{guild}.{channel}.{user}`.
#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables `SWITCHYARD_{SECTION}_{KEY}` override
    /// it, and command-line flags override both.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "SWITCHYARD_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Log filter, such as `info` or `switchyard=debug` (default: `RUST_LOG`, else `info`).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded broker with its Redis-protocol (RESP) listener, so that any Redis
    /// client can publish and subscribe without a Redis server.
    Broker(BrokerArgs),
    /// Subscribe to a pattern and print each message as it arrives.
    ///
    /// Patterns use `*` for one segment and `>` for one or more trailing segments, e.g.
    /// `inbound.discord.>` or `inbound.discord.*.381870553235193857.*`.
    Tail(TailArgs),
    /// Publish one message on a topic.
    Publish(PublishArgs),
    /// Run the Discord REST proxy: every route forwarded, rate limited so that Discord never
    /// answers 429 (point twilight's `proxy` or discord.py's `Route.BASE` at it).
    RestProxy(RestProxyArgs),
    /// Run the gateway: Discord shards to broker topics (`inbound.discord.{guild}.{channel}.
    /// {user}`), outbound topics to Discord REST. The token comes from DISCORD_TOKEN or
    /// `gateway.token`; the embedded broker (with its RESP port) is the default.
    ///
    /// With `interactions.enabled`, it also serves Discord's HTTP interactions endpoint:
    /// signed interactions published on the same topics, the bot's callbacks as the HTTP
    /// answers (docs/interactions.md).
    /// IRC networks configured as `[[irc]]` tables are held beside the shards: messages on
    /// `inbound.irc.{network}.{channel}.{nick}`, answers on `outbound.irc.…` (docs/irc.md).
    ///
    /// Transport compression: zstd-stream; zlib-stream in a
    /// `--no-default-features --features zlib` build.
    Run(RunArgs),
    /// The whole system in one command: a fake Discord, the embedded broker, the gateway and
    /// an echo bot; shows a few round trips, then lets you type messages as a Discord user.
    Demo(DemoArgs),
    /// Run the fake Discord: gateway and REST on one port, with a test-control API under
    /// `/_sim/`. Real clients (twilight, discord.py, hikari, discord.js) work against it
    /// unchanged.
    Sim(SimArgs),
    /// Measure the gateway against the fake Discord's realistic payload mix: CPU time per
    /// event, events/s and fake-to-consumer latency on each broker, and resident memory with
    /// idle shards. Starts private redis-server and nats-server processes unless given URLs.
    Bench(BenchArgs),
    /// Show a running gateway's shards (state, latency, sequence) and the services that have
    /// identified, read from its admin listener.
    Status(StatusArgs),
    /// Tell a service (every instance, or one) to shut down or restart: SHUTDOWN or REBOOT
    /// on `control.{service}`.
    Control(ControlArgs),
    /// Serve a bot as Discord would, so that unmodified bots (discord.py, discord.js,
    /// twilight…) connect to Switchyard instead: a Discord-compatible gateway and REST API
    /// on one port, in front of the gateway processes of one bot. Reads the bot's events
    /// from the broker and its state from the gateways' admin listeners (`--cache`).
    /// `switchyard run` serves the same face itself with `face.enabled = true`.
    Face(FaceArgs),
    /// Operate on the shards of a shard pool (`gateway.pool = true`): `move` hands a healthy
    /// shard to another node, which RESUMEs it (nothing lost, no IDENTIFY).
    Shards(ShardsArgs),
    /// Operate on the nodes of a shard pool: `drain` moves every shard off a node, which
    /// stays up, empty, until `undrain` (for an upgrade: drain, stop, start, undrain).
    Node(NodeArgs),
    /// Read and settle the dead letters of durable mode (Redis Streams, JetStream): the
    /// messages a durable group did not acknowledge within `max_deliver` deliveries.
    /// `list` the streams, `show` the letters, `replay` them on their topics, `purge` them.
    Dlq(DlqArgs),
    /// Prove that durable delivery loses nothing under chaos: a three-node shard pool and a
    /// durable group of three consumers on a private Redis (Streams) and NATS (JetStream),
    /// while the fake Discord injects RECONNECTs, INVALID_SESSIONs, close codes, TCP drops and
    /// lost heartbeat ACKs, and gateways, consumers and the broker are killed and restarted.
    /// At the end every event of every session is checked against what the group received;
    /// exits 1 when one was lost or a gap was not reported.
    Soak(SoakArgs),
    /// Load the configuration (`--config` and `SWITCHYARD_…` variables) and check it as
    /// `run`, `face` and `rest-proxy` would at start, without starting anything. Tokens may
    /// be missing (they come from the environment at run time).
    CheckConfig,
}

/// Which pool to ask, and where.
#[derive(Debug, Args)]
pub struct PoolTarget {
    /// The admin listener of any `switchyard run` of the pool (default: `admin.bind`). A node
    /// that does not coordinate passes the request on to the one that does. Its token comes
    /// from `admin.token` / SWITCHYARD_ADMIN_TOKEN.
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin: Option<std::net::SocketAddr>,
    /// The bot whose pool it is (default: `gateway.bot` of the configuration).
    #[arg(long)]
    pub bot: Option<String>,
}

/// `switchyard shards`.
#[derive(Debug, Args)]
pub struct ShardsArgs {
    /// What to do.
    #[command(subcommand)]
    pub op: ShardsOp,
}

/// What `switchyard shards` does.
#[derive(Debug, Subcommand)]
pub enum ShardsOp {
    /// Move a shard to another node: the node running it closes it resumably and saves it,
    /// then the target RESUMEs it. Node ids are in `switchyard status` (pool).
    Move {
        /// The shard id.
        shard: u32,
        /// The node to run it.
        #[arg(long, value_name = "NODE")]
        to: String,
        #[command(flatten)]
        target: PoolTarget,
    },
}

/// `switchyard node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// What to do.
    #[command(subcommand)]
    pub op: NodeOp,
}

/// What `switchyard node` does.
#[derive(Debug, Subcommand)]
pub enum NodeOp {
    /// Move every shard off a node, a few at a time; it stays up and gets no shard until
    /// undrained.
    Drain {
        /// The node id.
        node: String,
        #[command(flatten)]
        target: PoolTarget,
    },
    /// Let a drained node run shards again (the pool moves some to it to even the load).
    Undrain {
        /// The node id.
        node: String,
        #[command(flatten)]
        target: PoolTarget,
    },
}

/// `switchyard face`.
#[derive(Debug, Args)]
pub struct FaceArgs {
    /// Address to listen on (default 127.0.0.1:7878).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<std::net::SocketAddr>,
    /// Admin listener of a gateway process of the bot (`http://host:port`), whose cache API
    /// the face reads; repeat for more nodes of a shard pool (tried in turn).
    #[arg(long, value_name = "URL")]
    pub cache: Vec<String>,
    /// Print a new client token for the bot with this user id, in Discord's form, and exit
    /// (put it in `face.tokens`).
    #[arg(long, value_name = "BOT_USER_ID")]
    pub mint_token: Option<u64>,
}

/// Options of `switchyard status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The admin listener of the `switchyard run` to ask (default: `admin.bind`, normally
    /// 127.0.0.1:7380). Its token comes from `admin.token` / SWITCHYARD_ADMIN_TOKEN.
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin: Option<std::net::SocketAddr>,
    /// Print the raw `/status` JSON.
    #[arg(long)]
    pub json: bool,
    /// Ask again every SECS seconds (2 if no value is given) until Ctrl-C: redrawn in place
    /// on a terminal, one block after another otherwise.
    #[arg(long, short = 'w', value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<u64>,
}

/// Options of `switchyard control`.
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// What to send.
    #[arg(value_enum)]
    pub op: LifecycleOp,
    /// The service's name, as in its IDENTIFY (for the SDK: the bot's name).
    pub service: String,
    /// Only this instance (default: every instance of the service).
    #[arg(long, short = 'i', value_name = "INSTANCE")]
    pub instance: Option<String>,
    /// A reason for the service's logs.
    #[arg(long, short = 'r', value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub client: BrokerClientArgs,
}

/// The lifecycle ops an operator can send.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LifecycleOp {
    /// Stop for good.
    Shutdown,
    /// Stop and start again.
    Reboot,
}

/// Where `tail` and `publish` reach the broker.
#[derive(Debug, Args)]
pub struct BrokerClientArgs {
    /// Broker URL: `redis://host:port` reaches a real Redis or a running `switchyard broker`
    /// alike; `nats://host:port` reaches NATS; `zmq://host:7381?pull=7382` reaches a
    /// switchyard's ZeroMQ endpoints (default: the `broker.url` setting unless it is
    /// `embedded`, else redis://127.0.0.1:7379, the embedded broker's RESP port).
    #[arg(long, short = 'b', value_name = "URL")]
    pub broker: Option<String>,
    /// Use the broker's durable mode: Redis Streams consumer groups on redis://, JetStream on
    /// nats:// (same as `?durable=streams` / `?durable=jetstream` or `broker.durable`).
    #[arg(long)]
    pub durable: bool,
}

/// Options of `switchyard broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Port of the RESP listener (default 7379; 0 picks a free one).
    #[arg(long, value_name = "PORT")]
    pub resp_port: Option<u16>,
    /// Address of the RESP listener (default 127.0.0.1; any other address needs
    /// `broker.resp_password` or SWITCHYARD_BROKER_RESP_PASSWORD).
    #[arg(long, value_name = "ADDR")]
    pub resp_bind: Option<std::net::IpAddr>,
    /// Admin listener (`/metrics`, `/status`) address (default 127.0.0.1:7380).
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin: Option<std::net::SocketAddr>,
}

/// Options of `switchyard tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The pattern to subscribe to.
    pub pattern: String,
    #[command(flatten)]
    pub client: BrokerClientArgs,
    /// Print one JSON object per line, `{"topic": …, "payload": …}`, instead of a readable
    /// block (the payload is embedded as JSON when it is JSON, else as a string).
    #[arg(long)]
    pub json: bool,
    /// Print a readable block per message (the default): the topic, the event, sequence and
    /// source of an envelope, then the payload as indented JSON.
    #[arg(long, conflicts_with = "json")]
    pub pretty: bool,
    /// Only envelopes of this event (`MESSAGE_CREATE`, …; case does not matter); repeat it
    /// for several. Messages that are not envelopes are left out too.
    #[arg(long, short = 'e', value_name = "TYPE")]
    pub event: Vec<String>,
    /// Exit after this many messages.
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Join this worker group: each message goes to one member. With --durable, a durable
    /// group whose messages are acknowledged after printing and redelivered if not.
    #[arg(long, short = 'g', value_name = "NAME")]
    pub group: Option<String>,
}

/// Options of `switchyard sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Port for gateway and REST (default 8765; 0 picks a free one).
    #[arg(long, short = 'p', value_name = "PORT")]
    pub port: Option<u16>,
    /// Address to bind (default 127.0.0.1). Any other address requires --token, so that only
    /// that bot can connect.
    #[arg(long, value_name = "ADDR")]
    pub host: Option<std::net::IpAddr>,
    /// Accept only this bot token (default: any token, each its own bot).
    #[arg(
        long,
        env = "SWITCHYARD_SIM_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Shard count reported by GET /gateway/bot.
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Number of generated guilds.
    #[arg(long, value_name = "N")]
    pub guilds: Option<usize>,
    /// Seed of the generated world (same seed, same world).
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// Play this scenario file (TOML if it ends in .toml, JSON if .json) once: it starts
    /// when the first client session has received READY and its GUILD_CREATEs, and its
    /// `at_ms` times count from then. The file is checked before the sim starts; a bad one
    /// is an error. The sim keeps serving after the last step.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<std::path::PathBuf>,
}

/// Options of `switchyard publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The topic, such as `outbound.discord.1.2.3`.
    pub topic: String,
    /// The payload; `-` reads it from standard input.
    pub payload: String,
    /// Deduplication id (such as an envelope's `id`): in durable mode a second publish with
    /// the same id is dropped.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    #[command(flatten)]
    pub client: BrokerClientArgs,
}

/// Options of `switchyard rest-proxy`.
#[derive(Debug, Args)]
pub struct RestProxyArgs {
    /// Port of the proxy (default 7381; 0 picks a free one).
    #[arg(long, short = 'p', value_name = "PORT")]
    pub port: Option<u16>,
    /// Where requests go (default https://discord.com; the fake Discord in tests).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Address to bind (default 127.0.0.1; any other address needs `rest.secret`).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<std::net::IpAddr>,
    /// Share rate limits with every node using this Redis (`redis://host:port`).
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Answer a synthetic 429 at once instead of queueing.
    #[arg(long)]
    pub fail_fast: bool,
    /// Admin listener (`/metrics`, `/status`) address (default 127.0.0.1:7380).
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin: Option<std::net::SocketAddr>,
}

/// Options of `switchyard run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Port of the embedded broker's RESP listener (default `broker.resp_port`, 7379).
    #[arg(long, value_name = "PORT")]
    pub resp_port: Option<u16>,
    /// Admin listener (`/metrics`, `/status`) address (default 127.0.0.1:7380).
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin: Option<std::net::SocketAddr>,
    /// `default` or `bytebot` (overrides `gateway.profile`).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
}

/// Options of `switchyard demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the scripted messages only, and exit 0 only if every reply arrived.
    #[arg(long)]
    pub once: bool,
    /// Port of the embedded broker's RESP listener (default: a free port).
    #[arg(long, value_name = "PORT")]
    pub resp_port: Option<u16>,
    /// Admin listener address (default 127.0.0.1:7380, or a free port if taken).
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin: Option<std::net::SocketAddr>,
}
