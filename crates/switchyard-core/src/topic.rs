//! Topics and patterns: the dot-separated names messages are published on, and the wildcard
//! patterns consumers subscribe with.
//!
//! Matching follows NATS: `*` matches exactly one segment, `>` matches one or more trailing
//! segments. Patterns translate to a Redis `PSUBSCRIBE` glob (a superset, re-checked on the
//! client with [`Pattern::matches`]) and to a NATS subject (exact).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The longest topic or pattern accepted, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// How much of an offending input an error message quotes.
const QUOTE_LEN: usize = 80;

/// Which kind of name failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A topic, published to.
    Topic,
    /// A pattern, subscribed to.
    Pattern,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Topic => "topic",
            NameKind::Pattern => "pattern",
        })
    }
}

/// Why a topic or pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    /// The whole name is empty.
    Empty,
    /// Longer than [`MAX_NAME_LEN`].
    TooLong {
        /// The input's length in bytes.
        len: usize,
    },
    /// Two dots in a row, or a leading or trailing dot.
    EmptySegment {
        /// Zero-based index of the empty segment.
        segment: usize,
    },
    /// A whitespace or control character.
    Whitespace {
        /// Byte offset of the character.
        offset: usize,
    },
    /// `*` or `>` inside a topic (only patterns may have wildcards).
    WildcardInTopic {
        /// Zero-based index of the segment.
        segment: usize,
    },
    /// A wildcard that shares its segment with other characters, such as `foo*`.
    PartialWildcard {
        /// Zero-based index of the segment.
        segment: usize,
    },
    /// `>` anywhere but in the last segment.
    TailNotLast {
        /// Zero-based index of the segment.
        segment: usize,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("it is empty"),
            NameProblem::TooLong { len } => {
                write!(f, "it is {len} bytes long, the limit is {MAX_NAME_LEN}")
            }
            NameProblem::EmptySegment { segment } => write!(
                f,
                "segment {} is empty (two dots in a row, or a leading or trailing dot)",
                segment + 1
            ),
            NameProblem::Whitespace { offset } => {
                write!(
                    f,
                    "it has whitespace or a control character at byte {offset}"
                )
            }
            NameProblem::WildcardInTopic { segment } => write!(
                f,
                "segment {} is a wildcard; topics name one destination, only patterns take `*` and `>`",
                segment + 1
            ),
            NameProblem::PartialWildcard { segment } => write!(
                f,
                "segment {} mixes a wildcard with other characters; `*` and `>` must stand alone",
                segment + 1
            ),
            NameProblem::TailNotLast { segment } => write!(
                f,
                "segment {} is `>`, which may only be the last segment",
                segment + 1
            ),
        }
    }
}

/// A topic or pattern that could not be parsed. The message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: {problem}")]
pub struct NameError {
    /// Topic or pattern.
    pub kind: NameKind,
    /// The offending input, truncated.
    pub input: String,
    /// What is wrong with it.
    pub problem: NameProblem,
}

impl NameError {
    fn new(kind: NameKind, input: &str, problem: NameProblem) -> Self {
        NameError {
            kind,
            input: truncate(input, QUOTE_LEN),
            problem,
        }
    }
}

/// Truncates `s` to at most `max` bytes on a char boundary, marking the cut with `…`.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Checks the rules topics and patterns share; returns the segments.
fn check_common(kind: NameKind, input: &str) -> Result<(), NameError> {
    if input.is_empty() {
        return Err(NameError::new(kind, input, NameProblem::Empty));
    }
    if input.len() > MAX_NAME_LEN {
        return Err(NameError::new(
            kind,
            input,
            NameProblem::TooLong { len: input.len() },
        ));
    }
    if let Some((offset, _)) = input
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Err(NameError::new(
            kind,
            input,
            NameProblem::Whitespace { offset },
        ));
    }
    if let Some(segment) = input.split('.').position(str::is_empty) {
        return Err(NameError::new(
            kind,
            input,
            NameProblem::EmptySegment { segment },
        ));
    }
    Ok(())
}

/// The common case of [`Topic::check`] in one pass over the bytes: a valid ASCII topic.
/// `false` sends the input to the full check, which also names the problem.
fn plain_ascii_topic(input: &str) -> bool {
    let bytes = input.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return false;
    }
    let mut previous = b'.';
    for &b in bytes {
        // Whitespace and control characters (ASCII: up to the space, and DEL), non-ASCII
        // (left to the full check), wildcards, and empty segments.
        if b <= b' ' || b >= 0x7f || b == b'*' || b == b'>' || (b == b'.' && previous == b'.') {
            return false;
        }
        previous = b;
    }
    previous != b'.'
}

/// A concrete destination such as `inbound.discord.81384788765712384.381870553235193857.0`.
///
/// Cheap to clone (reference counted).
///
/// ```
/// use switchyard_core::Topic;
/// let topic: Topic = "inbound.discord.1.2.3".parse()?;
/// assert_eq!(topic.segments().count(), 5);
/// assert!("inbound..x".parse::<Topic>().is_err());
/// # Ok::<(), switchyard_core::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl Topic {
    /// Parses and validates a topic.
    pub fn new(input: &str) -> Result<Self, NameError> {
        Self::check(input)?;
        Ok(Topic(Arc::from(input)))
    }

    /// Validates a topic without allocating.
    pub fn check(input: &str) -> Result<(), NameError> {
        if plain_ascii_topic(input) {
            return Ok(());
        }
        Self::check_full(input)
    }

    /// Every rule, one at a time, naming the first one broken.
    fn check_full(input: &str) -> Result<(), NameError> {
        check_common(NameKind::Topic, input)?;
        if let Some(segment) = input
            .split('.')
            .position(|s| s.contains('*') || s.contains('>'))
        {
            return Err(NameError::new(
                NameKind::Topic,
                input,
                NameProblem::WildcardInTopic { segment },
            ));
        }
        Ok(())
    }

    /// The topic as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The dot-separated segments.
    pub fn segments(&self) -> std::str::Split<'_, char> {
        self.0.split('.')
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", &*self.0)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Topic {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::new(s)
    }
}

impl TryFrom<String> for Topic {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Topic::check(&s)?;
        Ok(Topic(Arc::from(s)))
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One segment of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(Box<str>),
    /// `*`: matches any one segment.
    Any,
    /// `>`: matches one or more trailing segments; always last.
    Tail,
}

/// A subscription pattern such as `inbound.discord.*.381870553235193857.>`.
///
/// ```
/// use switchyard_core::Pattern;
/// let p: Pattern = "inbound.discord.*.*.>".parse()?;
/// assert!(p.matches("inbound.discord.1.2.3"));
/// assert!(!p.matches("inbound.discord.1.2"));
/// assert_eq!(p.to_redis_glob(), "inbound.discord.*.*.*");
/// # Ok::<(), switchyard_core::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: Arc<str>,
    segments: Box<[Segment]>,
}

impl Pattern {
    /// Parses and validates a pattern.
    pub fn new(input: &str) -> Result<Self, NameError> {
        check_common(NameKind::Pattern, input)?;
        let parts: Vec<&str> = input.split('.').collect();
        let last = parts.len() - 1;
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let seg = match part {
                "*" => Segment::Any,
                ">" if i == last => Segment::Tail,
                ">" => {
                    return Err(NameError::new(
                        NameKind::Pattern,
                        input,
                        NameProblem::TailNotLast { segment: i },
                    ));
                }
                p if p.contains('*') || p.contains('>') => {
                    return Err(NameError::new(
                        NameKind::Pattern,
                        input,
                        NameProblem::PartialWildcard { segment: i },
                    ));
                }
                p => Segment::Literal(p.into()),
            };
            segments.push(seg);
        }
        Ok(Pattern {
            text: Arc::from(input),
            segments: segments.into_boxed_slice(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True when the pattern has no wildcard, so it names exactly one topic.
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Whether `topic` matches. Works on any string, so it can re-check what a broker
    /// delivered for a glob.
    pub fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.split('.');
        for seg in self.segments.iter() {
            match seg {
                Segment::Tail => return parts.next().is_some_and(|p| !p.is_empty()),
                Segment::Any => match parts.next() {
                    Some(p) if !p.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(lit) => {
                    if parts.next() != Some(&**lit) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// The Redis `PSUBSCRIBE` glob that matches a superset of this pattern. Redis's `*`
    /// crosses dots, so deliveries must be re-checked with [`Pattern::matches`].
    pub fn to_redis_glob(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 4);
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            match seg {
                Segment::Any | Segment::Tail => out.push('*'),
                Segment::Literal(lit) => {
                    for c in lit.chars() {
                        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
            }
        }
        out
    }

    /// The NATS subject with the same meaning (NATS implements these wildcards natively).
    pub fn to_nats_subject(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", &*self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Pattern {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::new(s)
    }
}

impl From<&Topic> for Pattern {
    fn from(topic: &Topic) -> Self {
        Pattern {
            text: topic.0.clone(),
            segments: topic
                .segments()
                .map(|s| Segment::Literal(s.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
