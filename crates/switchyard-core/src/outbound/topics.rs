//! The topics of the outbound contract: a bot's outbound topics, the namespace its `reply_to`
//! topics must lie in, the per-shard command topics, and the error topics.

use std::borrow::Cow;

use crate::topic::{NameError, Pattern, Topic};

/// The outbound prefix of the first bot of a deployment (Bytebot's).
pub const DEFAULT_OUTBOUND_PREFIX: &str = "outbound.discord";

/// The default reply namespace: `reply_to` topics must lie under it.
pub const DEFAULT_REPLY_PREFIX: &str = "inbound.rest";

/// The first segment of error topics: `errors.{topic the message came on}`.
pub const ERRORS_PREFIX: &str = "errors";

/// The first segments of the per-shard command topics.
const COMMAND_ROOT: &str = "command.discord";

/// A bot's outbound topics, `{prefix}.{guild}.{channel}.{user}`.
///
/// ```
/// use switchyard_core::outbound::OutboundTopics;
/// let helper = OutboundTopics::from_pattern("outbound.helper.>")?;
/// assert_eq!(helper.topic(1, 2, 3).as_str(), "outbound.helper.1.2.3");
/// assert_eq!(OutboundTopics::default().pattern(), "outbound.discord.>");
/// # Ok::<(), switchyard_core::NameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTopics {
    prefix: String,
}

impl Default for OutboundTopics {
    fn default() -> Self {
        OutboundTopics {
            prefix: DEFAULT_OUTBOUND_PREFIX.to_owned(),
        }
    }
}

impl OutboundTopics {
    /// The topics under `prefix` (such as `outbound.helper`).
    pub fn new(prefix: &str) -> Result<Self, NameError> {
        Topic::check(prefix)?;
        // The longest topic under the prefix must be valid too, so that `topic` cannot fail.
        let max = u64::MAX;
        Topic::check(&format!("{prefix}.{max}.{max}.{max}"))?;
        Ok(OutboundTopics {
            prefix: prefix.to_owned(),
        })
    }

    /// The topics a gateway's outbound pattern reads: `outbound.helper.>` and
    /// `outbound.helper.*.*.*` both give `outbound.helper`.
    pub fn from_pattern(pattern: &str) -> Result<Self, NameError> {
        Pattern::new(pattern)?;
        let prefix = pattern
            .strip_suffix(".>")
            .or_else(|| pattern.strip_suffix(".*.*.*"))
            .unwrap_or(pattern);
        Self::new(prefix)
    }

    /// The prefix, such as `outbound.discord`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The pattern that reads every topic: `{prefix}.>`.
    pub fn pattern(&self) -> String {
        format!("{}.>", self.prefix)
    }

    /// `{prefix}.{guild}.{channel}.{user}` (`0` for an id an answer does not have).
    pub fn topic(&self, guild: u64, channel: u64, user: u64) -> Topic {
        let text = format!("{}.{guild}.{channel}.{user}", self.prefix);
        // A checked prefix followed by three numeric segments is a valid topic.
        Topic::new(&text).unwrap_or_else(|_| unreachable_topic(&text))
    }
}

#[cold]
fn unreachable_topic(text: &str) -> Topic {
    // Only reached if the checks made when the prefix was accepted and Topic's rules ever
    // disagree.
    panic!("{text:?} should be a valid topic")
}

/// The channel of `{prefix}.{guild}.{channel}.{user}`, if any (`0` is none): the segment before
/// the last, whatever the prefix.
pub fn topic_channel(topic: &str) -> Option<u64> {
    let mut segments = topic.rsplit('.');
    let _user = segments.next()?;
    let channel = segments.next()?;
    let _guild = segments.next()?;
    // A prefix of at least one segment, then guild, channel and user.
    segments.next()?;
    channel.parse::<u64>().ok().filter(|c| *c != 0)
}

/// `name` as one short topic segment (or group name): itself when it is one of at most 32
/// letters, digits, `-` and `_`; else its first 32 characters with the others as `_`, and a
/// hash of the whole name, so that two names never share a segment.
pub fn segment_of(name: &str) -> Cow<'_, str> {
    let clean = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if clean {
        return Cow::Borrowed(name);
    }
    let kept: String = name
        .chars()
        .take(32)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = xxhash_rust::xxh3::xxh3_64(name.as_bytes()) as u32;
    Cow::Owned(format!("{kept}-{hash:08x}"))
}

/// The topics `reply_to` may name for one bot: anything under its prefix (by default
/// `inbound.rest`, where the SDK puts its replies). A `reply_to` elsewhere, such as an
/// `inbound.discord.…` or `control.…` topic, would let a consumer publish as the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyNamespace {
    prefix: String,
}

impl Default for ReplyNamespace {
    fn default() -> Self {
        ReplyNamespace {
            prefix: DEFAULT_REPLY_PREFIX.to_owned(),
        }
    }
}

impl ReplyNamespace {
    /// The namespace under `prefix`.
    pub fn new(prefix: &str) -> Result<Self, NameError> {
        Topic::check(prefix)?;
        Ok(ReplyNamespace {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `topic` lies under the prefix (the prefix itself does not).
    pub fn contains(&self, topic: &Topic) -> bool {
        topic
            .as_str()
            .strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// The command topics of one bot: `command.discord.{bot}.{shard}`, read only by the process
/// holding that shard, and `command.discord.{bot}.ack.{instance}.{n}`, on which the holder
/// confirms that it took a command forwarded to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTopics {
    prefix: String,
}

impl CommandTopics {
    /// The command topics of `bot` (its name made one segment by [`segment_of`]).
    pub fn new(bot: &str) -> Self {
        CommandTopics {
            prefix: format!("{COMMAND_ROOT}.{}", segment_of(bot)),
        }
    }

    /// The topic the holder of `shard` reads.
    pub fn shard(&self, shard: u32) -> Topic {
        let text = format!("{}.{shard}", self.prefix);
        Topic::new(&text).unwrap_or_else(|_| unreachable_topic(&text))
    }

    /// The same topic as a pattern, to subscribe to.
    pub fn shard_pattern(&self, shard: u32) -> Pattern {
        let text = format!("{}.{shard}", self.prefix);
        Pattern::new(&text).unwrap_or_else(|_| unreachable_pattern(&text))
    }

    /// The pattern of one forwarding process's acknowledgements.
    pub fn acks(&self, instance: &str) -> Pattern {
        let text = format!("{}.ack.{}.*", self.prefix, segment_of(instance));
        Pattern::new(&text).unwrap_or_else(|_| unreachable_pattern(&text))
    }

    /// Whether `topic` is an acknowledgement topic of these commands (of any instance):
    /// the only place a holder publishes an acknowledgement.
    pub fn is_ack(&self, topic: &Topic) -> bool {
        topic
            .as_str()
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(".ack."))
            .is_some_and(|rest| rest.split('.').count() == 2)
    }

    /// One acknowledgement topic of `instance`.
    pub fn ack(&self, instance: &str, n: u64) -> Topic {
        let text = format!("{}.ack.{}.{n}", self.prefix, segment_of(instance));
        Topic::new(&text).unwrap_or_else(|_| unreachable_topic(&text))
    }
}

#[cold]
fn unreachable_pattern(text: &str) -> Pattern {
    // The prefix is a constant and a name made a plain segment by `segment_of`.
    panic!("{text:?} should be a valid pattern")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_topics_from_patterns() {
        for p in [
            "outbound.helper.>",
            "outbound.helper.*.*.*",
            "outbound.helper",
        ] {
            let t = OutboundTopics::from_pattern(p).expect(p);
            assert_eq!(t.prefix(), "outbound.helper", "{p}");
        }
        assert!(OutboundTopics::from_pattern("outbound..>").is_err());
        assert_eq!(
            OutboundTopics::default().topic(0, 5, 0).as_str(),
            "outbound.discord.0.5.0"
        );
    }

    #[test]
    fn channels_of_topics() {
        assert_eq!(topic_channel("outbound.discord.1.22.3"), Some(22));
        assert_eq!(topic_channel("out.a.b.1.22.3"), Some(22));
        assert_eq!(topic_channel("x.1.22.3"), Some(22));
        assert_eq!(topic_channel("outbound.discord.1.0.3"), None);
        assert_eq!(topic_channel("1.22.3"), None);
        assert_eq!(topic_channel("outbound.discord.1.x.3"), None);
    }

    #[test]
    fn reply_namespace() {
        let ns = ReplyNamespace::default();
        let t = |s: &str| Topic::new(s).expect("topic");
        assert!(ns.contains(&t("inbound.rest.echo.i1.7")));
        assert!(!ns.contains(&t("inbound.rest")));
        assert!(!ns.contains(&t("inbound.restless.x")));
        assert!(!ns.contains(&t("inbound.discord.1.2.3")));
        assert!(!ns.contains(&t("control.gateway")));
    }

    #[test]
    fn command_topics_and_segments() {
        let c = CommandTopics::new("mybot");
        assert_eq!(c.shard(3).as_str(), "command.discord.mybot.3");
        assert_eq!(c.ack("n1", 9).as_str(), "command.discord.mybot.ack.n1.9");
        assert!(c.acks("n1").matches("command.discord.mybot.ack.n1.9"));
        assert_eq!(c.shard_pattern(3).as_str(), "command.discord.mybot.3");
        assert!(c.is_ack(&c.ack("n1", 9)));
        let t = |s: &str| Topic::new(s).expect("topic");
        assert!(!c.is_ack(&t("command.discord.mybot.3")));
        assert!(!c.is_ack(&t("command.discord.other.ack.n1.9")));
        assert!(!c.is_ack(&t("control.gateway")));
        assert!(!c.is_ack(&t("command.discord.mybot.ack.n1.9.x")));
        assert_eq!(segment_of("my_bot-2"), "my_bot-2");
        let odd = segment_of("my bot.v2");
        assert!(odd.starts_with("my_bot_v2-"), "{odd}");
        assert_ne!(odd, segment_of("my_bot_v2"));
        let long = "a".repeat(40);
        let short = segment_of(&long);
        assert!(
            short.starts_with(&"a".repeat(32)) && short.len() == 41,
            "{short}"
        );
        let t = CommandTopics::new("a.b");
        assert_eq!(t.shard(0).segments().count(), 4);
    }
}
