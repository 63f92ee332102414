//! The Streams broker's durable groups, read from Redis: `XINFO GROUPS` on the stream of each
//! durable prefix, then `XINFO CONSUMERS` for each group's members (but the consumer refused
//! entries are parked under, which no member reads as).

use redis::streams::{StreamInfoConsumersReply, StreamInfoGroupsReply};

use super::inspect::Inspector;
use super::streams::stream_key;
use super::streams_group::NACK_PARKING;
use crate::{BrokerError, DurableOptions, GroupInfo, GroupMember};

/// Every group of every durable prefix's stream, by stream then name.
pub(crate) async fn durable_groups(
    inspect: &Inspector,
    durable: &DurableOptions,
) -> Result<Vec<GroupInfo>, BrokerError> {
    let mut out = Vec::new();
    for prefix in &durable.prefixes {
        let key = stream_key(durable, prefix);
        // XINFO fails on a stream nobody published to yet
        let exists = inspect.query(redis::cmd("EXISTS").arg(&key)).await?;
        if exists != redis::Value::Int(1) {
            continue;
        }
        let reply = inspect
            .query(redis::cmd("XINFO").arg("GROUPS").arg(&key))
            .await?;
        let groups: StreamInfoGroupsReply = parsed(&key, reply)?;
        for group in groups.groups {
            let reply = inspect
                .query(
                    redis::cmd("XINFO")
                        .arg("CONSUMERS")
                        .arg(&key)
                        .arg(&group.name),
                )
                .await?;
            let consumers: StreamInfoConsumersReply = parsed(&key, reply)?;
            out.push(GroupInfo {
                stream: key.clone(),
                name: group.name,
                pending: group.pending as u64,
                unread: group.lag.map(|n| n as u64),
                members: consumers
                    .consumers
                    .into_iter()
                    .filter(|c| c.name != NACK_PARKING)
                    .map(|c| GroupMember {
                        name: c.name,
                        pending: c.pending as u64,
                        idle_ms: c.idle as u64,
                    })
                    .collect(),
                waiting_pulls: None,
            });
        }
    }
    out.sort_by(|a, b| (&a.stream, &a.name).cmp(&(&b.stream, &b.name)));
    Ok(out)
}

fn parsed<T: redis::FromRedisValue>(key: &str, reply: redis::Value) -> Result<T, BrokerError> {
    redis::from_redis_value(reply).map_err(|e| {
        BrokerError::backend("redis-streams", format!("cannot read XINFO of {key}: {e}"))
    })
}
