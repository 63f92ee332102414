//! [`Bot`]: a named set of handlers with its subscriptions and settings — the unit that
//! [`crate::serve`] runs, restarts on REBOOT and stops on SHUTDOWN. The `#[bot]` macro
//! builds one from a module.

use std::sync::Arc;
use std::time::Duration;

use crate::error::HandlerError;
use crate::handler::Handler;

/// What a bot reads unless told otherwise: every platform's inbound events, Discord's and
/// IRC's (`docs/irc.md`).
pub(crate) const DEFAULT_PATTERNS: [&str; 2] = ["inbound.discord.>", "inbound.irc.>"];

/// How a bot's replicas share events (see [`Bot::worker_group`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupKind {
    /// The best the broker offers: durable and keyed by guild on a durable broker, else keyed
    /// by guild.
    #[default]
    Auto,
    /// A durable group: each event is handled by one replica and acknowledged after its
    /// handlers finish; events published while every replica was down are handled on
    /// restart. Needs `redis://…?durable=streams` or `nats://…?durable=jetstream`.
    Durable,
    /// Keyed by guild: one replica handles all events of a guild while membership is
    /// stable (at-most-once).
    Keyed,
    /// Durable and keyed by guild: one replica handles all events of a guild while
    /// membership is stable, each event is acknowledged after its handlers finish, and when
    /// a replica leaves, its guilds move to the others without losing an event. Needs a
    /// durable broker.
    DurableKeyed,
    /// A queue group: each event goes to one replica (at-most-once).
    Queue,
}

/// A worker group: its name and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerGroup {
    /// The group's name (letters, digits, `-`, `_`), shared by the replicas.
    pub name: String,
    /// How events are shared.
    pub kind: GroupKind,
}

/// A handler failure, as the error hook sees it.
#[derive(Debug)]
pub struct ErrorReport {
    /// The bot.
    pub bot: String,
    /// The handler (`-` when the event could not be read at all).
    pub handler: String,
    /// The event name.
    pub event: String,
    /// The envelope id.
    pub event_id: String,
    /// The topic the event came on.
    pub topic: String,
    /// What went wrong.
    pub error: HandlerError,
}

/// The error hook's type.
pub type ErrorHook = Arc<dyn Fn(&ErrorReport) + Send + Sync>;

/// A bot: handlers, the events it subscribes to, and how it runs.
///
/// ```
/// use std::time::Duration;
/// use switchyard_bot::{Bot, Context, Handler};
/// let bot = Bot::new("greeter")
///     .handler(Handler::on_event("GUILD_MEMBER_ADD", "welcome", |ctx: Context<serde_json::Value>| async move {
///         ctx.send("welcome!").await?;
///         Ok(())
///     }))
///     .concurrency(16)
///     .request_timeout(Duration::from_secs(5))
///     .worker_group("greeter")
///     .on_error(|report| eprintln!("{}: {}", report.handler, report.error));
/// assert_eq!(bot.name(), "greeter");
/// assert_eq!(bot.handler_names(), ["welcome"]);
/// ```
pub struct Bot {
    pub(crate) name: String,
    pub(crate) handlers: Vec<Handler>,
    pub(crate) patterns: Vec<String>,
    pub(crate) group: Option<WorkerGroup>,
    pub(crate) concurrency: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) include_bots: bool,
    pub(crate) error_hook: ErrorHook,
    pub(crate) instance: Option<String>,
    pub(crate) version: String,
    pub(crate) outbound: String,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("name", &self.name)
            .field("handlers", &self.handlers)
            .field("patterns", &self.patterns)
            .field("group", &self.group)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// A bot named `name` (letters, digits, `-`, `_`: it appears in control topics), with no
    /// handlers, subscribed to `inbound.discord.>` and `inbound.irc.>`, 64 concurrent handler calls, a 15 s REST
    /// timeout, bots' own messages skipped, and errors logged.
    pub fn new(name: impl Into<String>) -> Self {
        Bot {
            name: name.into(),
            handlers: Vec::new(),
            patterns: DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect(),
            group: None,
            concurrency: 64,
            request_timeout: Duration::from_secs(15),
            include_bots: false,
            error_hook: Arc::new(|r: &ErrorReport| {
                tracing::error!(bot = %r.bot, handler = %r.handler, event = %r.event,
                    event_id = %r.event_id, topic = %r.topic, error = %r.error, "handler failed");
            }),
            instance: None,
            version: "0.0.0".into(),
            outbound: switchyard_core::outbound::DEFAULT_OUTBOUND_PREFIX.into(),
        }
    }

    /// Adds a handler.
    pub fn handler(mut self, handler: Handler) -> Self {
        self.handlers.push(handler);
        self
    }

    /// Adds handlers.
    pub fn handlers(mut self, handlers: impl IntoIterator<Item = Handler>) -> Self {
        self.handlers.extend(handlers);
        self
    }

    /// Subscribes to `pattern` alone instead of every platform's inbound topics (for example
    /// Discord only, `inbound.discord.>`, or one guild, `inbound.discord.81384788765712384.>`).
    pub fn subscribe(mut self, pattern: impl Into<String>) -> Self {
        self.patterns = vec![pattern.into()];
        self
    }

    /// Subscribes to `pattern` too (one IRC channel beside one guild, say). In a worker
    /// group, the second and later patterns are read as groups of their own, named
    /// `{group}-{platform}` (the pattern's second segment).
    pub fn also_subscribe(mut self, pattern: impl Into<String>) -> Self {
        self.patterns.push(pattern.into());
        self
    }

    /// Joins the worker group `name` with [`GroupKind::Auto`]: replicas with the same group
    /// share the events, each handled once.
    pub fn worker_group(self, name: impl Into<String>) -> Self {
        self.worker_group_kind(name, GroupKind::Auto)
    }

    /// Joins the worker group `name` of the given kind.
    pub fn worker_group_kind(mut self, name: impl Into<String>, kind: GroupKind) -> Self {
        self.group = Some(WorkerGroup {
            name: name.into(),
            kind,
        });
        self
    }

    /// At most `n` handler calls run at once (at least 1); more events wait.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long a REST request waits for the gateway's answer.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Also handle messages and reactions from bots (the bot's own included; mind loops).
    pub fn include_bots(mut self, yes: bool) -> Self {
        self.include_bots = yes;
        self
    }

    /// Called for every handler failure (error, panic, payload or capture mismatch) instead of
    /// the default log line. The bot keeps serving.
    pub fn on_error(mut self, hook: impl Fn(&ErrorReport) + Send + Sync + 'static) -> Self {
        self.error_hook = Arc::new(hook);
        self
    }

    /// The instance name sent with IDENTIFY (default: `{name}-{random}`).
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// The version sent with IDENTIFY.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The outbound topics of the Discord bot this serves: the gateway's `outbound_pattern`
    /// for it (`outbound.helper.>`) or its prefix (`outbound.helper`). Answers, REST requests
    /// and gateway commands go there. Default `outbound.discord`, the first bot's; the
    /// second bot of a `[[gateway.bots]]` deployment has its own.
    pub fn outbound(mut self, pattern: impl Into<String>) -> Self {
        self.outbound = pattern.into();
        self
    }

    /// The bot's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of its handlers, in order.
    pub fn handler_names(&self) -> Vec<&str> {
        self.handlers.iter().map(Handler::name).collect()
    }

    /// Its handlers.
    pub fn handler_list(&self) -> &[Handler] {
        &self.handlers
    }
}

/// Checks a bot or instance name: it becomes a topic segment.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "{what} {name:?} must be 1 to 64 letters, digits, `-` or `_` (it is a topic segment)"
        ));
    }
    Ok(())
}

/// A fresh instance name: `{name}-{8 hex digits}`.
pub(crate) fn instance_name(name: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{name}-{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_instances_unique() {
        assert!(check_name("bot", "echo_1-a").is_ok());
        let e = check_name("bot", "my bot").expect_err("space");
        assert!(e.contains("\"my bot\""), "{e}");
        assert!(check_name("bot", "a.b").is_err());
        assert_ne!(instance_name("echo"), instance_name("echo"));
        assert!(instance_name("echo").starts_with("echo-"));
    }
}
