//! Group reads that notice what the length cap took: a stream is trimmed to about `max_len`
//! entries on every append (`MAXLEN ~`), so a group that falls that far behind loses the
//! oldest of its unread messages. Redis says nothing when that happens; here every read of a
//! group goes through one script that, atomically with the `XREADGROUP`, compares the
//! group's lag (entries added minus entries it read) with the stream's length: the excess
//! was trimmed unread. The script then moves the group's read counter past them, so that each
//! is reported once, and the member logs a warning naming the stream, the group and how many,
//! and counts them in `switchyard_broker_stream_trimmed_total{stream, group, state="unread"}`.
//! Entries a member read but had not acknowledged when they were trimmed come back from
//! `XAUTOCLAIM` as deleted; they are reported the same way with `state="unacked"`.
//!
//! Needs Redis 7.0 or newer (the group's `entries-read` and `lag`). A group whose read counter
//! Redis cannot know (after `XDEL` inside the unread range, or `XGROUP SETID` without
//! `ENTRIESREAD`) has no lag, and a trim is then not counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::Value;
use redis::aio::MultiplexedConnection;

use super::streams_group::{Entry, streams};

/// Checks the group's lag against the stream's length, moves the read counter past what was
/// trimmed unread, then reads new entries: `{lost, last-delivered-id, XREADGROUP reply}`.
/// KEYS[1] the stream; ARGV group, consumer, count.
const READ_SCRIPT: &str = r"
local lost, last = 0, false
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == ARGV[1] then
    last = info['last-delivered-id']
    local lag, read = info['lag'], info['entries-read']
    if lag and read then
      local len = redis.call('XLEN', KEYS[1])
      if lag > len then
        lost = lag - len
        redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], last, 'ENTRIESREAD', read + lost)
      end
    end
  end
end
local got = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
return {lost, last, got}
";

/// Creates the group at the stream's end (`XGROUP CREATE … $ MKSTREAM`) with its read counter
/// set to the entries added so far, so that its lag is known from the start (Redis leaves
/// it unknown otherwise until the group's first read, and a trim before that would go
/// unnoticed). Answers `BUSYGROUP` when the group exists. KEYS[1] the stream; ARGV[1] group.
pub(crate) const CREATE_SCRIPT: &str = r"
local added = 0
local info = redis.pcall('XINFO', 'STREAM', KEYS[1])
if type(info) == 'table' and not info.err then
  for i = 1, #info, 2 do
    if info[i] == 'entries-added' then added = info[i + 1] end
  end
end
local r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM', 'ENTRIESREAD', added)
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP') then
  -- Before Redis 7.0: no ENTRIESREAD (and no lag to watch).
  r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
end
return r
";

/// One stream's part of a group read.
pub(crate) struct GroupRead {
    /// Messages trimmed before the group read them, found by this read.
    pub(crate) lost: u64,
    /// The group's last delivered id before this read (`$` when unknown).
    pub(crate) last: String,
    /// The new entries.
    pub(crate) entries: Vec<Entry>,
}

/// Reads up to `count` new entries of each stream for `consumer` of `group`, in one pipeline.
pub(crate) async fn read(
    conn: &mut MultiplexedConnection,
    keys: &[String],
    group: &str,
    consumer: &str,
    count: usize,
) -> Result<Vec<GroupRead>, redis::RedisError> {
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.cmd("EVAL")
            .arg(READ_SCRIPT)
            .arg(1)
            .arg(key)
            .arg(group)
            .arg(consumer)
            .arg(count);
    }
    let replies: Vec<Value> = pipe.query_async(conn).await?;
    replies
        .into_iter()
        .map(|reply| match reply {
            Value::ServerError(e) => Err(e.into()),
            reply => Ok(parse(reply)),
        })
        .collect()
}

fn parse(reply: Value) -> GroupRead {
    let mut out = GroupRead {
        lost: 0,
        last: "$".to_owned(),
        entries: Vec::new(),
    };
    let Value::Array(parts) = reply else {
        return out;
    };
    let mut parts = parts.into_iter();
    if let Some(Value::Int(n)) = parts.next() {
        out.lost = u64::try_from(n).unwrap_or(0);
    }
    match parts.next() {
        Some(Value::BulkString(b)) => {
            if let Ok(id) = String::from_utf8(b) {
                out.last = id;
            }
        }
        Some(Value::SimpleString(s)) => out.last = s,
        _ => {}
    }
    if let Some(got) = parts.next() {
        out.entries = streams(got).into_iter().flat_map(|(_, e)| e).collect();
    }
    out
}

/// Waits up to `block_ms` for an entry after `lasts` (the groups' last delivered ids) in any
/// of `keys`, without reading it for the group: the next [`read`] does.
pub(crate) async fn wait(
    conn: &mut MultiplexedConnection,
    keys: &[String],
    lasts: &[String],
    block_ms: u64,
) -> Result<(), redis::RedisError> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(1)
        .arg("BLOCK")
        .arg(block_ms)
        .arg("STREAMS")
        .arg(keys)
        .arg(lasts);
    cmd.query_async::<Value>(conn).await.map(|_| ())
}

/// Reports messages of `key` that the length cap removed before `group` was done with them:
/// `unread` ones (never delivered) or `unacked` ones (delivered, not acknowledged).
pub(crate) fn report(
    total: &Arc<AtomicU64>,
    key: &str,
    group: &str,
    state: &'static str,
    n: u64,
    max_len: u64,
) {
    if n == 0 {
        return;
    }
    total.fetch_add(n, Ordering::Relaxed);
    metrics::counter!(
        "switchyard_broker_stream_trimmed_total",
        "stream" => key.to_owned(),
        "group" => group.to_owned(),
        "state" => state,
    )
    .increment(n);
    let what = match state {
        "unread" => "before the group read them",
        _ => "while delivered and not yet acknowledged",
    };
    tracing::warn!(
        "stream {key}: {n} message(s) were trimmed by its length cap (max_len {max_len}) {what}, so group {group} never handles them; raise the durable max_len or add consumers to the group"
    );
}
