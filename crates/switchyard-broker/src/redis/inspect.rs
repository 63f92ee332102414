//! [`Inspector`]: the Streams broker's reads about itself (its dead letters, its groups) on
//! one connection of their own, opened when first needed, apart from those that publish and
//! read events. Its errors say when the server speaks no Streams (the embedded broker's RESP
//! port, say).

use std::sync::Arc;

use redis::Value;
use redis::aio::MultiplexedConnection;
use tokio::sync::OnceCell;

use super::conn::RedisTarget;
use crate::BrokerError;

pub(crate) struct Inspector {
    target: Arc<RedisTarget>,
    conn: OnceCell<MultiplexedConnection>,
}

impl Inspector {
    pub(crate) fn new(target: Arc<RedisTarget>) -> Self {
        Inspector {
            target,
            conn: OnceCell::new(),
        }
    }

    /// Runs `cmd`, connecting first if this is the first.
    pub(crate) async fn query(&self, cmd: &redis::Cmd) -> Result<Value, BrokerError> {
        let conn = self
            .conn
            .get_or_try_init(|| self.target.multiplexed(false))
            .await
            .map_err(|e| self.error(e))?;
        cmd.query_async(&mut conn.clone())
            .await
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: redis::RedisError) -> BrokerError {
        let text = e.to_string();
        if text.contains("unknown command") || text.contains("ERR unknown") {
            return BrokerError::backend(
                "redis-streams",
                format!(
                    "{} does not speak Redis Streams ({text}); if it is a switchyard broker's RESP port, that is the embedded broker, which keeps no dead letters, durable groups or streams",
                    self.target.url
                ),
            );
        }
        BrokerError::Disconnected {
            backend: "redis-streams",
            detail: format!("{}: {text}", self.target.url),
        }
    }
}
