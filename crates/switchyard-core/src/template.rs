//! Topic templates: how a routed dispatch becomes a topic name.
//!
//! The default is Bytebot's `inbound.discord.{guild}.{channel}.{user}`, with `0` for an id
//! the event does not carry. Operators may add `{bot}`, `{event}` and `{shard}`.

use std::fmt::Write as _;

use crate::route::RoutingIds;
use crate::topic::{NameError, Pattern, Topic};

/// Bytebot's inbound topic scheme, kept exactly so that its subscribers work unchanged.
pub const DEFAULT_INBOUND_TEMPLATE: &str = "inbound.discord.{guild}.{channel}.{user}";

/// What a template can refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Guild,
    Channel,
    User,
    Event,
    Bot,
    Shard,
}

/// Why a template was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{name}` that is not one of the known placeholders.
    #[error(
        "unknown placeholder {{{name}}} in topic template {template:?}; known: {{guild}} {{channel}} {{user}} {{event}} {{bot}} {{shard}}"
    )]
    UnknownPlaceholder {
        /// The placeholder's name.
        name: String,
        /// The template.
        template: String,
    },
    /// A `{` without its `}`.
    #[error("unclosed `{{` in topic template {0:?}")]
    Unclosed(String),
    /// The template does not produce valid topics.
    #[error("topic template {template:?} does not produce a valid topic: {source}")]
    InvalidTopic {
        /// The template.
        template: String,
        /// What is wrong with a topic it renders.
        source: NameError,
    },
}

/// The values a template is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct TopicContext<'a> {
    /// The bot's configured name.
    pub bot: &'a str,
    /// The event name, such as `MESSAGE_CREATE`.
    pub event: &'a str,
    /// The shard the event came in on.
    pub shard: u32,
    /// The routing ids; absent ids render as `0`.
    pub ids: RoutingIds,
}

/// A parsed topic template.
///
/// ```
/// use switchyard_core::{RoutingIds, TopicTemplate, TopicContext};
/// let template = TopicTemplate::default();
/// let ids = RoutingIds { guild: Some(1), channel: Some(2), user: None };
/// let ctx = TopicContext { bot: "b", event: "TYPING_START", shard: 0, ids };
/// assert_eq!(template.render(&ctx), "inbound.discord.1.2.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    parts: Vec<Part>,
}

impl Default for TopicTemplate {
    fn default() -> Self {
        // The default template is known to be valid.
        match Self::parse(DEFAULT_INBOUND_TEMPLATE) {
            Ok(t) => t,
            Err(e) => unreachable!("default template is valid: {e}"),
        }
    }
}

impl TopicTemplate {
    /// Parses a template and checks that it renders valid topics.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| TemplateError::Unclosed(template.to_owned()))?;
            let part = match &after[..close] {
                "guild" => Part::Guild,
                "channel" => Part::Channel,
                "user" => Part::User,
                "event" => Part::Event,
                "bot" => Part::Bot,
                "shard" => Part::Shard,
                other => {
                    return Err(TemplateError::UnknownPlaceholder {
                        name: other.to_owned(),
                        template: template.to_owned(),
                    });
                }
            };
            parts.push(part);
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let parsed = TopicTemplate { parts };
        let sample = TopicContext {
            bot: "bot",
            event: "MESSAGE_CREATE",
            shard: 0,
            ids: RoutingIds::default(),
        };
        Topic::check(&parsed.render(&sample)).map_err(|source| TemplateError::InvalidTopic {
            template: template.to_owned(),
            source,
        })?;
        Ok(parsed)
    }

    /// Renders into `out` (cleared first), reusing its allocation.
    pub fn render_into(&self, ctx: &TopicContext<'_>, out: &mut String) {
        out.clear();
        let mut buf = itoa::Buffer::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Guild => out.push_str(buf.format(ctx.ids.guild.unwrap_or(0))),
                Part::Channel => out.push_str(buf.format(ctx.ids.channel.unwrap_or(0))),
                Part::User => out.push_str(buf.format(ctx.ids.user.unwrap_or(0))),
                Part::Event => out.push_str(ctx.event),
                Part::Bot => out.push_str(ctx.bot),
                Part::Shard => {
                    let _ = write!(out, "{}", ctx.shard);
                }
            }
        }
    }

    /// Renders to a new string.
    pub fn render(&self, ctx: &TopicContext<'_>) -> String {
        let mut out = String::with_capacity(64);
        self.render_into(ctx, &mut out);
        out
    }

    /// The pattern of every topic this template renders for the bot named `bot`: each
    /// segment holding a placeholder other than `{bot}` becomes `*`. Two bots whose patterns
    /// overlap ([`Pattern::overlap`]) would publish on topics a consumer cannot tell apart.
    ///
    /// ```
    /// use switchyard_core::TopicTemplate;
    /// let t = TopicTemplate::parse("inbound.{bot}.g{guild}.{channel}").expect("valid");
    /// assert_eq!(t.pattern_for("helper").expect("valid").as_str(), "inbound.helper.*.*");
    /// ```
    pub fn pattern_for(&self, bot: &str) -> Result<Pattern, NameError> {
        const HOLE: char = '\u{0}';
        let mut raw = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => raw.push_str(s),
                Part::Bot => raw.push_str(bot),
                _ => raw.push(HOLE),
            }
        }
        let segments: Vec<&str> = raw
            .split('.')
            .map(|seg| if seg.contains(HOLE) { "*" } else { seg })
            .collect();
        Pattern::new(&segments.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_template_with_bot_and_event() {
        let t = TopicTemplate::parse("inbound.discord.{bot}.{event}.{guild}.{channel}.{user}")
            .expect("valid");
        let ctx = TopicContext {
            bot: "helper",
            event: "MESSAGE_CREATE",
            shard: 3,
            ids: RoutingIds {
                guild: Some(10),
                channel: None,
                user: Some(30),
            },
        };
        assert_eq!(
            t.render(&ctx),
            "inbound.discord.helper.MESSAGE_CREATE.10.0.30"
        );
    }

    #[test]
    fn bad_templates_are_named() {
        assert!(matches!(
            TopicTemplate::parse("a.{guil}"),
            Err(TemplateError::UnknownPlaceholder { .. })
        ));
        assert!(matches!(
            TopicTemplate::parse("a.{guild"),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            TopicTemplate::parse("a..{guild}"),
            Err(TemplateError::InvalidTopic { .. })
        ));
    }
}
