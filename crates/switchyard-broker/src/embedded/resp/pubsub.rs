//! The pub/sub commands: PUBLISH, (P)SUBSCRIBE, (P)UNSUBSCRIBE and PUBSUB, with Redis's
//! reply sequences and counts.

use std::sync::Arc;

use bytes::Bytes;

use super::conn::Conn;

/// PUBSUB HELP, as Redis 7 prints it.
const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

impl Conn {
    pub(super) fn publish(&mut self, channel: &Bytes, payload: &Bytes) {
        match self
            .shared
            .hub
            .publish_raw(channel.clone(), payload.clone())
        {
            Ok(reached) => {
                // A RESP3 client subscribed to its own channel sees the message before the
                // count, as from Redis.
                self.drain_pending();
                self.reply().int(reached as i64);
            }
            Err(error) => {
                self.count_error("publish");
                self.reply().error(error.to_string().as_bytes());
            }
        }
    }

    /// SUBSCRIBE or PSUBSCRIBE: one confirmation per argument, duplicates included.
    pub(super) fn subscribe(&mut self, names: &[Bytes], pattern: bool) {
        let hub = Arc::clone(&self.shared.hub);
        let mut state = hub.write();
        self.drain_pending();
        for name in names {
            let added = if pattern {
                self.patterns.insert(name.clone())
            } else {
                self.channels.insert(name.clone())
            };
            if added {
                let tx = self.tx.clone();
                if pattern {
                    state.redis.psubscribe(self.id, name.clone(), tx);
                } else {
                    state.redis.subscribe(self.id, name.clone(), tx);
                }
            }
            let count = self.subscriptions();
            let kind = if pattern { "psubscribe" } else { "subscribe" };
            self.reply().subscription(kind, Some(name), count);
        }
    }

    /// UNSUBSCRIBE or PUNSUBSCRIBE: the named ones, or all when none is named; a reply with
    /// a null name when there was nothing to remove.
    pub(super) fn unsubscribe(&mut self, names: &[Bytes], pattern: bool) {
        let hub = Arc::clone(&self.shared.hub);
        let mut state = hub.write();
        self.drain_pending();
        let kind = if pattern {
            "punsubscribe"
        } else {
            "unsubscribe"
        };
        let names: Vec<Bytes> = if names.is_empty() {
            let all = if pattern {
                &self.patterns
            } else {
                &self.channels
            };
            all.iter().cloned().collect()
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            let count = self.subscriptions();
            self.reply().subscription(kind, None, count);
            return;
        }
        for name in &names {
            let removed = if pattern {
                self.patterns.remove(name)
            } else {
                self.channels.remove(name)
            };
            if removed {
                if pattern {
                    state.redis.punsubscribe(self.id, name);
                } else {
                    state.redis.unsubscribe(self.id, name);
                }
            }
            let count = self.subscriptions();
            self.reply().subscription(kind, Some(name), count);
        }
    }

    /// The PUBSUB subcommands; `fullname` is `pubsub|...`, arity already checked.
    pub(super) fn pubsub(&mut self, fullname: &str, args: &[Bytes]) {
        let hub = Arc::clone(&self.shared.hub);
        match fullname {
            "pubsub|channels" | "pubsub|shardchannels" if args.len() > 3 => {
                self.count_error("arity");
                let mut message = b"unknown subcommand or wrong number of arguments for '".to_vec();
                let sub = &args[1];
                message.extend_from_slice(&sub[..sub.len().min(128)]);
                message.extend_from_slice(b"'. Try PUBSUB HELP.");
                self.reply().error(&message);
            }
            "pubsub|channels" => {
                let channels = hub.read().redis.channels(args.get(2).map(|p| &p[..]));
                let mut out = self.reply();
                out.array(channels.len());
                for channel in &channels {
                    out.bulk(channel);
                }
            }
            "pubsub|numsub" => {
                let counts: Vec<usize> = {
                    let state = hub.read();
                    args[2..].iter().map(|c| state.redis.numsub(c)).collect()
                };
                let mut out = self.reply();
                out.array(counts.len() * 2);
                for (channel, count) in args[2..].iter().zip(counts) {
                    out.bulk(channel);
                    out.int(count as i64);
                }
            }
            "pubsub|numpat" => {
                let numpat = hub.read().redis.numpat();
                self.reply().int(numpat as i64);
            }
            "pubsub|shardchannels" => self.reply().array(0),
            "pubsub|shardnumsub" => {
                let mut out = self.reply();
                out.array((args.len() - 2) * 2);
                for channel in &args[2..] {
                    out.bulk(channel);
                    out.int(0);
                }
            }
            _ => {
                let mut out = self.reply();
                out.array(PUBSUB_HELP.len());
                for line in PUBSUB_HELP {
                    out.simple(line);
                }
            }
        }
    }
}
