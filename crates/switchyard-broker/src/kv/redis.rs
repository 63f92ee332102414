//! [`RedisKv`]: one hash per key (`{name}:kv:{key}`, fields `v` and `r`), revisions from one
//! counter (`{name}:kv-revision`), compare-and-set in a Lua script, expiry by Redis itself
//! (`PEXPIRE`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::Value;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use super::{KvEntry, KvError, KvStore, check_key};
use crate::redis::{RedisTarget, is_connection_error};
use crate::{BrokerError, BrokerOptions, BrokerUrl};

/// Sets if the revision matches (ARGV[1]: expected revision, '' for absent, '*' for any);
/// ARGV[2] value, ARGV[3] TTL in ms ('' for none). Returns {1, new} or {0, found or -1}.
const SET_SCRIPT: &str = r"
local cur = redis.call('HGET', KEYS[1], 'r')
if ARGV[1] ~= '*' then
  if ARGV[1] == '' then
    if cur then return {0, tonumber(cur)} end
  elseif cur ~= ARGV[1] then
    return {0, cur and tonumber(cur) or -1}
  end
end
local rev = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'r', rev)
if ARGV[3] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) else redis.call('PERSIST', KEYS[1]) end
return {1, rev}
";

/// The Redis key-value store.
pub struct RedisKv {
    target: Arc<RedisTarget>,
    conn: Mutex<Option<MultiplexedConnection>>,
    prefix: String,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv")
            .field("url", &self.target.url)
            .finish_non_exhaustive()
    }
}

impl RedisKv {
    /// Connects, retrying per `options.retry`.
    pub async fn connect(url: &BrokerUrl, options: &BrokerOptions) -> Result<Self, KvError> {
        let target = Arc::new(RedisTarget::new(url, options)?);
        let mut conn = target.first(|| target.multiplexed(false)).await?;
        crate::redis::persistence::warn_if_unsafe(&mut conn, &target.url).await;
        Ok(RedisKv {
            target,
            conn: Mutex::new(Some(conn)),
            prefix: options.durable.name.clone(),
        })
    }

    async fn run(&self, cmd: redis::Cmd) -> Result<Value, KvError> {
        let mut slot = self.conn.lock().await;
        let conn = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(
                self.target
                    .multiplexed(false)
                    .await
                    .map_err(|e| self.error(e))?,
            ),
        };
        match cmd.query_async(conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if is_connection_error(&e) {
                    *slot = None;
                }
                Err(self.error(e))
            }
        }
    }

    fn error(&self, e: redis::RedisError) -> KvError {
        KvError::Broker(BrokerError::Disconnected {
            backend: "redis",
            detail: format!("{}: {e}", self.target.url),
        })
    }

    async fn set(
        &self,
        key: &str,
        expected: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<Result<u64, Option<u64>>, KvError> {
        check_key(key)?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SET_SCRIPT)
            .arg(2)
            .arg(format!("{}:kv:{key}", self.prefix))
            .arg(format!("{}:kv-revision", self.prefix))
            .arg(expected)
            .arg(value.as_ref())
            .arg(ttl.map_or_else(String::new, |t| t.as_millis().max(1).to_string()));
        let reply = self.run(cmd).await?;
        let (ok, n) = match reply {
            Value::Array(v) if v.len() == 2 => match (&v[0], &v[1]) {
                (Value::Int(ok), Value::Int(n)) => (*ok == 1, *n),
                _ => (false, -1),
            },
            _ => (false, -1),
        };
        let n = u64::try_from(n).ok();
        Ok(if ok { n.ok_or(None) } else { Err(n) })
    }
}

#[async_trait]
impl KvStore for RedisKv {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        check_key(key)?;
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(format!("{}:kv:{key}", self.prefix))
            .arg("v")
            .arg("r");
        let reply = self.run(cmd).await?;
        let Value::Array(mut fields) = reply else {
            return Ok(None);
        };
        if fields.len() != 2 {
            return Ok(None);
        }
        let revision = fields.pop();
        let value = fields.pop();
        Ok(match (value, revision) {
            (Some(Value::BulkString(v)), Some(Value::BulkString(r))) => std::str::from_utf8(&r)
                .ok()
                .and_then(|r| r.parse().ok())
                .map(|revision| KvEntry {
                    value: Bytes::from(v),
                    revision,
                }),
            _ => None,
        })
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<u64, KvError> {
        self.set(key, "*", value, ttl)
            .await?
            .map_err(|found| KvError::conflict(key, None, found))
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        let want = expected.map_or_else(String::new, |r| r.to_string());
        self.set(key, &want, value, ttl)
            .await?
            .map_err(|found| KvError::conflict(key, expected, found))
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("{}:kv:{key}", self.prefix));
        self.run(cmd).await.map(|_| ())
    }
}
