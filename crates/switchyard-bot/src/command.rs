//! Gateway commands from a handler: the bot's presence (op 3), its voice state (op 4) and
//! member requests (op 8). A bot that holds no shard publishes them on its outbound topic;
//! the gateway sends each on the shard that holds the guild and answers on the handler's own
//! reply topic: first that it was sent, then the events that answer it (member chunks with
//! this request's nonce only, the bot's voice state and voice server). The shapes are
//! `switchyard_core::outbound`'s.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use switchyard_core::outbound::{Answer, CommandMessage, GatewayCommand};
pub use switchyard_core::outbound::{
    ErrorKind, MembersRequest, PresenceStatus, PresenceUpdate, Snowflake, VoiceStateUpdate,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::context::Context;
use crate::error::BotError;
use crate::rest::Forget;

/// The members a request returned, over all its chunks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members {
    /// Guild member objects.
    pub members: Vec<Value>,
    /// Ids asked for by `user_ids` that are not members.
    pub not_found: Vec<u64>,
    /// Their presences, when asked for.
    pub presences: Vec<Value>,
}

/// What Discord answered a voice state update with.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceUpdate {
    /// The bot's VOICE_STATE_UPDATE (with its `session_id`, which a voice client needs).
    pub state: Value,
    /// The VOICE_SERVER_UPDATE (`token`, `endpoint`) after joining; none after leaving.
    pub server: Option<Value>,
}

/// The answers to one command, as they come, until a deadline.
struct Answers {
    rx: mpsc::Receiver<Value>,
    /// Forgets the reply topic once the answers are no longer read.
    _forget: Forget,
    deadline: Instant,
    timeout: Duration,
    what: &'static str,
}

impl Answers {
    /// The next answer; an error for a refusal or when none comes in time.
    async fn next(&mut self) -> Result<Answer, BotError> {
        let value = match tokio::time::timeout_at(self.deadline, self.rx.recv()).await {
            Ok(Some(v)) => v,
            Ok(None) => return Err(BotError::Closed),
            Err(_) => {
                return Err(BotError::Timeout {
                    what: self.what.to_owned(),
                    timeout_ms: self.timeout.as_millis() as u64,
                });
            }
        };
        let answer: Answer = serde_json::from_value(value).map_err(|e| BotError::Response {
            what: self.what.to_owned(),
            path: String::new(),
            message: format!("the gateway's answer is not an outbound answer: {e}"),
        })?;
        if answer.ok {
            return Ok(answer);
        }
        Err(BotError::Command {
            command: self.what.to_owned(),
            // The gateway names the kind of every refusal; a missing one is a bad answer.
            kind: answer.kind.unwrap_or(ErrorKind::BadPayload),
            message: answer.error.unwrap_or_default(),
            retry_after_ms: answer.retry_after_ms,
        })
    }
}

impl<D> Context<D> {
    /// Publishes `command` on the event's outbound topic and returns its answers.
    async fn command(&self, command: GatewayCommand) -> Result<Answers, BotError> {
        let bot = self.shared();
        let topic = self.outbound_for(self.channel_id().unwrap_or(0));
        let (reply_to, rx, forget) = bot.replies.open()?;
        let what = command.name();
        let message = CommandMessage {
            command,
            reply_to: Some(reply_to.as_str().to_owned()),
            ack_to: None,
            at_ms: None,
        };
        let body = serde_json::to_string(&message).map_err(|e| BotError::Invalid(e.to_string()))?;
        bot.broker.publish(&topic, Bytes::from(body)).await?;
        Ok(Answers {
            rx,
            _forget: forget,
            deadline: Instant::now() + bot.request_timeout,
            timeout: bot.request_timeout,
            what,
        })
    }

    /// Sets the bot's presence on one shard (`presence.shard`) or on all of them, and
    /// returns once the first shard sent it (or refused it: a shard with no process holding
    /// it, a full command queue).
    ///
    /// ```no_run
    /// # async fn f(ctx: &switchyard_bot::Context<()>) -> Result<(), switchyard_bot::BotError> {
    /// use switchyard_bot::command::{PresenceStatus, PresenceUpdate};
    /// ctx.update_presence(PresenceUpdate {
    ///     shard: None,
    ///     since: None,
    ///     activities: vec![serde_json::json!({"name": "the logs", "type": 3})],
    ///     status: PresenceStatus::Online,
    ///     afk: false,
    /// })
    /// .await
    /// # }
    /// ```
    pub async fn update_presence(&self, presence: PresenceUpdate) -> Result<(), BotError> {
        let mut answers = self
            .command(GatewayCommand::UpdatePresence(presence))
            .await?;
        answers.next().await.map(drop)
    }

    /// Joins, moves within or leaves (`channel_id: None`) a guild's voice channels, and
    /// returns the bot's new voice state and, after joining, the voice server: what a voice
    /// client (Lavalink and the like) needs to connect. A move that brings no new voice
    /// server returns the state alone, after the request timeout.
    pub async fn update_voice_state(
        &self,
        voice: VoiceStateUpdate,
    ) -> Result<VoiceUpdate, BotError> {
        let leaving = voice.channel_id.is_none();
        let mut answers = self
            .command(GatewayCommand::UpdateVoiceState(voice))
            .await?;
        let (mut state, mut server) = (None, None);
        loop {
            let answer = match answers.next().await {
                Ok(answer) => answer,
                // A move within a guild may bring no new voice server: the state is the news.
                Err(BotError::Timeout { .. }) if state.is_some() => {
                    return Ok(VoiceUpdate {
                        state: state.unwrap_or_default(),
                        server,
                    });
                }
                Err(e) => return Err(e),
            };
            match answer.event.as_deref() {
                Some("VOICE_STATE_UPDATE") => state = answer.d,
                Some("VOICE_SERVER_UPDATE") => server = answer.d,
                _ => {}
            }
            if let Some(state) = &state
                && (leaving || server.is_some())
            {
                return Ok(VoiceUpdate {
                    state: state.clone(),
                    server,
                });
            }
        }
    }

    /// Requests members of a guild, by name prefix (`query` with `limit`) or by id
    /// (`user_ids`), and returns them once every chunk arrived. The chunks come to this
    /// request alone: no other consumer sees them. A whole-guild request (`query: ""`,
    /// `limit: 0`) needs the GUILD_MEMBERS intent, and Discord allows one per guild every
    /// 30 s: a second one fails with kind `rate_limited` and `retry_after_ms`.
    pub async fn request_members(&self, request: MembersRequest) -> Result<Members, BotError> {
        let mut answers = self
            .command(GatewayCommand::RequestGuildMembers(request))
            .await?;
        let mut out = Members::default();
        loop {
            let answer = answers.next().await?;
            if answer.event.as_deref() != Some("GUILD_MEMBERS_CHUNK") {
                continue;
            }
            let Some(Value::Object(mut d)) = answer.d else {
                continue;
            };
            let take = |d: &mut serde_json::Map<String, Value>, key: &str| match d.remove(key) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            out.members.extend(take(&mut d, "members"));
            out.presences.extend(take(&mut d, "presences"));
            out.not_found.extend(
                take(&mut d, "not_found")
                    .iter()
                    .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64())),
            );
            let index = d.get("chunk_index").and_then(Value::as_u64).unwrap_or(0);
            let count = d.get("chunk_count").and_then(Value::as_u64).unwrap_or(1);
            if index + 1 >= count {
                return Ok(out);
            }
        }
    }
}
