//! The face's [`StateSource`](switchyard_face::StateSource)s: what a Discord-compatible face
//! reads of the bot and its shards' caches, over the cache queries of `switchyard-gateway`.
//!
//! - [`LocalSource`]: the gateway's [`CacheView`](switchyard_gateway::CacheView) in this
//!   process (`switchyard run` with a face), for the shards this process runs.
//! - [`RemoteSource`]: the cache API of the admin listeners (a face of its own in front of
//!   a shard pool); any node answers for the whole pool, forwarding inside it.
//!
//! Both read the same answers (`{"shard", "seq", "data"}`, `data` in the shapes
//! `CacheQuery` documents), which this module turns into the face's types.

mod local;
mod remote;

use serde_json::Value;
use serde_json::value::RawValue;
use switchyard_face::{BotIdentity, GuildEntry, GuildSnapshot, MemberAnswer, SourceError};

pub use local::LocalSource;
pub use remote::RemoteSource;

/// An answer whose shape is not the one documented (a node of another version?).
fn malformed(what: &str, data: &Value) -> SourceError {
    let mut shown = data.to_string();
    shown.truncate(200);
    SourceError::Unavailable(format!(
        "the cache answered {what} in an unknown shape: {shown}"
    ))
}

fn raw(value: &Value) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

fn snowflake(value: &Value) -> Option<u64> {
    value.as_str()?.parse().ok()
}

/// `Identity`'s `{"user", "application", "intents", "shards"}`. Without an application
/// (a cache restored from a snapshot older than it), the bot's user id stands for it, as
/// for every bot made since 2017.
fn identity(data: &Value) -> Result<BotIdentity, SourceError> {
    let bad = || malformed("the identity", data);
    let user_id = snowflake(&data["user"]["id"]).ok_or_else(bad)?;
    let application = match &data["application"] {
        Value::Null => serde_json::json!({"id": user_id.to_string(), "flags": 0}),
        app => app.clone(),
    };
    Ok(BotIdentity {
        user: raw(&data["user"]).ok_or_else(bad)?,
        user_id,
        application: raw(&application).ok_or_else(bad)?,
        intents: data["intents"].as_u64().ok_or_else(bad)?,
        shards: data["shards"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(bad)?,
    })
}

/// `Guilds`' `[{"id", "unavailable"}]`.
fn guilds(data: &Value) -> Result<Vec<GuildEntry>, SourceError> {
    let list = data
        .as_array()
        .ok_or_else(|| malformed("the guilds", data))?;
    list.iter()
        .map(|g| {
            Ok(GuildEntry {
                id: snowflake(&g["id"]).ok_or_else(|| malformed("a guild", g))?,
                unavailable: g["unavailable"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

/// `GuildCreate`'s guild, where its shard's stream stands.
fn guild_snapshot(
    shard: u32,
    seq: Option<u64>,
    data: &Value,
) -> Result<GuildSnapshot, SourceError> {
    if !data.is_object() {
        return Err(malformed("a guild", data));
    }
    Ok(GuildSnapshot {
        shard,
        seq,
        payload: raw(data).ok_or_else(|| malformed("a guild", data))?,
    })
}

/// `RequestMembers`' `{"complete", "members", "presences", "not_found"}`: `None` when the
/// cache does not hold the whole member list.
fn members(data: &Value) -> Result<Option<MemberAnswer>, SourceError> {
    let bad = || malformed("the members", data);
    if !data["complete"].as_bool().ok_or_else(bad)? {
        return Ok(None);
    }
    let list = |key: &str| -> Result<Vec<Box<RawValue>>, SourceError> {
        data[key]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|v| raw(v).ok_or_else(bad))
            .collect()
    };
    let not_found = data["not_found"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|id| snowflake(id).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    Ok(Some(MemberAnswer {
        members: list("members")?,
        presences: list("presences")?,
        not_found,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_identity_without_application_stands_the_user_id_in_for_it() {
        let data = json!({"user": {"id": "5", "username": "bot"}, "application": null,
                          "intents": 513, "shards": 2});
        let me = identity(&data).expect("identity");
        assert_eq!((me.user_id, me.intents, me.shards), (5, 513, 2));
        let app: Value = serde_json::from_str(me.application.get()).expect("json");
        assert_eq!(app, json!({"id": "5", "flags": 0}));
        assert!(matches!(
            identity(&json!({"user": {"id": "5"}})),
            Err(SourceError::Unavailable(_))
        ));
    }

    #[test]
    fn a_member_answer_from_an_incomplete_cache_is_none() {
        let data = |complete: bool| {
            json!({"complete": complete, "members": [{"user": {"id": "7"}}], "presences": [],
                   "not_found": ["8"]})
        };
        assert!(members(&data(false)).expect("read").is_none());
        let answer = members(&data(true)).expect("read").expect("complete");
        assert_eq!((answer.members.len(), answer.not_found), (1, vec![8]));
    }

    #[test]
    fn guilds_and_guild_snapshots_keep_what_the_cache_said() {
        let list =
            guilds(&json!([{"id": "1", "unavailable": true}, {"id": "2", "unavailable": false}]))
                .expect("guilds");
        assert_eq!(
            (list[0].id, list[0].unavailable, list[1].unavailable),
            (1, true, false)
        );
        let snap = guild_snapshot(3, Some(9), &json!({"id": "1", "large": true})).expect("guild");
        assert_eq!((snap.shard, snap.seq), (3, Some(9)));
        assert!(guild_snapshot(0, None, &json!([])).is_err());
    }
}
