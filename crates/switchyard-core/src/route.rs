//! Routing from the raw text of a gateway dispatch: the event name, the sequence number, the
//! raw `d` payload and the guild, channel and user ids, in one pass that never builds a tree
//! of `d` (see [`scan`]).
//!
//! Which ids each event carries follows `discord-protocol.md`, section A5. Paths are exact,
//! so decoys nested deeper (`message_reference.guild_id`, `referenced_message.author.id`)
//! are never mistaken for the event's own ids.

mod index;
mod scan;

use std::borrow::Cow;

/// The ids a dispatch is routed by. `None` means the event does not carry that id; topics
/// render it as `0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RoutingIds {
    /// The guild (server), absent for DMs and guild-less events.
    pub guild: Option<u64>,
    /// The channel (or thread).
    pub channel: Option<u64>,
    /// The user who caused the event (author, member, reacting user...).
    pub user: Option<u64>,
}

/// A dispatch (`op 0`) frame, borrowed from its raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch<'a> {
    /// The event name, such as `MESSAGE_CREATE` (`t`).
    pub event: Cow<'a, str>,
    /// Discord's sequence number (`s`).
    pub seq: Option<u64>,
    /// The raw `d` payload, byte for byte as received.
    pub data: &'a str,
    /// The routing ids found in `d`.
    pub ids: RoutingIds,
}

/// Why a frame could not be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The text is not valid JSON.
    #[error("frame is not valid JSON: {0}")]
    Json(String),
    /// The frame is a gateway op other than a dispatch.
    #[error("frame is op {0}, not a dispatch (op 0)")]
    NotDispatch(u64),
    /// A required field is missing or has the wrong type.
    #[error("dispatch frame has no valid `{0}` field")]
    Missing(&'static str),
    /// An id field holds something other than a snowflake.
    #[error("`d.{field}` is not a snowflake: {value}")]
    BadId {
        /// The JSON path below `d`.
        field: &'static str,
        /// The offending raw value, truncated.
        value: String,
    },
}

/// Which source each routing id comes from, per event.
#[derive(Clone, Copy)]
enum Rule {
    /// `guild_id`, `channel_id` and the first user id found.
    Generic,
    /// Guild objects: the guild is `id`.
    Guild,
    /// Channel and thread objects: the channel is `id`.
    Channel,
    /// Messages: the user is `author.id`.
    Message,
    /// Interactions: `member.user.id` in a guild, `user.id` in a DM.
    Interaction,
    /// User objects: the user is `id`.
    User,
    /// READY: the bot's own user.
    Ready,
}

fn rule_for(event: &str) -> Rule {
    match event {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" => Rule::Guild,
        "CHANNEL_CREATE"
        | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE"
        | "THREAD_CREATE"
        | "THREAD_UPDATE"
        | "THREAD_DELETE"
        | "THREAD_MEMBERS_UPDATE"
        | "THREAD_MEMBER_UPDATE" => Rule::Channel,
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" => Rule::Message,
        "INTERACTION_CREATE" => Rule::Interaction,
        "USER_UPDATE" => Rule::User,
        "READY" => Rule::Ready,
        _ => Rule::Generic,
    }
}

/// Parses a raw gateway frame (`{"op":0,"t":…,"s":…,"d":…}`, keys in any order) and extracts
/// what routing needs, without deserializing `d`.
///
/// ```
/// use switchyard_core::route::parse_dispatch;
/// let frame = r#"{"t":"MESSAGE_CREATE","s":7,"op":0,"d":{"id":"5","channel_id":"2",
///   "guild_id":"1","author":{"id":"3"},"message_reference":{"guild_id":"99"}}}"#;
/// let dispatch = parse_dispatch(frame)?;
/// assert_eq!(dispatch.event, "MESSAGE_CREATE");
/// assert_eq!(dispatch.seq, Some(7));
/// assert_eq!(dispatch.ids.guild, Some(1));
/// assert_eq!(dispatch.ids.user, Some(3));
/// # Ok::<(), switchyard_core::route::RouteError>(())
/// ```
pub fn parse_dispatch(frame: &str) -> Result<Dispatch<'_>, RouteError> {
    let found = scan::scan(frame)
        .map_err(|e| RouteError::Json(format!("expected {} at byte {}", e.expected, e.offset)))?;
    if let Some(op) = found.op {
        match op.parse::<u64>() {
            Ok(0) => {}
            Ok(other) => return Err(RouteError::NotDispatch(other)),
            Err(_) => return Err(RouteError::Missing("op")),
        }
    }
    let event = found
        .t
        .and_then(string_value)
        .ok_or(RouteError::Missing("t"))?;
    let seq = found.s.and_then(|s| s.parse::<u64>().ok());
    let data = found.d.ok_or(RouteError::Missing("d"))?;

    let id = |raw: Option<&str>, field: &'static str| raw.map_or(Ok(None), |v| snowflake(v, field));
    let rule = rule_for(&event);
    let guild = match rule {
        Rule::Guild => id(found.id, "id")?,
        Rule::User | Rule::Ready => None,
        _ => id(found.guild_id, "guild_id")?,
    };
    let channel = match rule {
        Rule::Channel => id(found.id, "id")?,
        Rule::Guild | Rule::User | Rule::Ready => None,
        _ => id(found.channel_id, "channel_id")?,
    };
    let user = match rule {
        Rule::Guild => None,
        Rule::Channel => id(found.user_id, "user_id")?,
        Rule::Message => id(found.author_id, "author.id")?,
        Rule::Interaction => first(id(found.member_user_id, "member.user.id")?, || {
            id(found.user_nested_id, "user.id")
        })?,
        Rule::User => id(found.id, "id")?,
        Rule::Ready => id(found.user_nested_id, "user.id")?,
        Rule::Generic => {
            let user = first(id(found.user_id, "user_id")?, || {
                id(found.user_nested_id, "user.id")
            })?;
            let user = first(user, || id(found.author_id, "author.id"))?;
            first(user, || id(found.member_user_id, "member.user.id"))?
        }
    };
    Ok(Dispatch {
        event,
        seq,
        data,
        ids: RoutingIds {
            guild,
            channel,
            user,
        },
    })
}

fn first(
    found: Option<u64>,
    next: impl FnOnce() -> Result<Option<u64>, RouteError>,
) -> Result<Option<u64>, RouteError> {
    match found {
        Some(v) => Ok(Some(v)),
        None => next(),
    }
}

/// A JSON string's value; borrowed from the frame unless it has escapes. `None` for
/// anything but a string.
fn string_value(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

/// A snowflake from a string (`"123"`) or a number (`123`); `null` is absent.
fn snowflake(raw: &str, field: &'static str) -> Result<Option<u64>, RouteError> {
    if raw == "null" {
        return Ok(None);
    }
    let digits = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner,
        None => raw,
    };
    digits
        .parse::<u64>()
        .map(Some)
        .map_err(|_| RouteError::BadId {
            field,
            value: crate::topic::truncate(raw, 40),
        })
}

#[cfg(test)]
mod tests;
