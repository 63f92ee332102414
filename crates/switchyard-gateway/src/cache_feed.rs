//! The shard's cache fed with the shard's dispatches: the one place that decides what the
//! cache reads.
//!
//! - A dispatch of the session the cache is in, at or below the sequence it already read, is
//!   skipped: after a restart from a snapshot the shard resumes from the older of the
//!   snapshot's sequence and the last one published, and Discord replays from there.
//! - The READY of a new session, while the cache holds state from another one (restored from
//!   a snapshot, or kept from a session that could not be resumed), starts a [`Rebuild`]: the
//!   new GUILD_CREATEs are compared with what was held, and the difference comes out as made
//!   up update events. Its report comes out once every guild that held state has had its
//!   GUILD_CREATE, or [`REPORT_AFTER`] the READY with the guilds still waiting named (they
//!   are in an outage; each is still compared when it comes back).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{RwLock, RwLockReadGuard};
use serde_json::Value;
use serde_json::value::RawValue;
use switchyard_cache::{CacheConfig, CacheError, Rebuild, Restored, ShardCache, Synthesized};

/// How long after a new session's READY a rebuild's report waits for the guilds to come
/// back before it goes out without them.
pub(crate) const REPORT_AFTER: Duration = Duration::from_secs(15);

/// A shard's cache as its runner, its snapshots and the cache queries share it. The runner
/// writes, one dispatch at a time; snapshots and queries read ([`read`]), many at once, and
/// a read never waits behind a waiting write: a snapshot reads for up to hundreds of
/// milliseconds on a large shard, the runner waits for it, and a query must not wait
/// behind the runner meanwhile. Readers do not starve the runner: a query reads for
/// microseconds, and snapshots are spaced to hold the runner back at most 2 % of the time.
pub(crate) type SharedCache = Arc<RwLock<CachedShard>>;

/// Reads `cache`, beside any other reader, even while the runner waits to write.
pub(crate) fn read(cache: &RwLock<CachedShard>) -> RwLockReadGuard<'_, CachedShard> {
    cache.read_recursive()
}

/// A shard's cache and how far it got: the session and sequence of the last dispatch it
/// read, and a rebuild under way after a session that could not be resumed.
#[derive(Debug)]
pub struct CachedShard {
    /// The cache.
    pub cache: ShardCache,
    /// The sequence of the last dispatch the cache read (`None` before the first).
    pub seq: Option<u64>,
    /// The session of that dispatch (from a snapshot, until the shard resumes it).
    pub session: Option<Arc<str>>,
    /// A rebuild under way (see `cache_feed`).
    pub(crate) rebuild: Option<Rebuilding>,
}

impl CachedShard {
    /// An empty cache keeping what `config` says.
    pub(crate) fn new(config: &CacheConfig) -> Self {
        CachedShard {
            cache: ShardCache::new(config.clone()),
            seq: None,
            session: None,
            rebuild: None,
        }
    }

    /// A cache restored from a snapshot, where the snapshot left it.
    pub(crate) fn restored(restored: Restored) -> Self {
        CachedShard {
            cache: restored.cache,
            seq: restored.position.seq,
            session: restored.position.session.map(Arc::from),
            rebuild: restored.rebuild.map(Rebuilding::resumed),
        }
    }
}

/// A rebuild under way.
#[derive(Debug)]
pub(crate) struct Rebuilding {
    pub rebuild: Rebuild,
    /// When it started (or was restored from a snapshot).
    since: Instant,
    /// Whether its report went out.
    reported: bool,
}

impl Rebuilding {
    /// A rebuild a snapshot held, going on from now.
    pub(crate) fn resumed(rebuild: Rebuild) -> Self {
        Rebuilding {
            rebuild,
            since: Instant::now(),
            reported: false,
        }
    }
}

/// What feeding one dispatch gave.
#[derive(Debug, Default)]
pub(crate) struct Fed {
    /// The object the event changed or removed, as it was.
    pub old: Option<Box<RawValue>>,
    /// Events made up by a rebuild.
    pub made_up: Vec<Synthesized>,
    /// A rebuild's report, when it is due: `{session, previous_session, complete,
    /// pending_guilds, …RebuildReport}`.
    pub report: Option<Value>,
}

/// Feeds one dispatch the cache reads (`event`, its raw `data` and `seq`, received in
/// `session`). On an error the cache is as it was, and the sequence counts as read.
pub(crate) fn feed(
    cached: &mut CachedShard,
    event: &str,
    data: &str,
    seq: Option<u64>,
    session: &str,
) -> Result<Fed, CacheError> {
    let same = cached.session.as_deref() == Some(session);
    if same && seq.is_some() && seq <= cached.seq {
        return Ok(Fed::default());
    }
    let mut fed = Fed::default();
    if !same {
        let previous = cached.session.replace(Arc::from(session));
        cached.seq = None;
        if event == "READY" {
            if let Some(unreported) = cached.rebuild.take().filter(|r| !r.reported) {
                fed.report = Some(report(&unreported, previous.as_deref()));
            }
            cached.seq = seq;
            let previous = previous.map(|s| s.to_string());
            let (rebuild, made_up) = Rebuild::begin(&mut cached.cache, previous, data)?;
            cached.rebuild = rebuild.map(|rebuild| Rebuilding {
                rebuild,
                since: Instant::now(),
                reported: false,
            });
            fed.made_up = made_up;
            fed.report = fed.report.or_else(|| due(cached));
            return Ok(fed);
        }
    }
    if seq.is_some() {
        cached.seq = seq;
    }
    let (old, made_up) = match &mut cached.rebuild {
        Some(r) => r.rebuild.apply(&mut cached.cache, event, data)?,
        None => (cached.cache.apply(event, data)?, Vec::new()),
    };
    fed.old = old;
    fed.made_up = made_up;
    fed.report = due(cached);
    Ok(fed)
}

/// Records a dispatch the cache does not read: it covers that sequence too.
pub(crate) fn passed(cached: &mut CachedShard, seq: Option<u64>, session: &str) {
    if seq.is_some() && cached.session.as_deref() == Some(session) && seq > cached.seq {
        cached.seq = seq;
    }
}

/// The report of the rebuild under way, if it is due now (and marks it sent; a rebuild with
/// nothing left to wait for ends).
fn due(cached: &mut CachedShard) -> Option<Value> {
    let r = cached.rebuild.as_mut()?;
    let done = r.rebuild.is_done();
    if r.reported || !(done || r.since.elapsed() >= REPORT_AFTER) {
        if done {
            cached.rebuild = None;
        }
        return None;
    }
    r.reported = true;
    let out = report(r, cached.session.as_deref());
    if done {
        cached.rebuild = None;
    }
    Some(out)
}

fn report(r: &Rebuilding, session: Option<&str>) -> Value {
    let mut out = serde_json::to_value(&r.rebuild.report).unwrap_or_default();
    if let Value::Object(o) = &mut out {
        o.insert("session".into(), session.into());
        o.insert(
            "previous_session".into(),
            r.rebuild.previous_session.clone().into(),
        );
        o.insert("complete".into(), r.rebuild.is_done().into());
        let pending: Vec<String> = r.rebuild.pending.iter().map(|g| g.to_string()).collect();
        o.insert("pending_guilds".into(), pending.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_cache::CacheConfig;

    fn ready(guilds: &[&str]) -> String {
        let guilds: Vec<Value> = guilds
            .iter()
            .map(|g| json!({"id": g, "unavailable": true}))
            .collect();
        json!({"user": {"id": "1", "username": "bot"}, "guilds": guilds}).to_string()
    }

    fn guild(id: &str, name: &str) -> String {
        json!({"id": id, "name": name, "channels": [], "roles": [], "members": []}).to_string()
    }

    #[test]
    fn a_query_reads_while_a_snapshot_reads_and_the_runner_waits_to_write() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::Duration;
        let cache: SharedCache = Arc::new(RwLock::new(CachedShard::new(&CacheConfig::all())));
        // a snapshot under way
        let snapshot = read(&cache);
        let writing = Arc::new(AtomicBool::new(false));
        let runner = {
            let (cache, writing) = (cache.clone(), writing.clone());
            std::thread::spawn(move || {
                writing.store(true, Ordering::SeqCst);
                cache.write().seq = Some(7);
            })
        };
        while !writing.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(20));
        // a query now: with a lock that queues readers behind a waiting writer, it would
        // wait for the runner, which waits for the snapshot, which this thread holds
        let (tx, rx) = std::sync::mpsc::channel();
        let query = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let seq = read(&cache).seq;
                let _ = tx.send(seq);
            })
        };
        let answered = rx.recv_timeout(Duration::from_secs(10));
        drop(snapshot);
        runner.join().expect("runner");
        query.join().expect("query");
        assert_eq!(answered, Ok(None), "the query answered during the snapshot");
        assert_eq!(read(&cache).seq, Some(7), "the runner wrote once it ended");
    }

    #[test]
    fn replayed_dispatches_are_read_once_and_a_new_session_rebuilds() {
        let mut c = CachedShard::new(&CacheConfig::all());
        feed(&mut c, "READY", &ready(&["2"]), Some(1), "a").expect("ready");
        feed(&mut c, "GUILD_CREATE", &guild("2", "two"), Some(2), "a").expect("create");
        assert!(c.rebuild.is_none(), "nothing held before the first session");
        // Discord replays 2 after a RESUME from 1: already read, no second GUILD_CREATE
        let update = json!({"id": "2", "name": "renamed"}).to_string();
        let fed = feed(&mut c, "GUILD_UPDATE", &update, Some(2), "a").expect("replay");
        assert!(fed.old.is_none() && c.cache.guild(switchyard_cache::Id(2)).is_some());
        assert!(
            c.cache
                .guild(switchyard_cache::Id(2))
                .is_some_and(|g| g.get().contains("\"two\""))
        );
        passed(&mut c, Some(5), "a");
        assert_eq!(
            c.seq,
            Some(5),
            "a dispatch the cache does not read is covered too"
        );

        // A new session: the guild is compared when it comes back.
        let fed = feed(&mut c, "READY", &ready(&["2"]), Some(1), "b").expect("ready");
        assert!(fed.made_up.is_empty() && fed.report.is_none());
        assert!(c.rebuild.is_some());
        let fed =
            feed(&mut c, "GUILD_CREATE", &guild("2", "renamed"), Some(2), "b").expect("create");
        let names: Vec<&str> = fed.made_up.iter().map(|e| e.event).collect();
        assert_eq!(names, ["GUILD_UPDATE"]);
        let report = fed.report.expect("a report once every guild is back");
        assert_eq!(report["complete"], true);
        assert_eq!(report["previous_session"], "a");
        assert_eq!(report["session"], "b");
        assert_eq!(report["events"]["GUILD_UPDATE"], 1);
        assert!(c.rebuild.is_none());
    }

    #[test]
    fn a_guild_that_does_not_come_back_is_named_in_a_late_report_and_compared_later() {
        let mut c = CachedShard::new(&CacheConfig::all());
        feed(&mut c, "READY", &ready(&["2", "3"]), Some(1), "a").expect("ready");
        feed(&mut c, "GUILD_CREATE", &guild("2", "two"), Some(2), "a").expect("create");
        feed(&mut c, "GUILD_CREATE", &guild("3", "three"), Some(3), "a").expect("create");
        feed(&mut c, "READY", &ready(&["2", "3"]), Some(1), "b").expect("ready");
        let fed = feed(&mut c, "GUILD_CREATE", &guild("2", "two"), Some(2), "b").expect("create");
        assert!(fed.report.is_none(), "guild 3 may still come");
        // REPORT_AFTER later, guild 3 (in an outage) has not come back
        if let Some(r) = c.rebuild.as_mut() {
            r.since = Instant::now()
                .checked_sub(REPORT_AFTER + Duration::from_secs(1))
                .unwrap_or(r.since);
        }
        passed(&mut c, Some(3), "b");
        let fed = feed(
            &mut c,
            "GUILD_EMOJIS_UPDATE",
            &json!({"guild_id": "2", "emojis": []}).to_string(),
            Some(4),
            "b",
        )
        .expect("emojis");
        let report = fed.report.expect("the report, without guild 3");
        assert_eq!(report["complete"], false);
        assert_eq!(report["pending_guilds"], json!(["3"]));
        // when it comes back it is still compared, and no second report goes out
        let fed =
            feed(&mut c, "GUILD_CREATE", &guild("3", "renamed"), Some(5), "b").expect("create");
        let names: Vec<&str> = fed.made_up.iter().map(|e| e.event).collect();
        assert_eq!(names, ["GUILD_UPDATE"]);
        assert!(fed.report.is_none());
        assert!(c.rebuild.is_none(), "nothing left to wait for");
    }
}
