//! From a raw gateway frame to what is published: parse the dispatch lazily, let the shard's
//! cache read it (when the bot keeps one, for the envelope's `old`), apply the event filter and
//! the own-message rule, render the topic and build the payload (the envelope with `d` spliced
//! in raw, or `d` alone). No I/O; the shard runner calls it for every frame.

use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::value::RawValue;
use switchyard_cache::Synthesized;
use switchyard_core::envelope::{Source, encode_into, encode_synthetic_into};
use switchyard_core::route::RouteError;
use switchyard_core::{Dispatch, Topic, TopicContext, parse_dispatch};

use crate::cache_feed::{self, CachedShard, Fed};
use crate::config::{GatewayConfig, PayloadMode};

/// The topic a cache rebuild's report is published on.
pub const REBUILD_TOPIC: &str = "control.gateway.rebuild";

/// What to do with one frame.
#[derive(Debug)]
pub enum Routed<'a> {
    /// Publish `payload` on `topic`.
    Publish {
        /// The dispatch (for its event name, seq and ids).
        dispatch: Dispatch<'a>,
        /// The topic.
        topic: Topic,
        /// The payload.
        payload: Bytes,
        /// The envelope's id, when the payload is an envelope.
        id: Option<[u8; 32]>,
    },
    /// A dispatch that is not published (filtered, or the bot's own message).
    Skipped(Dispatch<'a>),
    /// Not a dispatch (HELLO, ACK, RECONNECT, INVALID_SESSION...), with its op; twilight
    /// handles it.
    Control(u64),
}

/// Why a frame was not published.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unroutable {
    /// The frame is not a dispatch the router can read.
    #[error(transparent)]
    Frame(RouteError),
    /// The topic rendered for it is not a valid topic.
    #[error("the topic rendered for it, {topic:?}, is not a valid topic: {source}")]
    Topic {
        /// The rendered topic.
        topic: String,
        /// What is wrong with it.
        source: switchyard_core::NameError,
    },
}

/// Turns frames into topics and payloads for one bot.
#[derive(Debug)]
pub struct Router {
    /// The configuration with its profile applied.
    config: GatewayConfig,
    /// The bot's user id (0 until known): the one owner of it, for every shard of the bot.
    own_user: AtomicU64,
}

/// Buffers reused between frames, and what a frame gave besides its own publication.
#[derive(Debug, Default)]
pub struct Scratch {
    topic: String,
    /// Publications to make before the frame's own (in this order): the events a cache
    /// rebuild made up, and its report. Empty for nearly every frame.
    pub extra: Vec<Extra>,
}

/// One publication besides a frame's own.
#[derive(Debug)]
pub struct Extra {
    /// The topic.
    pub topic: Topic,
    /// The payload.
    pub payload: Bytes,
    /// The envelope's id, when it is one.
    pub id: Option<[u8; 32]>,
}

impl Router {
    /// A router from the effective configuration.
    pub fn new(config: &GatewayConfig) -> Self {
        Router {
            config: config.effective(),
            own_user: AtomicU64::new(0),
        }
    }

    /// The bot's user id as known before any READY (from `GET /users/@me`), so that the
    /// own-message rule holds on a session resumed after a restart, which gets no READY.
    pub fn with_own_user(self, user: Option<u64>) -> Self {
        self.own_user.store(user.unwrap_or(0), Ordering::Relaxed);
        self
    }

    /// The bot's user id, as READY (or `GET /users/@me` at start) said it.
    pub fn own_user(&self) -> Option<u64> {
        Some(self.own_user.load(Ordering::Relaxed)).filter(|id| *id != 0)
    }

    /// Records the bot's user id from a READY.
    pub fn learn_own_user(&self, user: Option<u64>) {
        if let Some(id) = user {
            self.own_user.store(id, Ordering::Relaxed);
        }
    }

    /// Whether the bot's own messages are skipped, so its user id is needed.
    pub fn skips_own_messages(&self) -> bool {
        self.config.skip_own_messages
    }

    /// Routes one frame received on `shard` in `session` (under the pool's `epoch`, if in a
    /// pool); the shard's `cache`, if it keeps one, reads the dispatch first (filtered events
    /// too) and gives the envelope its `old`.
    #[allow(clippy::too_many_arguments)]
    pub fn route<'a>(
        &self,
        frame: &'a str,
        shard: u32,
        session: &str,
        epoch: Option<u64>,
        received_ms: u64,
        scratch: &mut Scratch,
        cache: Option<&RwLock<CachedShard>>,
    ) -> Result<Routed<'a>, Unroutable> {
        scratch.extra.clear();
        let dispatch = match parse_dispatch(frame) {
            Ok(d) => d,
            Err(RouteError::NotDispatch(op)) => return Ok(Routed::Control(op)),
            Err(e) => return Err(Unroutable::Frame(e)),
        };
        let fed = match cache {
            Some(cache) if self.config.cache.wants(&dispatch.event) => {
                cached(cache, &dispatch, shard, session)
            }
            Some(cache) => {
                cache_feed::passed(&mut cache.write(), dispatch.seq, session);
                Fed::default()
            }
            None => Fed::default(),
        };
        let old = fed.old;
        if !fed.made_up.is_empty() || fed.report.is_some() {
            let source = Source {
                platform: "discord",
                bot: &self.config.bot,
                shard,
                session,
                epoch,
            };
            let after_seq = dispatch.seq.unwrap_or(0);
            self.made_up(&source, after_seq, received_ms, fed.made_up, scratch);
            if let Some(report) = fed.report {
                self.report(shard, report, scratch);
            }
        }
        let own_user = self.own_user();
        if !self.config.publishes(&dispatch.event)
            || (self.config.skip_own_messages
                && dispatch.event == "MESSAGE_CREATE"
                && own_user.is_some()
                && dispatch.ids.user == own_user)
        {
            return Ok(Routed::Skipped(dispatch));
        }
        let ctx = TopicContext {
            bot: &self.config.bot,
            event: &dispatch.event,
            shard,
            ids: dispatch.ids,
        };
        self.config
            .topic_template
            .render_into(&ctx, &mut scratch.topic);
        let topic = Topic::new(&scratch.topic).map_err(|source| Unroutable::Topic {
            topic: scratch.topic.clone(),
            source,
        })?;
        let (payload, id) = match self.config.payload {
            PayloadMode::Raw => (Bytes::copy_from_slice(dispatch.data.as_bytes()), None),
            PayloadMode::Envelope => {
                let source = Source {
                    platform: "discord",
                    bot: &self.config.bot,
                    shard,
                    session,
                    epoch,
                };
                // Written straight into the buffer the payload keeps, not copied
                // (`encode_into` reserves the whole envelope at once).
                let mut out = Vec::new();
                let old = old.as_deref().map(RawValue::get);
                let id = encode_into(&mut out, &source, &dispatch, received_ms, old);
                (Bytes::from(out), Some(id))
            }
        };
        Ok(Routed::Publish {
            dispatch,
            topic,
            payload,
            id,
        })
    }
}

impl Router {
    /// Renders the events a cache rebuild made up into `scratch.extra`, each in the envelope
    /// marked `synthetic` (none in raw mode, where nothing could tell them from Discord's).
    fn made_up(
        &self,
        source: &Source<'_>,
        after_seq: u64,
        received_ms: u64,
        events: Vec<Synthesized>,
        scratch: &mut Scratch,
    ) {
        if self.config.payload == PayloadMode::Raw {
            return;
        }
        for (index, event) in (0u32..).zip(events) {
            metrics::counter!("switchyard_cache_rebuild_events_total", "event" => event.event)
                .increment(1);
            if !self.config.publishes(event.event) {
                continue;
            }
            let frame = format!(
                r#"{{"op":0,"s":null,"t":"{}","d":{}}}"#,
                event.event,
                event.data.get()
            );
            let Ok(dispatch) = parse_dispatch(&frame) else {
                continue;
            };
            let ctx = TopicContext {
                bot: &self.config.bot,
                event: &dispatch.event,
                shard: source.shard,
                ids: dispatch.ids,
            };
            self.config
                .topic_template
                .render_into(&ctx, &mut scratch.topic);
            let Ok(topic) = Topic::new(&scratch.topic) else {
                continue;
            };
            let mut out = Vec::new();
            let old = event.old.as_deref().map(RawValue::get);
            let why = ("rebuild", after_seq, index);
            let id = encode_synthetic_into(&mut out, source, &dispatch, received_ms, old, why);
            scratch.extra.push(Extra {
                topic,
                payload: Bytes::from(out),
                id: Some(id),
            });
        }
    }

    /// Logs and counts a cache rebuild's report, and adds it to `scratch.extra` for
    /// [`REBUILD_TOPIC`].
    fn report(&self, shard: u32, mut report: serde_json::Value, scratch: &mut Scratch) {
        let count = |key: &str| report[key].as_u64().unwrap_or(0);
        let listed = |key: &str| report[key].as_array().map_or(0, Vec::len);
        let events: u64 = report["events"].as_object().map_or(0, |e| {
            e.values().filter_map(serde_json::Value::as_u64).sum()
        });
        metrics::counter!("switchyard_cache_rebuilds_total").increment(1);
        for (what, n) in [
            ("guilds_removed", listed("removed_guilds") as u64),
            ("guilds_pending", listed("pending_guilds") as u64),
            ("threads", listed("threads_gone") as u64),
            ("members", count("members_unverified")),
            ("messages", count("messages_unverified")),
        ] {
            metrics::counter!("switchyard_cache_rebuild_unknown_total", "what" => what)
                .increment(n);
        }
        tracing::warn!(
            shard,
            complete = report["complete"].as_bool().unwrap_or(false),
            guilds_compared = count("guilds_compared"),
            events,
            guilds_removed = listed("removed_guilds"),
            guilds_pending = listed("pending_guilds"),
            threads_unknown = listed("threads_gone"),
            members_unknown = count("members_unverified"),
            messages_unverified = count("messages_unverified"),
            "the cache was rebuilt from a new session's GUILD_CREATEs; what changed meanwhile was published as made-up update events, and what cannot be known is reported on {REBUILD_TOPIC}"
        );
        if let serde_json::Value::Object(o) = &mut report {
            o.insert("bot".into(), self.config.bot.clone().into());
            o.insert("shard".into(), shard.into());
            o.insert("at_ms".into(), crate::command::now_ms().into());
        }
        if let Ok(topic) = Topic::new(REBUILD_TOPIC) {
            scratch.extra.push(Extra {
                topic,
                payload: Bytes::from(report.to_string()),
                id: None,
            });
        }
    }
}

/// Feeds `dispatch` (an event the cache reads) to `cache` (see `cache_feed`). A payload the
/// cache cannot read changes nothing in it; the event is still published as received, and
/// the problem is logged and counted.
fn cached(cache: &RwLock<CachedShard>, dispatch: &Dispatch<'_>, shard: u32, session: &str) -> Fed {
    let mut cached = cache.write();
    cache_feed::feed(
        &mut cached,
        &dispatch.event,
        dispatch.data,
        dispatch.seq,
        session,
    )
    .unwrap_or_else(|e| {
        metrics::counter!("switchyard_cache_errors_total", "event" => dispatch.event.to_string())
            .increment(1);
        tracing::warn!(shard, error = %e, "the cache could not read an event; published unchanged");
        Fed::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use crate::secret::Secret;
    use switchyard_core::Envelope;

    const MSG: &str = r#"{"op":0,"s":5,"t":"MESSAGE_CREATE","d":{"id":"9","channel_id":"2","guild_id":"1","author":{"id":"3"},"content":"hi"}}"#;

    #[test]
    fn envelope_topic_and_filters() {
        let cfg = GatewayConfig::new("echo", Secret::new("t"));
        let r = Router::new(&cfg);
        let mut s = Scratch::default();
        let Routed::Publish {
            topic, payload, id, ..
        } = r
            .route(MSG, 0, "sess", None, 7, &mut s, None)
            .expect("routes")
        else {
            panic!("published")
        };
        assert_eq!(topic.as_str(), "inbound.discord.1.2.3");
        let env = Envelope::decode(&payload).expect("envelope");
        let source = Source {
            platform: "discord",
            bot: "echo",
            shard: 0,
            session: "sess",
            epoch: None,
        };
        let id = id.expect("an envelope's id");
        assert_eq!(id, switchyard_core::envelope::event_id(&source, 5));
        assert_eq!(env.id.as_bytes(), id, "the id written is the id handed on");
        assert_eq!(env.seq, Some(5));
        assert_eq!(env.bot, "echo");
        assert!(env.d.get().contains("\"content\":\"hi\""));
        assert!(matches!(
            r.route(r#"{"op":11,"d":null}"#, 0, "s", None, 0, &mut s, None),
            Ok(Routed::Control(11))
        ));
        assert!(r.route("{not json", 0, "s", None, 0, &mut s, None).is_err());
    }

    #[test]
    fn bytebot_raw_and_own_messages() {
        let mut cfg = GatewayConfig::new("echo", Secret::new("t"));
        cfg.profile = Profile::Bytebot;
        let r = Router::new(&cfg).with_own_user(Some(77));
        let mut s = Scratch::default();
        let Routed::Publish { payload, .. } = r
            .route(MSG, 0, "sess", None, 7, &mut s, None)
            .expect("routes")
        else {
            panic!("published")
        };
        let v: serde_json::Value = serde_json::from_slice(&payload).expect("json");
        assert_eq!(v["content"], "hi");
        r.learn_own_user(Some(3));
        assert!(matches!(
            r.route(MSG, 0, "sess", None, 7, &mut s, None),
            Ok(Routed::Skipped(_))
        ));
        let typing = r#"{"op":0,"s":6,"t":"TYPING_START","d":{"channel_id":"2","user_id":"3"}}"#;
        assert!(matches!(
            r.route(typing, 0, "sess", None, 7, &mut s, None),
            Ok(Routed::Skipped(_))
        ));
    }
}
