//! Consumer-group reading for Redis Streams: each member is a consumer with a unique name in
//! the group; it first reclaims entries that another member left unacknowledged for longer
//! than `ack_wait` (`XAUTOCLAIM`, so a crashed member's messages move to the living), then
//! reads new ones (`XREADGROUP … >`). An entry delivered more than `max_deliver` times goes
//! to the dead-letter stream `{name}:dead:{prefix}` (with its topic, payload, group,
//! delivery count and reason) and is acknowledged. Entries in the same stream that do not
//! match the group's pattern are acknowledged for that group and skipped. New entries are
//! read through [`super::trim`], which reports those the stream's length cap removed unread.
//! A member reclaims and reads no more than its window has room for (`max_in_flight`
//! unsettled deliveries).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::Value;
use redis::aio::MultiplexedConnection;
use tokio::sync::{Mutex, OwnedSemaphorePermit, mpsc};

use super::conn::{RedisTarget, bytes, entry_fields, is_connection_error, text};
use super::trim;
use crate::subscription::{AbortOnDrop, Window};
use crate::{Acker, BrokerError, Delivery, DurableOptions, Message, Pattern, Topic};

/// The consumer a refused (nacked) entry is parked under until a member reclaims it: no
/// member reads as it.
pub(crate) const NACK_PARKING: &str = "nack";

/// Whether members acknowledge themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupMode {
    /// Queue groups: acknowledged as soon as handed to the member.
    AutoAck,
    /// Durable subscriptions: the member acks each [`Delivery`].
    Explicit,
}

/// One stream entry as read.
pub(crate) struct Entry {
    pub(crate) id: String,
    /// `None` when the entry has no valid topic (or was trimmed away).
    pub(crate) message: Option<Message>,
}

/// Parses the entries of `XRANGE`/`XREVRANGE`/`XAUTOCLAIM` (`[[id, [k, v, …]], …]`).
pub(crate) fn entries(value: Value) -> Vec<Entry> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items.into_iter().filter_map(entry).collect()
}

fn entry(value: Value) -> Option<Entry> {
    let (id, fields) = entry_fields(value)?;
    let mut topic = None;
    let mut payload = None;
    for (k, v) in fields {
        match k.as_str() {
            "topic" => topic = text(v).and_then(|t| Topic::new(&t).ok()),
            "payload" => payload = bytes(v),
            _ => {}
        }
    }
    let message = match (topic, payload) {
        (Some(topic), Some(payload)) => Some(Message { topic, payload }),
        _ => None,
    };
    Some(Entry { id, message })
}

/// Parses `XREAD`/`XREADGROUP` replies: per stream key, its entries (RESP2 arrays or RESP3
/// maps).
pub(crate) fn streams(value: Value) -> Vec<(String, Vec<Entry>)> {
    let pairs: Vec<(Value, Value)> = match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let v = kv.pop()?;
                    Some((kv.pop()?, v))
                }
                _ => None,
            })
            .collect(),
        Value::Map(items) => items,
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((text(k)?, entries(v))))
        .collect()
}

/// A connection for acknowledgements, reopened after a failure.
struct AckConn {
    target: Arc<RedisTarget>,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl AckConn {
    /// Runs `cmd` on the shared connection. The lock is held only to take a handle: the
    /// connection pipelines, so acks in flight at once are not serialised behind each
    /// other's round trips.
    async fn run(&self, cmd: redis::Cmd) -> Result<Value, BrokerError> {
        let mut conn = {
            let mut slot = self.conn.lock().await;
            match slot.as_ref() {
                Some(c) => c.clone(),
                None => slot
                    .insert(
                        self.target
                            .multiplexed(false)
                            .await
                            .map_err(|e| disconnected(&self.target, e))?,
                    )
                    .clone(),
            }
        };
        match cmd.query_async(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if is_connection_error(&e) {
                    *self.conn.lock().await = None;
                }
                Err(disconnected(&self.target, e))
            }
        }
    }
}

fn disconnected(target: &RedisTarget, e: redis::RedisError) -> BrokerError {
    BrokerError::Disconnected {
        backend: "redis-streams",
        detail: format!("{}: {e}", target.url),
    }
}

/// Settles one entry.
struct StreamAck {
    conn: Arc<AckConn>,
    key: String,
    group: String,
    id: String,
    ack_wait_ms: u64,
}

#[async_trait]
impl Acker for StreamAck {
    async fn ack(&self) -> Result<(), BrokerError> {
        let mut cmd = redis::cmd("XACK");
        cmd.arg(&self.key).arg(&self.group).arg(&self.id);
        self.conn.run(cmd).await.map(|_| ())
    }

    async fn nack(&self) -> Result<(), BrokerError> {
        // Make it look idle for the whole ack wait, so the next XAUTOCLAIM of any member takes
        // it; JUSTID leaves the delivery count alone.
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(&self.key)
            .arg(&self.group)
            .arg(NACK_PARKING)
            .arg(0)
            .arg(&self.id)
            .arg("IDLE")
            .arg(self.ack_wait_ms)
            .arg("JUSTID");
        self.conn.run(cmd).await.map(|_| ())
    }
}

/// What the members of one broker's groups share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) target: Arc<RedisTarget>,
    pub(crate) durable: Arc<DurableOptions>,
    /// Messages trimmed before a group was done with them (see [`super::trim`]).
    pub(crate) trimmed: Arc<AtomicU64>,
}

struct Member {
    target: Arc<RedisTarget>,
    durable: Arc<DurableOptions>,
    trimmed: Arc<AtomicU64>,
    keys: Vec<String>,
    pattern: Pattern,
    group: String,
    consumer: String,
    mode: GroupMode,
    acks: Arc<AckConn>,
    window: Window,
    tx: mpsc::Sender<Delivery>,
}

/// Creates the group on every stream (at the current end) and starts a member.
pub(crate) async fn start(
    shared: Shared,
    keys: Vec<String>,
    pattern: Pattern,
    group: String,
    mode: GroupMode,
    buffer: usize,
) -> Result<(mpsc::Receiver<Delivery>, AbortOnDrop), BrokerError> {
    let Shared {
        target,
        durable,
        trimmed,
    } = shared;
    let conn = target
        .first(|| async {
            let mut conn = target.multiplexed(true).await?;
            for key in &keys {
                let created: Result<Value, _> = redis::cmd("EVAL")
                    .arg(trim::CREATE_SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(&group)
                    .query_async(&mut conn)
                    .await;
                match created {
                    Err(e) if !e.to_string().contains("BUSYGROUP") => return Err(e),
                    _ => {}
                }
            }
            Ok(conn)
        })
        .await?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let window = Window::new(durable.max_in_flight);
    let member = Member {
        acks: Arc::new(AckConn {
            target: Arc::clone(&target),
            conn: Mutex::new(None),
        }),
        target,
        durable,
        trimmed,
        keys,
        pattern,
        consumer: format!("{group}-{}-{nanos:x}", std::process::id()),
        group,
        mode,
        window,
        tx,
    };
    Ok((rx, AbortOnDrop(tokio::spawn(member.run(conn)))))
}

impl Member {
    async fn run(self, mut conn: MultiplexedConnection) {
        let mut cursors: Vec<String> = vec!["0-0".to_owned(); self.keys.len()];
        loop {
            let round = self.round(&mut conn, &mut cursors).await;
            match round {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) if is_connection_error(&e) => {
                    tracing::warn!(
                        "group {} ({}): lost Redis at {}: {e}; reconnecting",
                        self.group,
                        self.pattern,
                        self.target.url
                    );
                    let what = format!("group {}", self.group);
                    match self
                        .target
                        .again(
                            &what,
                            || self.target.multiplexed(true),
                            || self.tx.is_closed(),
                        )
                        .await
                    {
                        Some(c) => conn = c,
                        None => return,
                    }
                }
                Err(e) => {
                    tracing::warn!("group {} ({}): {e}", self.group, self.pattern);
                    tokio::time::sleep(self.target.retry.initial).await;
                }
            }
        }
    }

    /// Reclaims stale entries, then reads new ones, as many as the window has room for;
    /// false when the member went away.
    async fn round(
        &self,
        conn: &mut MultiplexedConnection,
        cursors: &mut [String],
    ) -> Result<bool, redis::RedisError> {
        let ack_wait_ms = self.durable.ack_wait.as_millis().max(1) as u64;
        let mut room = self.window.room(128).await;
        for (i, key) in self.keys.iter().enumerate() {
            if room.len() == 0 {
                return Ok(!self.tx.is_closed());
            }
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(key)
                .arg(&self.group)
                .arg(&self.consumer)
                .arg(ack_wait_ms)
                .arg(&cursors[i])
                .arg("COUNT")
                .arg(room.len().min(64))
                .query_async(conn)
                .await?;
            let Value::Array(mut parts) = reply else {
                continue;
            };
            if parts.len() < 2 {
                continue;
            }
            let claimed = parts.remove(1);
            cursors[i] = text(parts.remove(0)).unwrap_or_else(|| "0-0".to_owned());
            // Redis 7: the ids of pending entries that no longer exist (trimmed).
            if let Some(Value::Array(deleted)) = parts.pop() {
                let n = deleted.len() as u64;
                trim::report(
                    &self.trimmed,
                    key,
                    &self.group,
                    "unacked",
                    n,
                    self.durable.max_len,
                );
            }
            for entry in entries(claimed) {
                let attempt = self.delivery_count(conn, key, &entry.id).await?;
                if !self.deliver(conn, key, entry, attempt, room.take()).await? {
                    return Ok(false);
                }
            }
        }
        let block = (ack_wait_ms / 2).clamp(10, 500);
        let mut lasts = Vec::with_capacity(self.keys.len());
        let mut any = false;
        // One key at a time, so that what is read never exceeds the room left.
        for key in &self.keys {
            if room.len() == 0 {
                return Ok(!self.tx.is_closed());
            }
            let keys = std::slice::from_ref(key);
            let Some(read) = trim::read(conn, keys, &self.group, &self.consumer, room.len())
                .await?
                .pop()
            else {
                lasts.push("$".to_owned()); // one reply per key: not reached
                continue;
            };
            let max_len = self.durable.max_len;
            trim::report(
                &self.trimmed,
                key,
                &self.group,
                "unread",
                read.lost,
                max_len,
            );
            for entry in read.entries {
                any = true;
                if !self.deliver(conn, key, entry, 1, room.take()).await? {
                    return Ok(false);
                }
            }
            lasts.push(read.last);
        }
        if !any && !self.tx.is_closed() {
            trim::wait(conn, &self.keys, &lasts, block).await?;
        }
        Ok(!self.tx.is_closed())
    }

    async fn delivery_count(
        &self,
        conn: &mut MultiplexedConnection,
        key: &str,
        id: &str,
    ) -> Result<u32, redis::RedisError> {
        let reply: Value = redis::cmd("XPENDING")
            .arg(key)
            .arg(&self.group)
            .arg(id)
            .arg(id)
            .arg(1)
            .query_async(conn)
            .await?;
        let count = match reply {
            Value::Array(rows) => rows.into_iter().next().and_then(|row| match row {
                Value::Array(cols) => cols.into_iter().nth(3).and_then(|c| match c {
                    Value::Int(n) => u32::try_from(n).ok(),
                    _ => None,
                }),
                _ => None,
            }),
            _ => None,
        };
        Ok(count.unwrap_or(1))
    }

    /// Hands one entry to the member, holding `slot` of the window, or to the dead-letter
    /// stream; false when the member went away.
    async fn deliver(
        &self,
        conn: &mut MultiplexedConnection,
        key: &str,
        entry: Entry,
        attempt: u32,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<bool, redis::RedisError> {
        let ack = |conn: &mut MultiplexedConnection| {
            let mut cmd = redis::cmd("XACK");
            cmd.arg(key).arg(&self.group).arg(&entry.id);
            let conn = conn.clone();
            async move {
                let mut conn = conn;
                cmd.query_async::<Value>(&mut conn).await.map(|_| ())
            }
        };
        let Some(message) = entry.message.clone() else {
            ack(conn).await?;
            return Ok(true);
        };
        if !self.pattern.matches(message.topic.as_str()) {
            ack(conn).await?;
            return Ok(true);
        }
        if attempt > self.durable.max_deliver {
            let prefix = key
                .strip_prefix(&format!("{}:stream:", self.durable.name))
                .unwrap_or(key);
            let dead = super::streams::dead_key(&self.durable, prefix);
            redis::cmd("XADD")
                .arg(&dead)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.durable.max_len)
                .arg("*")
                .arg("topic")
                .arg(message.topic.as_str())
                .arg("payload")
                .arg(message.payload.as_ref())
                .arg("group")
                .arg(&self.group)
                .arg("deliveries")
                .arg(attempt - 1)
                .arg("reason")
                .arg(crate::dead_letters::reason(
                    attempt - 1,
                    self.durable.max_deliver,
                ))
                .query_async::<Value>(conn)
                .await?;
            ack(conn).await?;
            tracing::warn!(
                "group {}: message {} on {} went to the dead-letter stream {dead} after {} deliveries",
                self.group,
                entry.id,
                message.topic,
                attempt - 1
            );
            return Ok(true);
        }
        let acker = StreamAck {
            conn: Arc::clone(&self.acks),
            key: key.to_owned(),
            group: self.group.clone(),
            id: entry.id.clone(),
            ack_wait_ms: self.durable.ack_wait.as_millis().max(1) as u64,
        };
        if self.mode == GroupMode::AutoAck {
            ack(conn).await?;
        }
        // A stream entry's id is `{unix ms}-{n}`.
        let published = entry.id.split('-').next().and_then(|ms| ms.parse().ok());
        Ok(self
            .tx
            .send(
                Delivery::new(message, attempt, acker)
                    .published_at(published)
                    .in_window(slot),
            )
            .await
            .is_ok())
    }
}
