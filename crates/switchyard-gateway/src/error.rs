//! Typed errors of the gateway: what stopped it from starting, and what Discord answered
//! when it asked for the gateway URL or the bot's user. Each names the setting or call and
//! keeps its cause.

use switchyard_core::NameError;
use switchyard_core::control::ControlError;
use switchyard_rest::RestError;

use crate::session::SessionStoreError;

/// Why the gateway could not start, or an operation on it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// No token was given.
    #[error("invalid gateway configuration: no bot token: set DISCORD_TOKEN or gateway.token")]
    NoToken,
    /// `gateway.shards` is 0.
    #[error("invalid gateway configuration: gateway.shards must be at least 1")]
    NoShards,
    /// `gateway.shard_range` does not fit the shard count.
    #[error(
        "invalid gateway configuration: gateway.shard_range [{first}, {last}] is not within 0..{total}"
    )]
    ShardRange {
        /// The first shard of the range.
        first: u32,
        /// The last shard of the range.
        last: u32,
        /// The shard count.
        total: u32,
    },
    /// A shard outside the bot's shard count was asked for.
    #[error("invalid gateway configuration: shard {id} is not within 0..{total}")]
    NoSuchShard {
        /// The shard asked for.
        id: u32,
        /// The shard count.
        total: u32,
    },
    /// A topic or pattern made from the configuration (a bot or service name, the outbound
    /// pattern) is not valid.
    #[error("invalid gateway configuration: {what}: {source}")]
    Name {
        /// What the name is for.
        what: String,
        /// What is wrong with it.
        #[source]
        source: NameError,
    },
    /// A control message could not be built.
    #[error("invalid control message: {0}")]
    Control(#[from] ControlError),
    /// A call to Discord failed.
    #[error("{call} failed: {source}")]
    Discord {
        /// The call, such as `GET /gateway/bot`.
        call: &'static str,
        /// Why.
        #[source]
        source: DiscordError,
    },
    /// The broker refused a subscription.
    #[error("broker: {0}")]
    Broker(#[from] switchyard_broker::BrokerError),
    /// The session store failed.
    #[error(transparent)]
    Session(#[from] SessionStoreError),
}

impl GatewayError {
    /// A name made from the configuration that is not valid, for `what`.
    pub(crate) fn name(what: impl Into<String>) -> impl FnOnce(NameError) -> GatewayError {
        let what = what.into();
        move |source| GatewayError::Name { what, source }
    }
}

/// Why a call to Discord gave no usable answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscordError {
    /// The request did not get an answer.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// Discord answered with an error status.
    #[error("Discord answered {status}{hint}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What to do about it, when known (a rejected token).
        hint: &'static str,
        /// The start of the body.
        body: String,
    },
    /// The answer is not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The answer lacks a field.
    #[error("no `{0}` in the answer")]
    Missing(&'static str),
}

/// A shard that stopped by itself: Discord closed it with a code that cannot be resumed
/// (4004, 4010-4014), and the reason says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ShardStopped {
    /// The shard.
    pub shard: u32,
    /// Discord's close code, when it sent one.
    pub close_code: Option<u16>,
    /// What happened and what to do.
    pub reason: String,
}
