//! Answers of several shards (and, in a pool, of several nodes) to a query that no one
//! guild's shard answers, joined into one.

use serde_json::Value;

use super::{CacheQuery, CacheRead, ShardSeq};

impl CacheQuery {
    /// One answer from the answers of several shards or nodes (a query no one guild's shard
    /// answers): the first user found; the users asked for, each once, in the order asked; a
    /// user's guilds joined; the bot's identity with its application; the bot's guilds
    /// joined, each once, in id order. `None` without any answer.
    pub fn merge(&self, mut reads: Vec<CacheRead>) -> Option<CacheRead> {
        if reads.is_empty() {
            return None;
        }
        if matches!(self, CacheQuery::Identity)
            && let Some(at) = reads.iter().position(|r| !r.data["application"].is_null())
        {
            reads.swap(0, at);
        }
        let mut first = reads.remove(0);
        first.more = reads
            .iter()
            .map(|r| ShardSeq {
                shard: r.shard,
                seq: r.seq,
            })
            .collect();
        let parts = std::iter::once(&first.data).chain(reads.iter().map(|r| &r.data));
        let items: Vec<Value> = parts
            .filter_map(Value::as_array)
            .flatten()
            .cloned()
            .collect();
        match self {
            CacheQuery::Users { ids } => {
                let by_id = |id: &u64| {
                    items
                        .iter()
                        .find(|u| u["id"].as_str() == Some(&id.to_string()))
                        .cloned()
                };
                let mut seen = std::collections::HashSet::new();
                first.data = Value::Array(
                    ids.iter()
                        .filter(|id| seen.insert(**id))
                        .filter_map(by_id)
                        .collect(),
                );
            }
            CacheQuery::UserGuilds { .. } => {
                let mut ids: Vec<u64> = items
                    .iter()
                    .filter_map(|v| v.as_str()?.parse().ok())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                first.data = ids
                    .into_iter()
                    .map(|id| Value::String(id.to_string()))
                    .collect();
            }
            CacheQuery::Guilds => {
                let mut guilds: Vec<(u64, Value)> = items
                    .into_iter()
                    .filter_map(|g| Some((g["id"].as_str()?.parse().ok()?, g)))
                    .collect();
                guilds.sort_by_key(|(id, _)| *id);
                guilds.dedup_by_key(|(id, _)| *id);
                first.data = guilds.into_iter().map(|(_, g)| g).collect();
            }
            _ => {}
        }
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(shard: u32, data: Value) -> CacheRead {
        CacheRead {
            shard,
            seq: Some(u64::from(shard) + 10),
            data,
            more: Vec::new(),
        }
    }

    #[test]
    fn the_bots_guilds_are_joined_from_every_shard_each_once_in_id_order() {
        let reads = vec![
            read(
                1,
                json!([{"id": "30", "unavailable": false}, {"id": "4", "unavailable": true}]),
            ),
            read(0, json!([{"id": "10", "unavailable": false}])),
            read(2, json!([{"id": "4", "unavailable": true}])),
        ];
        let merged = CacheQuery::Guilds.merge(reads).expect("answers");
        assert_eq!(
            merged.data,
            json!([{"id": "4", "unavailable": true}, {"id": "10", "unavailable": false},
                   {"id": "30", "unavailable": false}])
        );
        assert_eq!(
            (merged.shard, merged.more.len()),
            (1, 2),
            "every shard named"
        );
    }

    #[test]
    fn the_identity_is_taken_from_a_cache_that_holds_the_application() {
        let user = json!({"id": "5", "username": "bot"});
        let reads = vec![
            read(0, json!({"user": user, "application": null})),
            read(
                1,
                json!({"user": user, "application": {"id": "5", "flags": 0}}),
            ),
        ];
        let merged = CacheQuery::Identity.merge(reads).expect("answers");
        assert_eq!(merged.shard, 1);
        assert_eq!(merged.data["application"]["id"], "5");
    }
}
