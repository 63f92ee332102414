//! The heartbeats of keyed groups on Redis: plain `PUBLISH` and `PSUBSCRIBE`, in pub/sub mode
//! and in Streams mode alike (they must not be stored in a stream).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use super::{RedisTarget, subscriber};
use crate::keyed::Beacon;
use crate::{BrokerError, Pattern, Subscription, Topic};

/// Heartbeats over Redis pub/sub, on a connection of their own.
pub(crate) struct RedisBeacon {
    target: Arc<RedisTarget>,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl RedisBeacon {
    pub(crate) fn new(target: Arc<RedisTarget>) -> Self {
        RedisBeacon {
            target,
            conn: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Beacon for RedisBeacon {
    async fn announce(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        let mut slot = self.conn.lock().await;
        let error = |e: redis::RedisError| BrokerError::Disconnected {
            backend: "redis",
            detail: format!("{}: {e}", self.target.url),
        };
        let mut conn = match slot.as_ref() {
            Some(conn) => conn.clone(),
            None => self.target.multiplexed(false).await.map_err(error)?,
        };
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(topic.as_str())
            .arg(payload.as_ref())
            .query_async(&mut conn)
            .await;
        match sent {
            Ok(_) => {
                *slot = Some(conn);
                Ok(())
            }
            Err(e) => {
                // Reconnect on the next heartbeat.
                *slot = None;
                Err(error(e))
            }
        }
    }

    async fn listen(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        subscriber::subscribe(Arc::clone(&self.target), pattern, 256).await
    }
}
