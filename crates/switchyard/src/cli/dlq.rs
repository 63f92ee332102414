//! The options of `switchyard dlq`: the dead letters of durable mode.

use clap::{Args, Subcommand};

/// `switchyard dlq`.
#[derive(Debug, Args)]
pub struct DlqArgs {
    /// Broker URL, in durable mode whatever its query says: `redis://host:port` for Redis
    /// Streams, `nats://host:port` for JetStream (default: the `broker.url` setting). The
    /// stream names and prefixes come from `broker.durable`.
    #[arg(long, short = 'b', value_name = "URL", global = true)]
    pub broker: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub op: DlqOp,
}

/// Which dead letters an operation takes (all by default).
#[derive(Debug, Args)]
pub struct DlqSelect {
    /// Only the letter with this id (as `show` prints it); repeat for more.
    #[arg(long, value_name = "ID")]
    pub id: Vec<String>,
    /// Only letters of this group.
    #[arg(long, short = 'g', value_name = "NAME")]
    pub group: Option<String>,
    /// At most this many, oldest first.
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
}

/// What `switchyard dlq` does.
#[derive(Debug, Subcommand)]
pub enum DlqOp {
    /// The dead-letter streams, with how many letters each holds, per group.
    List {
        /// One JSON object per stream.
        #[arg(long)]
        json: bool,
    },
    /// The letters: id, reason, original topic, group, delivery count, envelope id and a
    /// readable excerpt of the payload (20 unless --limit says otherwise).
    Show {
        #[command(flatten)]
        select: DlqSelect,
        /// One JSON object per letter, with the whole payload (embedded as JSON when it is
        /// JSON, else as a string).
        #[arg(long)]
        json: bool,
    },
    /// Publish the letters again on their original topics (every group reading the topic
    /// gets them as new messages), removing each only once the broker has it back.
    Replay {
        #[command(flatten)]
        select: DlqSelect,
    },
    /// Delete the letters for good.
    Purge {
        #[command(flatten)]
        select: DlqSelect,
        /// Really delete (without it, only says how many would go).
        #[arg(long)]
        yes: bool,
    },
}
