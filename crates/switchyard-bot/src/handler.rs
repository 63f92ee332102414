//! Handlers: one async function bound to an event (and optionally a regex over the event's
//! text), built by the attribute macros or by hand with [`Handler::on`] and
//! [`Handler::on_event`]. Regex captures reach the function as typed arguments through
//! [`Captures`].

use std::borrow::Cow;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use regex::Regex;
use serde::de::DeserializeOwned;

use crate::context::{BotShared, Context, Incoming};
use crate::error::{BotStartError, BoxError, HandlerError};
use crate::event::{Event, decode};

/// A handler call, ready to run.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;

/// Decodes an event for one handler and, if it applies, starts the call.
type Prepare = dyn Fn(&Arc<Incoming>, &Arc<BotShared>) -> Result<Option<HandlerFuture>, HandlerError>
    + Send
    + Sync;

/// One handler: a name, the event it listens to, an optional regex, and the function.
///
/// ```
/// use switchyard_bot::{Captures, Context, Handler, events::MessageCreate};
/// use twilight_model::channel::Message;
/// let h = Handler::on::<MessageCreate, _, _>("ping", Some(r"^!ping$"), |ctx: Context<Message>, _caps: Captures| async move {
///     ctx.reply("pong").await?;
///     Ok(())
/// });
/// assert_eq!(h.event(), "MESSAGE_CREATE");
/// assert_eq!(h.name(), "ping");
/// ```
pub struct Handler {
    name: Cow<'static, str>,
    event: Cow<'static, str>,
    pattern: Option<(String, Result<(), String>)>,
    prepare: Box<Prepare>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("name", &self.name)
            .field("event", &self.event)
            .field("pattern", &self.pattern.as_ref().map(|p| &p.0))
            .finish_non_exhaustive()
    }
}

impl Handler {
    /// A handler for the typed event `E`; with `pattern`, it runs only when the event's text
    /// ([`Event::text`]) matches, and the captures are passed on. A pattern that does not
    /// compile makes the bot fail at start with an error naming the handler.
    pub fn on<E, F, Fut>(name: impl Into<Cow<'static, str>>, pattern: Option<&str>, f: F) -> Self
    where
        E: Event,
        F: Fn(Context<E::Data>, Captures) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let compiled = pattern.map(Regex::new);
        let pattern = pattern.map(|p| {
            let check = match &compiled {
                Some(Err(e)) => Err(e.to_string()),
                _ => Ok(()),
            };
            (p.to_owned(), check)
        });
        let regex = compiled.and_then(Result::ok);
        let has_pattern = pattern.is_some();
        let name = name.into();
        let handler = Arc::<str>::from(name.as_ref());
        let prepare = move |inc: &Arc<Incoming>, bot: &Arc<BotShared>| {
            let data: E::Data = decode(E::NAME, inc.d.get())?;
            if !bot.include_bots && E::from_bot(&data) {
                return Ok(None);
            }
            let captures = match (&regex, has_pattern) {
                (Some(re), _) => match E::text(&data).and_then(|t| re.captures(t)) {
                    Some(c) => Captures::from_regex(&c),
                    None => return Ok(None),
                },
                // A pattern that did not compile never matches (the bot refuses to start).
                (None, true) => return Ok(None),
                (None, false) => Captures::default(),
            };
            let fut: HandlerFuture = Box::pin(f(
                Context::new(data, inc.clone(), bot.clone(), handler.clone()),
                captures,
            ));
            Ok(Some(fut))
        };
        Handler {
            name,
            event: Cow::Borrowed(E::NAME),
            pattern,
            prepare: Box::new(prepare),
        }
    }

    /// A catch-all handler for the event named `event` (any dispatch name), its payload
    /// parsed into `D` (`serde_json::Value` takes anything).
    ///
    /// ```
    /// use switchyard_bot::{Context, Handler};
    /// let h = Handler::on_event("GUILD_ROLE_CREATE", "roles", |ctx: Context<serde_json::Value>| async move {
    ///     println!("{}", ctx.event()["role"]["name"]);
    ///     Ok(())
    /// });
    /// assert_eq!(h.event(), "GUILD_ROLE_CREATE");
    /// ```
    pub fn on_event<D, F, Fut>(
        event: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> Self
    where
        D: DeserializeOwned + Send + Sync + 'static,
        F: Fn(Context<D>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let event = event.into();
        let event_name = event.clone();
        let name = name.into();
        let handler = Arc::<str>::from(name.as_ref());
        let prepare = move |inc: &Arc<Incoming>, bot: &Arc<BotShared>| {
            let data: D = decode(&event_name, inc.d.get())?;
            let ctx = Context::new(data, inc.clone(), bot.clone(), handler.clone());
            let fut: HandlerFuture = Box::pin(f(ctx));
            Ok(Some(fut))
        };
        Handler {
            name,
            event,
            pattern: None,
            prepare: Box::new(prepare),
        }
    }

    /// The handler's name (the function's name for the macros).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event it listens to.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The regex, if any.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_ref().map(|p| p.0.as_str())
    }

    /// Checks what can only be checked at run time (a hand-written regex).
    pub(crate) fn check(&self) -> Result<(), BotStartError> {
        match &self.pattern {
            Some((pattern, Err(message))) => Err(BotStartError::Regex {
                handler: self.name.to_string(),
                pattern: pattern.clone(),
                message: message.clone(),
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn prepare(
        &self,
        inc: &Arc<Incoming>,
        bot: &Arc<BotShared>,
    ) -> Result<Option<HandlerFuture>, HandlerError> {
        (self.prepare)(inc, bot)
    }
}

/// The regex captures of a matched event: group 0 is the whole match, 1 the first group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    groups: Vec<Option<String>>,
}

impl Captures {
    fn from_regex(c: &regex::Captures<'_>) -> Self {
        Captures {
            groups: c.iter().map(|m| m.map(|m| m.as_str().to_owned())).collect(),
        }
    }

    /// Captures from plain values (for tests of handlers).
    pub fn from_groups<S: Into<String>>(groups: impl IntoIterator<Item = Option<S>>) -> Self {
        Captures {
            groups: groups.into_iter().map(|g| g.map(Into::into)).collect(),
        }
    }

    /// The text of group `index`, if it took part in the match.
    pub fn get(&self, index: usize) -> Option<&str> {
        self.groups.get(index).and_then(|g| g.as_deref())
    }

    /// Group `index` parsed into `T` for the argument `arg`; a group that did not take part
    /// or does not parse is a [`HandlerError::Capture`].
    ///
    /// ```
    /// use switchyard_bot::Captures;
    /// let caps = Captures::from_groups([Some(",roll 12"), Some("12"), None]);
    /// assert_eq!(caps.parse::<u32>(1, "sides").unwrap(), 12);
    /// assert!(caps.parse::<u32>(2, "extra").is_err());
    /// assert_eq!(caps.parse_opt::<u32>(2, "extra").unwrap(), None);
    /// ```
    pub fn parse<T>(&self, index: usize, arg: &'static str) -> Result<T, HandlerError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(index) {
            Some(text) => parse_one(index, arg, text),
            None => Err(HandlerError::Capture {
                index,
                arg,
                value: String::new(),
                ty: short::<T>(),
                message: "the group did not take part in the match (make the argument an Option)"
                    .into(),
            }),
        }
    }

    /// Like [`Captures::parse`], but a group that did not take part is `None`.
    pub fn parse_opt<T>(&self, index: usize, arg: &'static str) -> Result<Option<T>, HandlerError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(index)
            .map(|t| parse_one(index, arg, t))
            .transpose()
    }
}

fn parse_one<T>(index: usize, arg: &'static str, text: &str) -> Result<T, HandlerError>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse::<T>().map_err(|e| HandlerError::Capture {
        index,
        arg,
        value: text.to_owned(),
        ty: short::<T>(),
        message: e.to_string(),
    })
}

fn short<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// What a handler function may return: `()` or `Result<(), E>` for any error type that
/// converts into a boxed error (`BotError`, `anyhow::Error`, `String`...).
pub trait HandlerOutput {
    /// The outcome as the SDK sees it.
    fn into_handler_result(self) -> Result<(), HandlerError>;
}

impl HandlerOutput for () {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> HandlerOutput for Result<(), E> {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        self.map_err(|e| HandlerError::Failed(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_errors_name_the_argument_value_and_type() {
        let caps = Captures::from_groups([Some(",roll x"), Some("x")]);
        let e = caps.parse::<u32>(1, "sides").expect_err("not a number");
        let text = e.to_string();
        assert!(
            text.contains("sides") && text.contains("\"x\"") && text.contains("u32"),
            "{text}"
        );
        let e = caps.parse::<String>(3, "missing").expect_err("no group");
        assert!(e.to_string().contains("Option"), "{e}");
    }

    #[test]
    fn a_bad_handwritten_regex_fails_the_check_with_the_handler_name() {
        let h = Handler::on::<crate::events::MessageCreate, _, _>(
            "broken",
            Some("(unclosed"),
            |_, _| async { Ok(()) },
        );
        let e = h.check().expect_err("bad regex");
        let text = e.to_string();
        assert!(
            text.contains("broken") && text.contains("(unclosed"),
            "{text}"
        );
    }
}
