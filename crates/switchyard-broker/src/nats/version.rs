//! The nats-server versions whose JetStream file store Switchyard's durability relies on,
//! and the warning for older ones.
//!
//! nats-server 2.9 (Debian 12's 2.9.10, for one) can lose writes it had acknowledged when it
//! is killed (`kill -9`, an OOM kill, a power cut) while a key-value bucket is rewritten
//! often, as the session saver does: after the restart the bucket's stream reports messages
//! it no longer holds, and answers "not found" for keys whose older values it still keeps.
//! A shard whose saved session vanished identifies anew, and what it had not yet published
//! is lost without a gap report (RELIABILITY.md, finding 6, with a reproduction that uses no
//! Switchyard code). nats-server 2.10 rewrote that part of the file store; the same
//! reproduction found nothing on it.

use std::sync::atomic::{AtomicBool, Ordering};

/// The first version whose file store kept every acknowledged write in the reproduction.
const DURABLE_SINCE: (u64, u64) = (2, 10);

/// `"2.9.10"` (or `"v2.9.10"`, `"2.11.0-RC.1"`) as (major, minor); `None` when unreadable.
fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim().trim_start_matches('v').split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether a server of `version` is older than [`DURABLE_SINCE`]; an unreadable version is
/// not judged.
fn loses_acked_writes(version: &str) -> bool {
    major_minor(version).is_some_and(|v| v < DURABLE_SINCE)
}

/// Warns once per process when the server `client` is connected to is older than 2.10, since
/// JetStream (streams and the key-value bucket) is about to be used on it.
pub(crate) fn warn_if_old(client: &async_nats::Client, url: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let version = client.server_info().version;
    if loses_acked_writes(&version) && !WARNED.swap(true, Ordering::Relaxed) {
        metrics::counter!("switchyard_broker_nats_server_outdated_total").increment(1);
        tracing::warn!(
            "nats-server {version} at {url} can lose acknowledged JetStream writes when it is \
             killed (kill -9, OOM) under load: saved sessions may vanish, and a shard that \
             finds none identifies anew, losing what it had not published without a gap \
             report; nats-server 2.10 rewrote the part of its file store at fault \
             (RELIABILITY.md, finding 6)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_before_2_10_are_flagged() {
        assert!(loses_acked_writes("2.9.10"));
        assert!(loses_acked_writes("v2.9.25"));
        assert!(loses_acked_writes("2.2.0"));
        assert!(!loses_acked_writes("2.10.26"));
        assert!(!loses_acked_writes("2.11.0-RC.1"));
        assert!(!loses_acked_writes("3.0.0"));
        assert!(!loses_acked_writes(""));
        assert!(!loses_acked_writes("unknown"));
    }
}
