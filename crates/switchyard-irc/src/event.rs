//! An IRC message as an inbound event: its topic, `inbound.irc.{network}.{channel}.{nick}`,
//! and the envelope it is published in. The envelope is the one Discord events come in (`s`
//! is `irc/{network}/0`, `t` is `MESSAGE_CREATE`), and `d` has a Discord message's shape, so
//! that a bot reads both alike; what IRC has no word for is made up, and said so in
//! `docs/irc.md`: the ids are hashes of the names (stable, not Discord's), the message id is a
//! snowflake of the time received, and the IRC names themselves are in `d.irc`.

use serde_json::json;
use switchyard_core::envelope::{Source, encode_into};
use switchyard_core::route::{Dispatch, RoutingIds};
use switchyard_core::{NameError, Topic};

use crate::names::{self, CaseMapping};

/// Discord's epoch, for the message ids made up here.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// One PRIVMSG (or CTCP ACTION) someone sent where the connection hears it.
#[derive(Debug, Clone)]
pub(crate) struct Said<'a> {
    /// The configured network name.
    pub(crate) network: &'a str,
    /// The channel, as the server wrote it; `None` for a private message.
    pub(crate) channel: Option<&'a str>,
    /// The sender.
    pub(crate) nick: &'a str,
    /// The sender's user and host, as the prefix gave them (may be empty).
    pub(crate) user: &'a str,
    pub(crate) host: &'a str,
    /// The text (for an ACTION, without the CTCP wrapping).
    pub(crate) text: &'a str,
    /// A CTCP ACTION (`/me`).
    pub(crate) action: bool,
    /// The server's case mapping.
    pub(crate) casemapping: CaseMapping,
}

/// Where this connection's events come from: the network and the connection (a new one per
/// reconnection, so that ids never repeat).
pub(crate) struct Origin<'a> {
    pub(crate) network: &'a str,
    pub(crate) session: &'a str,
}

/// The topic of `said`.
pub(crate) fn topic(said: &Said<'_>) -> Result<Topic, NameError> {
    let channel = said.channel.map_or_else(
        || names::DIRECT.to_owned(),
        |c| names::channel_segment(c, said.casemapping),
    );
    let nick = names::nick_segment(said.nick, said.casemapping);
    Topic::new(&format!("inbound.irc.{}.{channel}.{nick}", said.network))
}

/// A stable made-up id for a name on a network: 63 bits of a hash, never 0.
pub(crate) fn name_id(network: &str, kind: &str, folded: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in ["irc", network, kind, folded] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    (h.digest() >> 1).max(1)
}

/// The envelope of `said`, the `seq`-th event of the connection, received at `now_ms`.
/// Returns it with its id.
pub(crate) fn envelope(origin: &Origin<'_>, seq: u64, said: &Said<'_>, now_ms: u64) -> Vec<u8> {
    let cm = said.casemapping;
    let nick = cm.lower(said.nick);
    let channel = said.channel.map(|c| cm.lower(c));
    let channel_id = match &channel {
        Some(c) => name_id(said.network, "channel", c),
        None => name_id(said.network, "direct", &nick),
    };
    let message_id = (now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22) | (seq & 0x3f_ffff);
    let d = json!({
        "id": message_id.max(1).to_string(),
        "channel_id": channel_id.to_string(),
        "author": {
            "id": name_id(said.network, "nick", &nick).to_string(),
            "username": said.nick,
            "global_name": said.nick,
            "discriminator": "0",
            "avatar": null,
            "bot": false,
        },
        "content": said.text,
        "timestamp": iso8601(now_ms),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "flags": 0,
        "components": [],
        "irc": {
            "network": said.network,
            "channel": said.channel,
            "nick": said.nick,
            "user": said.user,
            "host": said.host,
            "action": said.action,
        },
    })
    .to_string();
    let source = Source {
        platform: "irc",
        bot: origin.network,
        shard: 0,
        session: origin.session,
        epoch: None,
    };
    let dispatch = Dispatch {
        event: "MESSAGE_CREATE".into(),
        seq: Some(seq),
        data: &d,
        ids: RoutingIds::default(),
    };
    let mut out = Vec::with_capacity(d.len() + 256);
    encode_into(&mut out, &source, &dispatch, now_ms, None);
    out
}

/// `2026-01-31T12:00:00.123000+00:00`, as Discord writes timestamps.
fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::Envelope;

    fn said<'a>(channel: Option<&'a str>, text: &'a str) -> Said<'a> {
        Said {
            network: "libera",
            channel,
            nick: "Ferris",
            user: "~f",
            host: "crab.example",
            text,
            action: false,
            casemapping: CaseMapping::Rfc1459,
        }
    }

    #[test]
    fn topics_name_network_channel_and_nick() {
        let t = |s: &Said<'_>| topic(s).expect("topic").as_str().to_owned();
        assert_eq!(
            t(&said(Some("#Rust"), "hi")),
            "inbound.irc.libera.rust.ferris"
        );
        assert_eq!(t(&said(None, "hi")), "inbound.irc.libera.0.ferris");
        assert_eq!(
            t(&said(Some("#a.b"), "hi")),
            "inbound.irc.libera.a%2Eb.ferris"
        );
    }

    #[test]
    fn the_envelope_reads_as_a_discord_message() {
        let origin = Origin {
            network: "libera",
            session: "s1",
        };
        let now = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z
        let bytes = envelope(&origin, 7, &said(Some("#Rust"), ",echo \"hi\""), now);
        let env = Envelope::decode(&bytes).expect("envelope");
        assert_eq!(env.s, "irc/libera/0");
        assert_eq!(env.t, "MESSAGE_CREATE");
        assert_eq!(env.seq, Some(7));
        let m: twilight_model::channel::Message = env.data().expect("a twilight Message");
        assert_eq!(m.content, ",echo \"hi\"");
        assert_eq!(m.author.name, "Ferris");
        assert!(!m.author.bot);
        assert_eq!(m.timestamp.as_secs(), 1_767_225_600);
        let raw: serde_json::Value = serde_json::from_str(env.d.get()).expect("json");
        assert_eq!(raw["irc"]["channel"], "#Rust");
        assert_eq!(raw["timestamp"], "2026-01-01T00:00:00.123000+00:00");
        // The same channel and nick, however written, have the same ids.
        let again = envelope(&origin, 8, &said(Some("#rust"), "x"), now + 1);
        let again: serde_json::Value = serde_json::from_slice(&again).expect("json");
        assert_eq!(again["d"]["channel_id"], raw["channel_id"]);
        assert_eq!(again["d"]["author"]["id"], raw["author"]["id"]);
        assert_ne!(again["d"]["id"], raw["id"]);
        assert_ne!(again["id"], serde_json::Value::String(env.id.into_owned()));
        let dm = envelope(&origin, 9, &said(None, "x"), now);
        let dm: serde_json::Value = serde_json::from_slice(&dm).expect("json");
        assert_ne!(dm["d"]["channel_id"], raw["channel_id"]);
        assert_eq!(dm["d"]["irc"]["channel"], serde_json::Value::Null);
    }

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
        assert_eq!(
            iso8601(1_709_251_199_999),
            "2024-02-29T23:59:59.999000+00:00"
        );
    }
}
