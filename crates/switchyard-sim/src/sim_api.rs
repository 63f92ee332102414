//! The sim's own test-control API, served under `/_sim/` beside Discord's gateway and REST
//! ([`http`]: one function per route): the injection of events and faults, which the
//! methods of [`crate::SimHandle`] share (the counters it serves are in [`crate::counters`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::SimError;
use crate::rest::messages::create_message;
use crate::state::session::{ConnCommand, Session};
use crate::state::store::Interaction;
use crate::state::{Event, Shared, lock};
use crate::world::{Channel, User};
use switchyard_core::gateway_proto::frame::Snowflake;

/// An event to inject.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Inject {
    /// A user's message in a guild channel (or a DM channel the sim knows).
    Message {
        /// The channel.
        channel_id: Snowflake,
        /// The content.
        content: String,
        /// The author (default: the first member of the guild).
        #[serde(default)]
        author_id: Option<Snowflake>,
    },
    /// A user's direct message to a bot (opens the DM channel if needed).
    DirectMessage {
        /// The bot's user id (default: the only known bot).
        #[serde(default)]
        bot_id: Option<Snowflake>,
        /// The user (default: the first member of the first guild).
        #[serde(default)]
        user_id: Option<Snowflake>,
        /// The content.
        content: String,
    },
    /// A slash-command interaction sent to one bot.
    Interaction {
        /// The channel.
        channel_id: Snowflake,
        /// The command name.
        command: String,
        /// The bot's user id (default: the only known bot).
        #[serde(default)]
        bot_id: Option<Snowflake>,
        /// The invoking user (default: the first member of the guild).
        #[serde(default)]
        user_id: Option<Snowflake>,
    },
    /// Any dispatch, delivered by the usual rules (shard from `guild_id`, intents).
    Dispatch {
        /// Event name.
        t: String,
        /// Payload.
        d: Value,
        /// Guild (absent: shard 0 only).
        #[serde(default)]
        guild_id: Option<Snowflake>,
        /// Deliver only to this bot.
        #[serde(default)]
        bot_id: Option<Snowflake>,
    },
}

/// A fault to inject. `session_id` absent means every connected session.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// op 7 RECONNECT, then a close.
    Reconnect {
        /// Target session.
        #[serde(default)]
        session_id: Option<String>,
    },
    /// op 9 INVALID_SESSION.
    InvalidSession {
        /// The `d` value.
        resumable: bool,
        /// Target session.
        #[serde(default)]
        session_id: Option<String>,
    },
    /// Close with a code.
    Close {
        /// The close code.
        code: u16,
        /// Target session.
        #[serde(default)]
        session_id: Option<String>,
    },
    /// Drop the TCP connection without a close frame.
    Drop {
        /// Target session.
        #[serde(default)]
        session_id: Option<String>,
    },
    /// Stop (or resume) ACKing heartbeats; without a session, for every connection.
    StopAck {
        /// true to stop, false to resume.
        #[serde(default = "yes")]
        stop: bool,
        /// Target session.
        #[serde(default)]
        session_id: Option<String>,
    },
    /// Ask for a heartbeat (server-sent op 1).
    RequestHeartbeat {
        /// Target session.
        #[serde(default)]
        session_id: Option<String>,
    },
    /// Make the next `count` REST requests fail with 429.
    RateLimit {
        /// How many.
        count: u32,
        /// Global (true) or per route (false).
        #[serde(default)]
        global: bool,
        /// `retry_after` they carry, in milliseconds.
        #[serde(default = "default_retry_ms")]
        retry_after_ms: u64,
        /// `X-RateLimit-Scope` of per-route 429s (default `user`). A `shared` 429 is not
        /// counted as an invalid request, as on Discord. Global 429s always have scope
        /// `global`, so a scope is refused with `global: true`.
        #[serde(default)]
        scope: Option<RateLimitScope>,
    },
}

/// The scope of a forced per-route 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitScope {
    /// The bot's own per-route limit.
    #[default]
    User,
    /// A per-resource limit shared by every bot.
    Shared,
}

fn yes() -> bool {
    true
}

fn default_retry_ms() -> u64 {
    100
}

fn targets(shared: &Shared, session_id: Option<&str>) -> Result<Vec<Arc<Session>>, SimError> {
    match session_id {
        Some(id) => shared
            .session(id)
            .map(|s| vec![s])
            .ok_or_else(|| SimError::BadRequest(format!("unknown session {id}"))),
        None => Ok(shared.live_sessions()),
    }
}

/// Applies a fault; returns how many connections (or forced 429s) it affected.
pub fn fault(shared: &Shared, f: &Fault) -> Result<usize, SimError> {
    let (cmd, sid) = match f {
        Fault::Reconnect { session_id } => (ConnCommand::Reconnect, session_id),
        Fault::InvalidSession {
            resumable,
            session_id,
        } => (ConnCommand::InvalidSession(*resumable), session_id),
        Fault::Close { code, session_id } => (ConnCommand::Close(*code), session_id),
        Fault::Drop { session_id } => (ConnCommand::Drop, session_id),
        Fault::StopAck { stop, session_id } => {
            if session_id.is_none() {
                shared.faults.stop_ack.store(*stop, Ordering::Relaxed);
            }
            (ConnCommand::StopAck(*stop), session_id)
        }
        Fault::RequestHeartbeat { session_id } => (ConnCommand::RequestHeartbeat, session_id),
        Fault::RateLimit {
            count,
            global,
            retry_after_ms,
            scope,
        } => {
            if *global && scope.is_some() {
                return Err(SimError::BadRequest(
                    "a global 429 has scope `global`; `scope` applies to per-route 429s".into(),
                ));
            }
            shared.rest.limiter.force(
                *count,
                *global,
                *scope == Some(RateLimitScope::Shared),
                Duration::from_millis(*retry_after_ms),
            );
            return Ok(*count as usize);
        }
    };
    Ok(targets(shared, sid.as_deref())?
        .iter()
        .filter(|s| s.command(cmd.clone()))
        .count())
}

fn default_bot(
    shared: &Shared,
    bot_id: Option<Snowflake>,
) -> Result<Arc<crate::state::Bot>, SimError> {
    let bots = lock(&shared.bots);
    match bot_id {
        Some(id) => bots.values().find(|b| b.identity.user_id == id.0).cloned(),
        None if bots.len() == 1 => bots.values().next().cloned(),
        None => None,
    }
    .ok_or_else(|| SimError::BadRequest("name a known bot with bot_id".into()))
}

fn guild_user(
    shared: &Shared,
    channel: &Channel,
    user: Option<Snowflake>,
) -> Result<User, SimError> {
    let guild = channel.guild_id.and_then(|g| shared.world.guild(g));
    match (user, guild) {
        (Some(u), _) => shared.world.user(u.0).cloned(),
        (None, Some(g)) => g.members.first().map(|m| m.user.clone()),
        (None, None) => channel.recipient.clone(),
    }
    .ok_or_else(|| SimError::BadRequest("unknown or missing author".into()))
}

fn channel(shared: &Shared, id: u64) -> Result<Channel, SimError> {
    shared
        .world
        .channel(id)
        .cloned()
        .or_else(|| lock(&shared.store).dm_channels.get(&id).cloned())
        .ok_or_else(|| SimError::BadRequest(format!("unknown channel {id}")))
}

/// Injects an event; returns what was created (the message, the interaction id and token, or
/// the number of sessions reached).
pub fn inject(shared: &Shared, e: &Inject) -> Result<Value, SimError> {
    match e {
        Inject::Message {
            channel_id,
            content,
            author_id,
        } => user_message(shared, *channel_id, content, *author_id),
        Inject::DirectMessage {
            bot_id,
            user_id,
            content,
        } => direct_message(shared, *bot_id, *user_id, content),
        Inject::Interaction {
            channel_id,
            command,
            bot_id,
            user_id,
        } => interaction(shared, *channel_id, command, *bot_id, *user_id),
        Inject::Dispatch {
            t,
            d,
            guild_id,
            bot_id,
        } => {
            let mut ev = Event::new(t.clone(), d.clone(), guild_id.map(|g| g.0));
            ev.only_bot = bot_id.map(|b| b.0);
            Ok(json!({"sessions": crate::gateway::dispatch(shared, &ev)}))
        }
    }
}

/// A user's message with plain `content`, as Discord creates it.
fn post(
    shared: &Shared,
    channel: &Channel,
    author: &User,
    content: &str,
) -> Result<Value, SimError> {
    let body = json!({"content": content});
    create_message(shared, channel, author, &body, &[], None, 0)
        .map_err(|e| SimError::BadRequest(e.to_string()))
}

/// [`Inject::Message`].
fn user_message(
    shared: &Shared,
    channel_id: Snowflake,
    content: &str,
    author_id: Option<Snowflake>,
) -> Result<Value, SimError> {
    let ch = channel(shared, channel_id.0)?;
    let author = guild_user(shared, &ch, author_id)?;
    post(shared, &ch, &author, content)
}

/// [`Inject::DirectMessage`]: opens the DM channel of the bot and the user if needed.
fn direct_message(
    shared: &Shared,
    bot_id: Option<Snowflake>,
    user_id: Option<Snowflake>,
    content: &str,
) -> Result<Value, SimError> {
    let bot = default_bot(shared, bot_id)?;
    let user = match user_id {
        Some(u) => shared.world.user(u.0).cloned(),
        None => shared
            .world
            .guilds
            .first()
            .and_then(|g| g.members.first())
            .map(|m| m.user.clone()),
    }
    .ok_or_else(|| SimError::BadRequest("unknown user".into()))?;
    let ch = {
        let mut store = lock(&shared.store);
        let key = (bot.identity.user_id, user.id);
        let id = *store.dms.entry(key).or_insert_with(|| shared.ids.next());
        store
            .dm_channels
            .entry(id)
            .or_insert_with(|| Channel {
                id,
                guild_id: None,
                kind: 1,
                name: String::new(),
                position: 0,
                recipient: Some(user.clone()),
            })
            .clone()
    };
    post(shared, &ch, &user, content)
}

/// [`Inject::Interaction`]: stores the interaction (its callback and webhook routes look it
/// up by token) and dispatches INTERACTION_CREATE to its bot.
fn interaction(
    shared: &Shared,
    channel_id: Snowflake,
    command: &str,
    bot_id: Option<Snowflake>,
    user_id: Option<Snowflake>,
) -> Result<Value, SimError> {
    let data = json!({"id": shared.ids.next().to_string(), "name": command, "type": 1});
    let new = new_interaction(shared, 2, channel_id, data, bot_id, user_id)?;
    let mut ev = Event::new("INTERACTION_CREATE", new.d, new.channel.guild_id);
    ev.only_bot = Some(new.bot.identity.user_id);
    let reached = crate::gateway::dispatch(shared, &ev);
    Ok(json!({"id": new.id.to_string(), "token": new.token, "sessions": reached}))
}

/// An interaction made and stored by [`new_interaction`].
pub(crate) struct NewInteraction {
    /// Its id.
    pub id: u64,
    /// Its token.
    pub token: String,
    /// The interaction object.
    pub d: Value,
    /// The bot it is for.
    pub bot: Arc<crate::state::Bot>,
    /// Its channel.
    pub channel: Channel,
}

/// Makes an interaction of `kind` (2 command, 3 component, 4 autocomplete, 5 modal submit)
/// with `data`, in `channel_id`, by `user_id` for `bot_id`, as Discord shapes it, and stores
/// it (its callback and webhook routes look it up by token).
pub(crate) fn new_interaction(
    shared: &Shared,
    kind: u64,
    channel_id: Snowflake,
    data: Value,
    bot_id: Option<Snowflake>,
    user_id: Option<Snowflake>,
) -> Result<NewInteraction, SimError> {
    let bot = default_bot(shared, bot_id)?;
    let ch = channel(shared, channel_id.0)?;
    let user = guild_user(shared, &ch, user_id)?;
    let id = shared.ids.next();
    let token = format!(
        "aW50ZXJhY3Rpb246{id:x}{:x}",
        xxhash_rust::xxh3::xxh3_64(&id.to_le_bytes())
    );
    lock(&shared.store).interactions.insert(
        token.clone(),
        Interaction {
            id,
            application_id: bot.identity.application_id,
            channel_id: ch.id,
            guild_id: ch.guild_id,
            acknowledged: false,
            original: None,
        },
    );
    let mut d = json!({
        "id": id.to_string(), "application_id": bot.identity.application_id.to_string(),
        "type": kind, "token": token, "version": 1, "locale": "en-US",
        "channel_id": ch.id.to_string(), "channel": ch.to_json(),
        "app_permissions": "2248473465835073", "entitlements": [], "authorizing_integration_owners": {"0": "0"},
        "context": if ch.guild_id.is_some() { 0 } else { 1 }, "attachment_size_limit": 10_485_760,
        "data": data,
    });
    match ch.guild_id.and_then(|g| shared.world.guild(g)) {
        Some(g) => {
            d["guild_id"] = json!(g.id.to_string());
            d["guild_locale"] = json!("en-US");
            let m = g
                .member(user.id)
                .map(|m| m.to_json(true))
                .unwrap_or(json!({"user": user.to_json()}));
            d["member"] = m;
        }
        None => d["user"] = user.to_json(),
    }
    Ok(NewInteraction {
        id,
        token,
        d,
        bot,
        channel: ch,
    })
}
