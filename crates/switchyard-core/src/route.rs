//! Routing from the raw text of a gateway dispatch: the event name, the sequence number, the
//! raw `d` payload and the guild, channel and user ids, in one pass that never builds a tree
//! of `d` (see `scan`).
//!
//! Which ids each event carries follows `discord-protocol.md`, section A5. Paths are exact,
//! so decoys nested deeper (`message_reference.guild_id`, `referenced_message.author.id`)
//! are never mistaken for the event's own ids.

mod index;
mod keys;
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
        match parse_u64(op.as_bytes()) {
            Some(0) => {}
            Some(other) => return Err(RouteError::NotDispatch(other)),
            None => return Err(RouteError::Missing("op")),
        }
    }
    let event = match found.t_plain {
        Some(plain) => Cow::Borrowed(plain),
        None => found
            .t
            .and_then(string_value)
            .ok_or(RouteError::Missing("t"))?,
    };
    let seq = found.s.and_then(|s| parse_u64(s.as_bytes()));
    let data = found.d.ok_or(RouteError::Missing("d"))?;

    let id = |raw: Option<&str>, field: &'static str| raw.map_or(Ok(None), |v| snowflake(v, field));
    let rule = found.rule.unwrap_or_else(|| rule_for(&event));
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
#[inline]
fn snowflake(raw: &str, field: &'static str) -> Result<Option<u64>, RouteError> {
    let digits = match raw.as_bytes() {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    match parse_u64(digits) {
        Some(id) => Ok(Some(id)),
        None => not_a_snowflake(raw, field),
    }
}

/// `null`, or the error for anything else that is not a snowflake.
#[cold]
fn not_a_snowflake(raw: &str, field: &'static str) -> Result<Option<u64>, RouteError> {
    if raw == "null" {
        return Ok(None);
    }
    Err(RouteError::BadId {
        field,
        value: crate::topic::truncate(raw, 40),
    })
}

/// Parses a decimal `u64` exactly as `str::parse::<u64>` does (an optional `+`, then
/// digits), eight digits at a time.
#[inline]
fn parse_u64(digits: &[u8]) -> Option<u64> {
    let digits = digits.strip_prefix(b"+").unwrap_or(digits);
    if digits.is_empty() {
        return None;
    }
    if digits.len() > 19 {
        // Twenty digits or more may overflow: check every step.
        return digits.iter().try_fold(0u64, |value, &b| {
            let digit = b.wrapping_sub(b'0');
            (digit <= 9).then_some(())?;
            value.checked_mul(10)?.checked_add(u64::from(digit))
        });
    }
    // Below 10^19, so no step overflows: the leading one to eight digits one at a time, then
    // the rest (snowflakes have 17 to 19 digits) eight at a time.
    let n = digits.len();
    let (head, tail) = match n {
        0..=8 => return small_u64(digits),
        9..=16 => (n - 8, 8),
        _ => (n - 16, 16),
    };
    let (lead, rest) = digits.split_at(head);
    let mut value = small_u64(lead)?;
    debug_assert_eq!(rest.len(), tail);
    for chunk in rest.as_chunks::<8>().0 {
        value = value * 100_000_000 + eight_digits(*chunk)?;
    }
    Some(value)
}

/// Up to eight digits, one at a time.
#[inline]
fn small_u64(digits: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u64::from(digit);
    }
    Some(value)
}

/// Eight ASCII digits as a number, or `None` if any byte is not a digit (SWAR, as in
/// `fast_float`).
fn eight_digits(chunk: [u8; 8]) -> Option<u64> {
    let v = u64::from_le_bytes(chunk);
    let high = v & 0xF0F0_F0F0_F0F0_F0F0;
    let carried = (v.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4;
    if high | carried != 0x3333_3333_3333_3333 {
        return None;
    }
    let v = (v & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    Some((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32)
}

#[cfg(test)]
mod tests;
