//! Typed events: each Discord event the macros know is a marker type implementing [`Event`],
//! naming the dispatch (`t`), the twilight-model type its payload is parsed into, and the text
//! a handler's regex is matched against (a message's content, a reaction's emoji, a command's
//! name).
//!
//! Parsing goes through [`decode`], which names the field that did not fit.

use serde::de::DeserializeOwned;
use twilight_model::application::interaction::{Interaction, InteractionData};
use twilight_model::channel::Message;
use twilight_model::channel::message::EmojiReactionType;
use twilight_model::gateway::GatewayReaction;
use twilight_model::gateway::payload::incoming::{
    GuildCreate, MemberAdd, MemberRemove, MessageDelete, TypingStart,
};

use crate::error::HandlerError;

/// A Discord event with a typed payload.
pub trait Event: Send + Sync + 'static {
    /// The dispatch name, such as `MESSAGE_CREATE`.
    const NAME: &'static str;
    /// The payload type (`d`).
    type Data: DeserializeOwned + Send + Sync + 'static;
    /// The text a handler's regex is matched against; `None` when the event has none.
    fn text(_data: &Self::Data) -> Option<&str> {
        None
    }
    /// Whether the event was caused by a bot (skipped unless the bot asks for them).
    fn from_bot(_data: &Self::Data) -> bool {
        false
    }
}

macro_rules! event {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $data:ty $(, text = $text:expr)? $(, bot = $bot:expr)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $ty;
        impl Event for $ty {
            const NAME: &'static str = $name;
            type Data = $data;
            $(fn text(data: &Self::Data) -> Option<&str> {
                let f: fn(&Self::Data) -> Option<&str> = $text;
                f(data)
            })?
            $(fn from_bot(data: &Self::Data) -> bool {
                let f: fn(&Self::Data) -> bool = $bot;
                f(data)
            })?
        }
    };
}

event!(
    /// `MESSAGE_CREATE`: a [`Message`]; the regex sees its content; bots' messages are skipped.
    MessageCreate, "MESSAGE_CREATE", Message,
    text = |m| Some(m.content.as_str()),
    bot = |m| m.author.bot
);
event!(
    /// `MESSAGE_UPDATE`: the edited [`Message`]; the regex sees its content.
    MessageUpdate, "MESSAGE_UPDATE", Message,
    text = |m| Some(m.content.as_str()),
    bot = |m| m.author.bot
);
event!(
    /// `MESSAGE_DELETE`: [`MessageDelete`].
    MessageDeleted, "MESSAGE_DELETE", MessageDelete
);
event!(
    /// `MESSAGE_REACTION_ADD`: a [`GatewayReaction`]; the regex sees the emoji (the character
    /// of a Unicode emoji, the name of a custom one).
    ReactionAdd, "MESSAGE_REACTION_ADD", GatewayReaction,
    text = |r| emoji_text(&r.emoji),
    bot = |r| r.member.as_ref().is_some_and(|m| m.user.bot)
);
event!(
    /// `MESSAGE_REACTION_REMOVE`: a [`GatewayReaction`]; the regex sees the emoji.
    ReactionRemove, "MESSAGE_REACTION_REMOVE", GatewayReaction,
    text = |r| emoji_text(&r.emoji)
);
event!(
    /// `GUILD_MEMBER_ADD`: [`MemberAdd`].
    MemberJoin, "GUILD_MEMBER_ADD", MemberAdd
);
event!(
    /// `GUILD_MEMBER_REMOVE`: [`MemberRemove`].
    MemberLeave, "GUILD_MEMBER_REMOVE", MemberRemove
);
event!(
    /// `GUILD_CREATE`: [`GuildCreate`].
    GuildAvailable, "GUILD_CREATE", GuildCreate
);
event!(
    /// `TYPING_START`: [`TypingStart`].
    Typing, "TYPING_START", TypingStart
);
event!(
    /// `INTERACTION_CREATE`: an [`Interaction`]; the regex sees the application command's
    /// name (or a component's custom id).
    InteractionCreate, "INTERACTION_CREATE", Interaction,
    text = |i| match i.data.as_ref()? {
        InteractionData::ApplicationCommand(c) => Some(c.name.as_str()),
        InteractionData::MessageComponent(c) => Some(c.custom_id.as_str()),
        InteractionData::ModalSubmit(m) => Some(m.custom_id.as_str()),
        _ => None,
    }
);

fn emoji_text(emoji: &EmojiReactionType) -> Option<&str> {
    match emoji {
        EmojiReactionType::Unicode { name } => Some(name.as_str()),
        EmojiReactionType::Custom { name, .. } => name.as_deref(),
    }
}

/// Parses an event's raw payload into `T`; a mismatch names the event, the type and the
/// field (`author.id`, or `.` for the payload itself).
///
/// ```
/// use switchyard_bot::event::decode;
/// use switchyard_bot::HandlerError;
/// #[derive(serde::Deserialize)]
/// struct Hello { author: Author }
/// #[derive(serde::Deserialize)]
/// struct Author { id: u64 }
/// let e = decode::<Hello>("MESSAGE_CREATE", r#"{"author": {"id": "x"}}"#).err().unwrap();
/// let HandlerError::Payload { event, path, .. } = &e else { panic!() };
/// assert_eq!((event.as_str(), path.as_str()), ("MESSAGE_CREATE", "author.id"));
/// ```
pub fn decode<T: DeserializeOwned>(event: &str, raw: &str) -> Result<T, HandlerError> {
    let mut de = serde_json::Deserializer::from_str(raw);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        HandlerError::Payload {
            event: event.to_owned(),
            ty: short_type_name::<T>(),
            path,
            message: strip_position(&inner.to_string()),
        }
    })
}

/// `twilight_model::channel::message::Message` → `Message`.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// serde_json's "… at line 1 column 42" says little about an event; the path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_field_is_named_with_its_path() {
        let raw = r#"{"id":"1","channel_id":"2","author":{"id":"three","username":"x"}}"#;
        let e = decode::<Message>("MESSAGE_CREATE", raw).expect_err("bad id");
        let HandlerError::Payload {
            event, ty, path, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(event, "MESSAGE_CREATE");
        assert_eq!(*ty, "Message");
        assert_eq!(path, "author.id");
        assert!(e.to_string().contains("author.id"), "{e}");
        assert!(!e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn reaction_text_is_the_emoji() {
        let raw = r#"{"user_id":"1","channel_id":"2","message_id":"3","guild_id":"4",
            "emoji":{"id":null,"name":"😄"},"burst":false,"burst_colors":[],"type":0}"#;
        let r: GatewayReaction = decode("MESSAGE_REACTION_ADD", raw).expect("reaction");
        assert_eq!(ReactionAdd::text(&r), Some("😄"));
    }
}
