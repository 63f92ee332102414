//! [`FaceEvent`]: one event of the bot read from the broker, decoded once and shared by every
//! session that gets it: its name, guild, upstream position, raw `d`, the intent it needs and,
//! made once on first need, its MESSAGE_CONTENT-less form.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard_core::Envelope;
use switchyard_core::gateway_proto::intents;

/// Where an event stands in its upstream shard's stream, to join it to a cache snapshot that
/// read that shard up to some sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// A dispatch Discord sent, with its sequence.
    Seq(u64),
    /// An event the gateway made up (a rebuild's), published just before the dispatch that
    /// led to it: it comes after this sequence (the last real one seen on its shard).
    After(u64),
    /// Nothing known: always newer than a snapshot.
    Unknown,
}

impl Position {
    /// Whether a snapshot of the shard's cache that read up to `seq` lacks this event.
    pub(crate) fn newer_than(self, seq: Option<u64>) -> bool {
        let Some(seq) = seq else { return true };
        match self {
            Position::Seq(s) => s > seq,
            Position::After(l) => l >= seq,
            Position::Unknown => true,
        }
    }
}

/// An event of the bot, as sessions get it.
#[derive(Debug)]
pub(crate) struct FaceEvent {
    /// A hash of the envelope's deterministic id (`None` without one): the same event
    /// published again (a gateway's replay after a crash) has the same.
    pub(crate) id: Option<u128>,
    pub(crate) name: Box<str>,
    pub(crate) guild: Option<u64>,
    pub(crate) position: Position,
    pub(crate) d: Box<RawValue>,
    /// The intent a client needs to get it (`None`: every client gets it).
    pub(crate) intent: Option<u64>,
    /// For messages in a guild: whose content a client without MESSAGE_CONTENT still gets
    /// (the bot's own and those mentioning it); `None` for events without content.
    pub(crate) message: Option<MessageFacts>,
    /// A GUILD_MEMBER_UPDATE: clients get the bot's own without GUILD_MEMBERS.
    pub(crate) member_user: Option<u64>,
    stripped: OnceLock<Option<Box<RawValue>>>,
}

/// What decides whether a client without MESSAGE_CONTENT gets a message's content.
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageFacts {
    pub(crate) author: Option<u64>,
    pub(crate) mentions: Vec<u64>,
}

/// Why a message on the inbound topics is not an event the face can serve.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("not an envelope: {0}")]
    Envelope(#[from] switchyard_core::envelope::EnvelopeError),
    #[error("ids of {event}: {error}")]
    Route {
        event: String,
        error: switchyard_core::route::RouteError,
    },
}

/// Reads envelopes of one bot into events, keeping the last sequence of each shard for the
/// position of made-up events.
#[derive(Debug)]
pub(crate) struct Decoder {
    bot: String,
    last_seq: HashMap<u32, u64>,
}

impl Decoder {
    pub(crate) fn new(bot: impl Into<String>) -> Self {
        Decoder {
            bot: bot.into(),
            last_seq: HashMap::new(),
        }
    }

    /// The event in `bytes`, or `None` for another bot's.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> Result<Option<FaceEvent>, DecodeError> {
        let env = Envelope::decode(bytes)?;
        if env.bot != self.bot {
            return Ok(None);
        }
        let ids = switchyard_core::route::parse_dispatch(env_text(bytes))
            .map_err(|error| DecodeError::Route {
                event: env.t.to_string(),
                error,
            })?
            .ids;
        let position = match (env.synthetic.is_some(), env.seq) {
            (false, Some(seq)) => {
                self.last_seq.insert(env.shard, seq);
                Position::Seq(seq)
            }
            (true, _) => self
                .last_seq
                .get(&env.shard)
                .map_or(Position::Unknown, |l| Position::After(*l)),
            (false, None) => Position::Unknown,
        };
        let name: &str = &env.t;
        let in_guild = ids.guild.is_some();
        let message = (in_guild && matches!(name, "MESSAGE_CREATE" | "MESSAGE_UPDATE"))
            .then(|| message_facts(env.d));
        let member_user = (name == "GUILD_MEMBER_UPDATE")
            .then_some(ids.user)
            .flatten();
        Ok(Some(FaceEvent {
            id: (!env.id.is_empty()).then(|| xxhash_rust::xxh3::xxh3_128(env.id.as_bytes())),
            intent: intents::required(name, in_guild),
            name: name.into(),
            guild: ids.guild,
            position,
            d: env.d.to_owned(),
            message,
            member_user,
            stripped: OnceLock::new(),
        }))
    }
}

/// The envelope as text for the routing scanner (which reads `t` and the ids below `d`); an
/// envelope that decoded is valid UTF-8.
fn env_text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

fn message_facts(d: &RawValue) -> MessageFacts {
    #[derive(Deserialize)]
    struct Id {
        #[serde(default, deserialize_with = "snowflake")]
        id: Option<u64>,
    }
    #[derive(Deserialize)]
    struct Msg {
        author: Option<Id>,
        #[serde(default)]
        mentions: Vec<Id>,
    }
    serde_json::from_str::<Msg>(d.get())
        .map(|m| MessageFacts {
            author: m.author.and_then(|a| a.id),
            mentions: m.mentions.into_iter().filter_map(|u| u.id).collect(),
        })
        .unwrap_or_default()
}

pub(crate) fn snowflake<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw<'a> {
        N(u64),
        S(&'a str),
        Null(()),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::N(n) => Some(n),
        Raw::S(s) => s.parse().ok(),
        Raw::Null(()) => None,
    })
}

impl FaceEvent {
    /// Whether a client with `intents`, as the bot `bot`, gets this event: `None` if not,
    /// else whether it gets it without its content (no MESSAGE_CONTENT).
    pub(crate) fn delivery(&self, intents: u64, bot: u64) -> Option<bool> {
        if let Some(bit) = self.intent
            && intents & bit == 0
            && self.member_user != Some(bot)
        {
            return None;
        }
        Some(
            intents & intents::MESSAGE_CONTENT == 0
                && self
                    .message
                    .as_ref()
                    .is_some_and(|m| m.author != Some(bot) && !m.mentions.contains(&bot)),
        )
    }

    /// The raw `d`, or its MESSAGE_CONTENT-less form (made once, on first need).
    pub(crate) fn data(&self, stripped: bool) -> &str {
        if !stripped {
            return self.d.get();
        }
        let made = self.stripped.get_or_init(|| {
            let mut value: serde_json::Value = serde_json::from_str(self.d.get()).ok()?;
            intents::strip_content(&mut value);
            serde_json::value::to_raw_value(&value).ok()
        });
        made.as_deref().unwrap_or(&self.d).get()
    }

    /// The `d` a client with `intents` gets, as the bot `bot` (None: it does not get it).
    #[cfg(test)]
    pub(crate) fn data_for(&self, intents: u64, bot: u64) -> Option<&str> {
        self.delivery(intents, bot)
            .map(|stripped| self.data(stripped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(t: &str, seq: Option<u64>, synthetic: bool, d: &str) -> Vec<u8> {
        let seq = seq.map_or("null".to_owned(), |s| s.to_string());
        let syn = if synthetic {
            r#","synthetic":"rebuild""#
        } else {
            ""
        };
        format!(
            r#"{{"v":1,"id":"x","s":"discord/b/1","t":"{t}","seq":{seq},"shard":1,"bot":"b","received_ms":1,"d":{d}{syn}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn positions_of_real_and_made_up_events() {
        let mut dec = Decoder::new("b");
        let a = dec
            .decode(&envelope(
                "TYPING_START",
                Some(7),
                false,
                r#"{"guild_id":"5","channel_id":"6","user_id":"7"}"#,
            ))
            .expect("decodes")
            .expect("ours");
        assert_eq!((a.guild, a.position), (Some(5), Position::Seq(7)));
        let s = dec
            .decode(&envelope(
                "GUILD_ROLE_UPDATE",
                None,
                true,
                r#"{"guild_id":"5","role":{"id":"9"}}"#,
            ))
            .expect("decodes")
            .expect("ours");
        assert_eq!(s.position, Position::After(7));
        // a snapshot at 7 lacks what was made up after 7; one at 8 has it
        assert!(s.position.newer_than(Some(7)));
        assert!(!s.position.newer_than(Some(8)));
        assert!(!a.position.newer_than(Some(7)));
        let other = envelope("TYPING_START", Some(8), false, "{}");
        let other = String::from_utf8(other)
            .expect("utf8")
            .replace(r#""bot":"b""#, r#""bot":"c""#);
        assert!(dec.decode(other.as_bytes()).expect("decodes").is_none());
    }

    #[test]
    fn content_is_stripped_for_clients_without_the_intent() {
        let mut dec = Decoder::new("b");
        let d = r#"{"id":"1","guild_id":"5","channel_id":"6","author":{"id":"40"},"content":"hi","mentions":[{"id":"41"}],"embeds":[]}"#;
        let e = dec
            .decode(&envelope("MESSAGE_CREATE", Some(1), false, d))
            .expect("decodes")
            .expect("ours");
        let guild_messages = 1 << 9;
        assert_eq!(
            e.data_for(guild_messages | intents::MESSAGE_CONTENT, 99),
            Some(d)
        );
        let stripped = e
            .data_for(guild_messages, 99)
            .expect("delivered")
            .to_owned();
        assert!(stripped.contains(r#""content":"""#), "{stripped}");
        // the bot is mentioned: it keeps the content
        assert_eq!(e.data_for(guild_messages, 41), Some(d));
        assert!(e.data_for(intents::GUILDS, 99).is_none());
    }
}
