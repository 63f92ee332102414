//! The handler context: the typed event, where it came from, and the ways to answer —
//! [`Context::send`], [`Context::reply`], [`Context::react`], [`Context::edit`],
//! [`Context::create_message`] and typed REST requests ([`Context::request`]), all
//! published on the outbound topics the gateway reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use switchyard_broker::{Broker, Topic};
use switchyard_core::outbound::OutboundTopics;
use twilight_model::channel::Message;

use crate::error::{BotError, HandlerError};
use crate::nonce;
use crate::rest::{Replies, RestRequest, RestResponse, encode_emoji};

/// What one bot's handlers share.
pub(crate) struct BotShared {
    pub(crate) name: String,
    pub(crate) instance: String,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) replies: Arc<Replies>,
    pub(crate) request_timeout: Duration,
    pub(crate) include_bots: bool,
    /// The outbound topics of the Discord bot served.
    pub(crate) outbound: OutboundTopics,
    /// The highest shard-pool epoch seen per source.
    pub(crate) epochs: crate::epochs::Epochs,
}

/// One received event, shared by the handlers it goes to.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) topic: Topic,
    /// The platform, from the envelope's `s` (`discord`, `irc`).
    pub(crate) platform: String,
    pub(crate) event: String,
    pub(crate) id: String,
    pub(crate) d: Box<RawValue>,
    /// The envelope's `old`: what the event changed, as the gateway's cache held it.
    pub(crate) old: Option<Box<RawValue>>,
    pub(crate) ids: Ids,
    /// The envelope's source and, in a shard pool, its epoch.
    pub(crate) epoch: Option<(String, u64)>,
}

/// The ids an event carries, from its payload or else its topic.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ids {
    pub(crate) guild: Option<u64>,
    pub(crate) channel: Option<u64>,
    pub(crate) user: Option<u64>,
    pub(crate) message: Option<u64>,
}

#[derive(Deserialize, Default)]
struct RawIds {
    #[serde(default, deserialize_with = "snowflake")]
    id: Option<u64>,
    #[serde(default, deserialize_with = "snowflake")]
    guild_id: Option<u64>,
    #[serde(default, deserialize_with = "snowflake")]
    channel_id: Option<u64>,
    #[serde(default, deserialize_with = "snowflake")]
    message_id: Option<u64>,
    #[serde(default, deserialize_with = "snowflake")]
    user_id: Option<u64>,
    #[serde(default)]
    author: Option<RawUser>,
}

#[derive(Deserialize, Default)]
struct RawUser {
    #[serde(default, deserialize_with = "snowflake")]
    id: Option<u64>,
}

fn snowflake<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    })
}

impl Ids {
    /// Reads the ids of `event` from its payload, then its `inbound.discord.{g}.{c}.{u}` topic.
    pub(crate) fn read(event: &str, d: &RawValue, topic: &Topic) -> Ids {
        let raw: RawIds = serde_json::from_str(d.get()).unwrap_or_default();
        let segs: Vec<&str> = topic.segments().collect();
        let from_topic = |i: usize| {
            (segs.len() == 5 && segs[0] == "inbound")
                .then(|| segs[i].parse::<u64>().ok())
                .flatten()
                .filter(|v| *v != 0)
        };
        let is_message = matches!(event, "MESSAGE_CREATE" | "MESSAGE_UPDATE");
        Ids {
            guild: raw.guild_id.or_else(|| from_topic(2)),
            channel: raw.channel_id.or_else(|| from_topic(3)),
            user: raw
                .author
                .and_then(|a| a.id)
                .or(raw.user_id)
                .or_else(|| from_topic(4)),
            message: raw.message_id.or(if is_message { raw.id } else { None }),
        }
    }
}

/// What a handler gets: the typed event `D` and ways to answer.
///
/// Answers go to the bot's outbound topic of the event, `{outbound}.{guild}.{channel}.{user}`
/// (`outbound.discord.…` unless [`crate::Bot::outbound`] says otherwise), so that the gateway
/// sends them in order per channel. An event from another platform is answered where it came
/// from: `inbound.irc.{network}.{channel}.{nick}` on `outbound.irc.{network}.{channel}.{nick}`
/// ([`Context::platform`] tells which); there, [`Context::send`] and [`Context::reply`] work
/// and the Discord REST helpers return [`BotError::Unsupported`].
///
/// The messages a handler creates ([`Context::send`], [`Context::reply`],
/// [`Context::create_message`]) carry a nonce derived from the event's id, the handler and
/// how many it created before, with `enforce_nonce`: when an event is delivered again (the
/// bot crashed after answering, before its acknowledgement reached the broker), Discord
/// returns the first answer instead of posting a second one, for a few minutes.
pub struct Context<D> {
    data: D,
    incoming: Arc<Incoming>,
    bot: Arc<BotShared>,
    handler: Arc<str>,
    created: AtomicU32,
}

impl<D> Context<D> {
    pub(crate) fn new(
        data: D,
        incoming: Arc<Incoming>,
        bot: Arc<BotShared>,
        handler: Arc<str>,
    ) -> Self {
        Context {
            data,
            incoming,
            bot,
            handler,
            created: AtomicU32::new(0),
        }
    }

    /// The nonce of the next message this handler creates for this event.
    fn next_nonce(&self) -> String {
        let n = self.created.fetch_add(1, Ordering::Relaxed);
        nonce::derive(&self.bot.name, &self.handler, &self.incoming.id, n)
    }

    /// The typed event.
    pub fn event(&self) -> &D {
        &self.data
    }

    /// The typed event, by value.
    pub fn into_event(self) -> D {
        self.data
    }

    /// The event's raw payload, byte for byte as Discord sent it.
    pub fn raw(&self) -> &str {
        self.incoming.d.get()
    }

    /// What an update or delete event changed, as it was before, parsed into `T` (the type
    /// of the object, such as twilight-model's `Message` for `MESSAGE_UPDATE` or `Member`
    /// for `GUILD_MEMBER_UPDATE`); `None` when the gateway's cache did not hold it, or keeps
    /// no cache (`[gateway.cache]`). The objects are in Discord's shape: see `docs/cache.md`.
    ///
    /// ```no_run
    /// # use switchyard_bot::{Context, HandlerError};
    /// # use twilight_model::channel::Message;
    /// # fn f(ctx: &Context<Message>) -> Result<(), HandlerError> {
    /// if let Some(before) = ctx.old::<Message>()? {
    ///     println!("edited: {:?} -> {:?}", before.content, ctx.event().content);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn old<T: DeserializeOwned>(&self) -> Result<Option<T>, HandlerError> {
        self.incoming
            .old
            .as_deref()
            .map(|raw| crate::event::decode(&self.incoming.event, raw.get()))
            .transpose()
    }

    /// The envelope's `old`, raw (see [`Context::old`]).
    pub fn old_raw(&self) -> Option<&str> {
        self.incoming.old.as_deref().map(RawValue::get)
    }

    /// The event name, such as `MESSAGE_CREATE`.
    pub fn event_name(&self) -> &str {
        &self.incoming.event
    }

    /// The envelope's deterministic id (the same for a replayed event).
    pub fn event_id(&self) -> &str {
        &self.incoming.id
    }

    /// The platform the event came from: `discord` or `irc` (the first part of the
    /// envelope's `s`).
    pub fn platform(&self) -> &str {
        &self.incoming.platform
    }

    /// The topic the event arrived on.
    pub fn topic(&self) -> &Topic {
        &self.incoming.topic
    }

    /// The guild, if the event has one.
    pub fn guild_id(&self) -> Option<u64> {
        self.incoming.ids.guild
    }

    /// The channel, if the event has one.
    pub fn channel_id(&self) -> Option<u64> {
        self.incoming.ids.channel
    }

    /// The user who caused the event, if known.
    pub fn user_id(&self) -> Option<u64> {
        self.incoming.ids.user
    }

    /// The message the event is about (a message's id, a reaction's message).
    pub fn message_id(&self) -> Option<u64> {
        self.incoming.ids.message
    }

    /// The bot's name.
    pub fn bot_name(&self) -> &str {
        &self.bot.name
    }

    /// This instance's name (unique per process).
    pub fn instance(&self) -> &str {
        &self.bot.instance
    }

    /// The outbound topic of this event: `{outbound}.{guild}.{channel}.{user}`, or for
    /// another platform the event's topic with `outbound` for `inbound`.
    pub fn outbound_topic(&self) -> Result<Topic, BotError> {
        if let Some(topic) = self.elsewhere()? {
            return Ok(topic);
        }
        let channel = self.require_channel()?;
        Ok(self.outbound_for(channel))
    }

    /// For an event from a platform other than Discord: its outbound topic.
    fn elsewhere(&self) -> Result<Option<Topic>, BotError> {
        if self.incoming.platform == "discord" {
            return Ok(None);
        }
        let rest = self
            .incoming
            .topic
            .as_str()
            .strip_prefix("inbound.")
            .ok_or_else(|| self.no("outbound topic"))?;
        Topic::new(&format!("outbound.{rest}"))
            .map(Some)
            .map_err(|e| BotError::Invalid(e.to_string()))
    }

    /// Refuses a Discord REST helper on another platform.
    fn discord_only(&self, what: &'static str) -> Result<(), BotError> {
        match self.incoming.platform.as_str() {
            "discord" => Ok(()),
            platform => Err(BotError::Unsupported {
                platform: platform.to_owned(),
                what,
            }),
        }
    }

    pub(crate) fn outbound_for(&self, channel: u64) -> Topic {
        let ids = self.incoming.ids;
        self.bot
            .outbound
            .topic(ids.guild.unwrap_or(0), channel, ids.user.unwrap_or(0))
    }

    pub(crate) fn shared(&self) -> &BotShared {
        &self.bot
    }

    fn require_channel(&self) -> Result<u64, BotError> {
        self.incoming.ids.channel.ok_or_else(|| self.no("channel"))
    }

    fn require_message(&self) -> Result<u64, BotError> {
        self.incoming.ids.message.ok_or_else(|| self.no("message"))
    }

    fn no(&self, what: &'static str) -> BotError {
        BotError::NoTarget {
            event: self.incoming.event.clone(),
            what,
        }
    }

    async fn publish(&self, topic: &Topic, value: &Value) -> Result<(), BotError> {
        self.bot
            .broker
            .publish(topic, Bytes::from(value.to_string()))
            .await?;
        Ok(())
    }

    /// Sends `text` to the event's channel. Returns once published; the gateway reports
    /// failures on `errors.outbound…`.
    pub async fn send(&self, text: impl Into<String>) -> Result<(), BotError> {
        let topic = self.outbound_topic()?;
        let mut body = serde_json::json!({ "content": text.into() });
        nonce::stamp(&mut body, || self.next_nonce());
        self.publish(&topic, &body).await
    }

    /// Answers the event's message with `text`, as a Discord reply to it (without pinging
    /// its author). Returns once published.
    pub async fn reply(&self, text: impl Into<String>) -> Result<(), BotError> {
        // On IRC, where replies have no reference, the text goes to the same channel.
        let topic = self.outbound_topic()?;
        let message = self.require_message()?;
        let mut body = serde_json::json!({
            "content": text.into(),
            "message_reference": {"message_id": message.to_string(), "fail_if_not_exists": false},
            "allowed_mentions": {"parse": [], "replied_user": false},
        });
        nonce::stamp(&mut body, || self.next_nonce());
        self.publish(&topic, &body).await
    }

    /// Creates a message in `channel` from a message object (`content`, `embeds`,
    /// `message_reference`, `allowed_mentions`...) and returns Discord's message. A message
    /// without a `nonce` gets the handler's (see [`Context`]).
    pub async fn create_message(
        &self,
        channel: u64,
        mut message: Value,
    ) -> Result<Message, BotError> {
        nonce::stamp(&mut message, || self.next_nonce());
        let req = RestRequest::post(format!("/channels/{channel}/messages")).json(&message)?;
        self.request_in(channel, &req).await?.json(&req.describe())
    }

    /// Adds the reaction `emoji` (`👍`, or `name:id` for a custom emoji) to the event's
    /// message, and waits for Discord's answer.
    pub async fn react(&self, emoji: &str) -> Result<(), BotError> {
        let channel = self.require_channel()?;
        let message = self.require_message()?;
        let req = RestRequest::put(format!(
            "/channels/{channel}/messages/{message}/reactions/{}/@me",
            encode_emoji(emoji)
        ));
        self.request_in(channel, &req).await.map(drop)
    }

    /// Replaces the content of message `message` in the event's channel (a message the bot
    /// sent) and returns the edited message.
    pub async fn edit(
        &self,
        message: u64,
        content: impl Into<String>,
    ) -> Result<Message, BotError> {
        let channel = self.require_channel()?;
        let req = RestRequest::patch(format!("/channels/{channel}/messages/{message}"))
            .json(&serde_json::json!({"content": content.into()}))?;
        self.request_in(channel, &req).await?.json(&req.describe())
    }

    /// Sends a REST request through the gateway and parses the answer into `T`
    /// (`serde_json::Value` takes anything, `twilight_model` types fit Discord's objects).
    pub async fn request<T: DeserializeOwned>(&self, req: &RestRequest) -> Result<T, BotError> {
        self.request_raw(req).await?.json(&req.describe())
    }

    /// Sends a REST request through the gateway and returns the answer as it came.
    pub async fn request_raw(&self, req: &RestRequest) -> Result<RestResponse, BotError> {
        let channel = self.incoming.ids.channel.unwrap_or(0);
        self.request_in(channel, req).await
    }

    async fn request_in(&self, channel: u64, req: &RestRequest) -> Result<RestResponse, BotError> {
        self.discord_only("REST requests")?;
        let topic = self.outbound_for(channel);
        self.bot
            .replies
            .call(
                self.bot.broker.as_ref(),
                &topic,
                &req.describe(),
                |reply_to| req.payload(reply_to),
                self.bot.request_timeout,
            )
            .await
    }
}

impl<D: std::fmt::Debug> std::fmt::Debug for Context<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("event", &self.incoming.event)
            .field("topic", &self.incoming.topic)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).expect("json")
    }

    #[test]
    fn ids_come_from_the_payload_then_the_topic() {
        let topic = Topic::new("inbound.discord.1.2.3").expect("topic");
        let ids = Ids::read(
            "MESSAGE_CREATE",
            &raw(r#"{"id":"9","channel_id":"20","author":{"id":"30"}}"#),
            &topic,
        );
        assert_eq!(
            ids,
            Ids {
                guild: Some(1),
                channel: Some(20),
                user: Some(30),
                message: Some(9)
            }
        );
        let ids = Ids::read("GUILD_CREATE", &raw(r#"{"id":"1"}"#), &topic);
        let irc = Topic::new("inbound.irc.net.rust.ferris").expect("topic");
        assert_eq!(
            Ids::read("X", &raw("{}"), &irc).guild,
            None,
            "names are not ids"
        );
        assert_eq!(ids.message, None, "a guild's id is not a message");
        assert_eq!(ids.channel, Some(2));
        let ids = Ids::read(
            "MESSAGE_REACTION_ADD",
            &raw(r#"{"message_id":"7","user_id":"8"}"#),
            &topic,
        );
        assert_eq!((ids.message, ids.user), (Some(7), Some(8)));
        let dm = Topic::new("inbound.discord.0.2.3").expect("topic");
        assert_eq!(Ids::read("X", &raw("{}"), &dm).guild, None);
    }
}
