//! The SDK's errors: [`BotError`] for what a handler's helpers can fail with,
//! [`HandlerError`] for why one handler call did not succeed (reported to the error hook),
//! and [`ServeError`] for why [`crate::serve`] stopped.

use std::fmt;

use switchyard_broker::BrokerError;

/// Why a helper of the handler context failed (replying, a REST request...).
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The broker refused or could not take a message.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The event has no message to answer (for example a GUILD_CREATE has no channel).
    #[error("the {event} event has no {what} to answer")]
    NoTarget {
        /// The event name.
        event: String,
        /// What is missing: `channel` or `message`.
        what: &'static str,
    },
    /// No answer to a REST request arrived in time (is a gateway running on this broker?).
    #[error(
        "no answer to {what} within {timeout_ms} ms (is a switchyard gateway reading outbound.discord.> on this broker?)"
    )]
    Timeout {
        /// The request, `METHOD /path`.
        what: String,
        /// How long we waited.
        timeout_ms: u64,
    },
    /// Discord (or the gateway) refused the request.
    #[error("{what} failed with status {status}: {message}")]
    Rest {
        /// The request, `METHOD /path`.
        what: String,
        /// The HTTP status, `0` when the gateway could not send it at all.
        status: u16,
        /// Discord's or the gateway's message.
        message: String,
    },
    /// The gateway refused a gateway command, or Discord did (`kind` says why: `no_holder`,
    /// `queue_full`, `missing_intent`, `rate_limited`, `expired`...).
    #[error("the {command} command failed ({kind}): {message}")]
    Command {
        /// The command, such as `request_guild_members`.
        command: String,
        /// Why, as the gateway's answer names it.
        kind: switchyard_core::outbound::ErrorKind,
        /// The gateway's message.
        message: String,
        /// When to try again, if it says.
        retry_after_ms: Option<u64>,
    },
    /// The response did not have the expected shape.
    #[error("the response to {what} does not fit the expected type at `{path}`: {message}")]
    Response {
        /// The request, `METHOD /path`.
        what: String,
        /// The field that did not fit.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A request that cannot be built (bad topic name, body not serializable...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The bot is shutting down and no longer answers.
    #[error("the bot is shutting down")]
    Closed,
    /// What the handler asked for does not exist on the event's platform (Discord REST
    /// requests, reactions and edits on IRC).
    #[error("{what} are not available on {platform}")]
    Unsupported {
        /// The event's platform.
        platform: String,
        /// What was asked for.
        what: &'static str,
    },
}

/// A handler's own error: anything that converts into a boxed error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why one handler call failed. It goes to the bot's error hook ([`crate::Bot::on_error`]);
/// the bot keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The handler returned an error.
    #[error("{0}")]
    Failed(BoxError),
    /// The handler panicked; the panic was caught.
    #[error("the handler panicked: {0}")]
    Panicked(String),
    /// The event's payload does not fit the handler's type.
    #[error("the {event} payload does not fit {ty} at `{path}`: {message}")]
    Payload {
        /// The event name.
        event: String,
        /// The Rust type expected.
        ty: &'static str,
        /// The field (a dotted path such as `author.id`; `.` for the whole payload).
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A regex capture could not be parsed into the handler's argument type.
    #[error("capture {index} ({arg}) = {value:?} is not a valid {ty}: {message}")]
    Capture {
        /// The capture group's number (1 is the first group).
        index: usize,
        /// The argument's name.
        arg: &'static str,
        /// The captured text.
        value: String,
        /// The argument's type.
        ty: &'static str,
        /// The parse error.
        message: String,
    },
}

impl From<BotError> for HandlerError {
    fn from(e: BotError) -> Self {
        HandlerError::Failed(Box::new(e))
    }
}

/// Why [`crate::serve`] could not start or why some bots stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The broker could not be reached.
    #[error("cannot connect to the broker: {0}")]
    Connect(#[source] BrokerError),
    /// The options are not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Some bots stopped with errors (the others ran until shutdown).
    #[error("{}", Failures(.0))]
    Bots(Vec<BotFailure>),
}

/// One bot that stopped with an error.
#[derive(Debug)]
pub struct BotFailure {
    /// The bot's name.
    pub bot: String,
    /// What happened.
    pub error: BotStartError,
}

struct Failures<'a>(&'a [BotFailure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bot(s) failed:", self.0.len())?;
        for b in self.0 {
            write!(f, " [{}: {}]", b.bot, b.error)?;
        }
        Ok(())
    }
}

/// Why one bot could not run.
#[derive(Debug, thiserror::Error)]
pub enum BotStartError {
    /// A handler's regex does not compile.
    #[error("handler {handler}: the pattern {pattern:?} does not compile: {message}")]
    Regex {
        /// The handler.
        handler: String,
        /// The pattern.
        pattern: String,
        /// The regex crate's message.
        message: String,
    },
    /// The bot's settings are not usable (name, pattern, group).
    #[error("{0}")]
    Config(String),
    /// Subscribing or publishing failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The gateway refused our IDENTIFY.
    #[error("the gateway refused IDENTIFY: {0}")]
    IdentifyRefused(String),
    /// The broker closed the event subscription.
    #[error("the broker closed the event subscription")]
    SubscriptionClosed,
}
