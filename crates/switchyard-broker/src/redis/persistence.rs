//! Whether the Redis that durable delivery (Streams mode, or the key-value store of saved
//! sessions) relies on keeps what it acknowledged, and the warning when it may not.
//!
//! Redis answers a write before its append-only file has it unless `appendfsync` is
//! `always`. With `everysec` it writes the file once per event loop, but while a background
//! fsync still runs (a busy disk) it puts that write off for up to two seconds, answering
//! meanwhile; a server killed then (`kill -9`, an OOM kill) comes back without events the
//! gateway saw confirmed, and sessions saved past them (RELIABILITY.md, finding 9). Without
//! an append-only file, a restart loses every stream and session.

use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::MultiplexedConnection;

/// What a server with these settings can lose when it dies; `None` when it keeps every
/// acknowledged write (or the settings are unknown).
fn risk(appendonly: Option<&str>, appendfsync: Option<&str>) -> Option<&'static str> {
    match (appendonly?, appendfsync?) {
        ("no", _) => Some(
            "keeps no append-only file (appendonly no): a restart loses every stream, every \
             unacknowledged event and every saved session",
        ),
        (_, "always") => None,
        _ => Some(
            "answers writes before its append-only file has them (appendfsync is not \
             always): killed under disk load (kill -9, OOM), it can come back without up to \
             about two seconds of events the gateway saw confirmed, and of saved sessions",
        ),
    }
}

/// Warns once per process when the server behind `conn` may lose acknowledged writes. A
/// server that refuses `CONFIG GET` (a managed Redis, an ACL) is not judged.
pub(crate) async fn warn_if_unsafe(conn: &mut MultiplexedConnection, url: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.load(Ordering::Relaxed) {
        return;
    }
    let reply: Result<Vec<String>, _> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .arg("appendfsync")
        .query_async(conn)
        .await;
    let settings = match reply {
        Ok(settings) => settings,
        Err(e) => {
            return tracing::debug!(%url, error = %e, "cannot read Redis's persistence settings");
        }
    };
    let get = |key: &str| {
        settings
            .chunks(2)
            .find(|kv| kv.first().is_some_and(|k| k == key))
            .and_then(|kv| kv.get(1))
            .map(String::as_str)
    };
    if let Some(risk) = risk(get("appendonly"), get("appendfsync"))
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        metrics::counter!("switchyard_broker_redis_unsafe_persistence_total").increment(1);
        tracing::warn!(
            "Redis at {url} {risk}; for durable delivery set `appendonly yes` and \
             `appendfsync always` (RELIABILITY.md, finding 9)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_append_only_file_synced_before_each_answer_is_safe() {
        assert_eq!(risk(Some("yes"), Some("always")), None);
        assert!(risk(Some("yes"), Some("everysec")).is_some_and(|r| r.contains("two seconds")));
        assert!(risk(Some("yes"), Some("no")).is_some());
        assert!(risk(Some("no"), Some("always")).is_some_and(|r| r.contains("appendonly no")));
        assert_eq!(risk(None, None), None, "unknown settings are not judged");
    }
}
