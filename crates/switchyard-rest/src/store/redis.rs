//! The Redis store: the rules of [`super`] as two Lua scripts (`acquire.lua`, `observe.lua`),
//! each atomic, with Redis's own clock (`TIME`) so that every node agrees on time. Keys start
//! with the configured prefix and expire on their own; they hold bot ids or token
//! fingerprints, never tokens. Scripts compute their keys, so this needs a single Redis (or a
//! primary), not Redis Cluster.

use redis::Script;
use redis::aio::ConnectionManager;

use super::{Ask, Decision, Observed};
use crate::error::RestError;

/// Limits kept in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    /// This process's part of slot ids, unique among the nodes sharing the Redis.
    node: u64,
    acquire: Script,
    observe: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (the connection reconnects by itself later on).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, RestError> {
        let client = redis::Client::open(url).map_err(RestError::store)?;
        let conn = ConnectionManager::new(client)
            .await
            .map_err(RestError::store)?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_owned(),
            node: xxhash_rust::xxh3::xxh3_64(
                format!("{}:{:?}", std::process::id(), std::time::SystemTime::now()).as_bytes(),
            ),
            acquire: Script::new(include_str!("acquire.lua")),
            observe: Script::new(include_str!("observe.lua")),
        })
    }

    /// A slot id as the scripts keep it: unique across nodes.
    fn slot(&self, slot: u64) -> String {
        format!("{:x}:{slot:x}", self.node)
    }

    /// See [`super::Store::acquire`].
    pub async fn acquire(&self, ask: &Ask<'_>) -> Result<Decision, RestError> {
        let (gkey, glimit, gwindow) = ask.global.unwrap_or(("", 0, 0));
        let mut conn = self.conn.clone();
        let (status, wait, reason): (i64, i64, i64) = self
            .acquire
            .arg(&self.prefix)
            .arg(ask.scope)
            .arg(ask.route)
            .arg(ask.major)
            .arg(gkey)
            .arg(glimit)
            .arg(gwindow)
            .arg(ask.margin_ms)
            .arg(ask.probe_ttl_ms)
            .arg(self.slot(ask.slot))
            .invoke_async(&mut conn)
            .await
            .map_err(RestError::store)?;
        Ok(match status {
            1 => Decision::Go { probe: false },
            2 => Decision::Go { probe: true },
            _ => Decision::Wait {
                ms: wait.max(1) as u64,
                global: reason == 1,
                probe: reason == 2,
            },
        })
    }

    /// Says this node is live (for `ttl`) and counts the live nodes sharing the store.
    pub async fn beat(&self, ttl: std::time::Duration) -> Result<u32, RestError> {
        let key = format!("{}:nodes", self.prefix);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let ttl = ttl.as_millis() as u64;
        let mut conn = self.conn.clone();
        let (_, _, count, _): (i64, i64, u32, i64) = redis::pipe()
            .atomic()
            .zadd(&key, format!("{:x}", self.node), now)
            .zrembyscore(&key, 0, now.saturating_sub(ttl))
            .zcard(&key)
            .pexpire(&key, ttl as i64)
            .query_async(&mut conn)
            .await
            .map_err(RestError::store)?;
        Ok(count)
    }

    /// See [`super::Store::observe`].
    pub async fn observe(&self, ask: &Ask<'_>, seen: &Observed) -> Result<(), RestError> {
        let (gkey, _, gwindow) = ask.global.unwrap_or(("", 0, 0));
        let mut conn = self.conn.clone();
        let _: i64 = self
            .observe
            .arg(&self.prefix)
            .arg(ask.scope)
            .arg(ask.route)
            .arg(ask.major)
            .arg(gkey)
            .arg(gwindow)
            .arg(ask.margin_ms)
            .arg(seen.bucket.as_deref().unwrap_or(""))
            .arg(seen.limit)
            .arg(seen.remaining)
            .arg(seen.reset_after_ms)
            .arg(seen.retry_after_ms.map_or(-1, |r| r as i64))
            .arg(if seen.global { "1" } else { "0" })
            .arg(self.slot(ask.slot))
            .arg(ask.probe_ttl_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(RestError::store)?;
        Ok(())
    }
}
