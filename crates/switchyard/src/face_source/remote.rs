//! [`RemoteSource`]: the face's state read over the cache API of a shard pool's admin
//! listeners (`/v1/cache/{bot}/…`, docs/cache.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::Url;
use serde_json::Value;
use switchyard_face::{
    BotIdentity, GuildCreateScope, GuildEntry, GuildSnapshot, MemberAnswer, MemberLookup,
    SourceError, StateSource,
};

/// How long one read may take (a large guild's GUILD_CREATE is megabytes).
const TIMEOUT: Duration = Duration::from_secs(30);

/// One bot's caches over HTTP. One admin listener answers for the whole pool (it forwards
/// a guild's reads to the node running its shard and gathers the bot's identity and guilds
/// from every node); the others are tried in turn when one cannot be reached.
pub struct RemoteSource {
    client: reqwest::Client,
    bases: Vec<Url>,
    bot: String,
    token: Option<String>,
    /// The base that answered last, tried first.
    preferred: AtomicUsize,
}

/// One answer of the cache API: `{"shard", "seq", "data"}`.
struct Answer {
    shard: u32,
    seq: Option<u64>,
    data: Value,
}

impl RemoteSource {
    /// A source reading `bot`'s caches from the admin listeners at `bases`
    /// (`http://host:port`), with `admin.token` when they need one.
    pub fn new(bases: &[String], bot: &str, token: Option<String>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !bases.is_empty(),
            "the face needs an admin listener URL to read the cache from"
        );
        let bases = bases
            .iter()
            .map(|b| {
                let url = Url::parse(b).with_context(|| format!("admin listener URL {b:?}"))?;
                anyhow::ensure!(
                    !url.cannot_be_a_base(),
                    "admin listener URL {b:?} must be like http://host:port"
                );
                Ok(url)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(RemoteSource {
            client: reqwest::Client::new(),
            bases,
            bot: bot.to_owned(),
            token,
            preferred: AtomicUsize::new(0),
        })
    }

    /// `GET /v1/cache/{bot}/{path…}?{query}` at the first base that answers.
    async fn get(
        &self,
        path: &[&str],
        query: &[(&str, String)],
        guild: Option<u64>,
    ) -> Result<Answer, SourceError> {
        let first = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..self.bases.len() {
            let at = (first + i) % self.bases.len();
            let url = self.url(&self.bases[at], path, query);
            let mut request = self.client.get(url).timeout(TIMEOUT);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    failures.push(format!("{}: {e}", self.bases[at]));
                    continue;
                }
            };
            self.preferred.store(at, Ordering::Relaxed);
            let status = response.status();
            let body = response.bytes().await.map_err(|e| {
                SourceError::Unavailable(format!("{}: the answer broke off: {e}", self.bases[at]))
            })?;
            let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if !status.is_success() {
                return Err(refused(status.as_u16(), &doc, guild));
            }
            let shard = doc["shard"].as_u64().and_then(|s| u32::try_from(s).ok());
            return match (shard, doc.get("data")) {
                (Some(shard), Some(data)) => Ok(Answer {
                    shard,
                    seq: doc["seq"].as_u64(),
                    data: data.clone(),
                }),
                _ => Err(super::malformed("a read", &doc)),
            };
        }
        Err(SourceError::Unavailable(format!(
            "no admin listener answered: {}",
            failures.join("; ")
        )))
    }

    fn url(&self, base: &Url, path: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["v1", "cache", self.bot.as_str()])
                .extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }
}

/// A refusal of the cache API (status, Discord-shaped body with the cache's `reason`) as
/// the face's error.
fn refused(status: u16, doc: &Value, guild: Option<u64>) -> SourceError {
    match (doc["reason"].as_str(), doc["code"].as_u64(), guild) {
        (Some("not_ready"), ..) => SourceError::NotReady,
        (_, Some(10004), Some(guild)) => SourceError::UnknownGuild(guild),
        _ => SourceError::Unavailable(format!(
            "the cache API answered {status}: {}",
            doc["message"].as_str().unwrap_or("(no message)")
        )),
    }
}

#[async_trait]
impl StateSource for RemoteSource {
    async fn identity(&self) -> Result<BotIdentity, SourceError> {
        super::identity(&self.get(&["identity"], &[], None).await?.data)
    }

    async fn guilds(&self) -> Result<Vec<GuildEntry>, SourceError> {
        super::guilds(&self.get(&["guilds"], &[], None).await?.data)
    }

    async fn guild_create(
        &self,
        guild: u64,
        scope: GuildCreateScope,
    ) -> Result<GuildSnapshot, SourceError> {
        let id = guild.to_string();
        let query = [
            ("presences", scope.presences.to_string()),
            ("large_threshold", scope.large_threshold.to_string()),
        ];
        let read = self
            .get(&["guilds", &id, "guild-create"], &query, Some(guild))
            .await?;
        super::guild_snapshot(read.shard, read.seq, &read.data)
    }

    async fn members(
        &self,
        guild: u64,
        lookup: &MemberLookup,
    ) -> Result<Option<MemberAnswer>, SourceError> {
        let id = guild.to_string();
        let mut query = vec![
            ("limit", lookup.limit.to_string()),
            ("presences", lookup.presences.to_string()),
        ];
        if let Some(q) = &lookup.query {
            query.push(("query", q.clone()));
        }
        if let Some(ids) = &lookup.user_ids {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            query.push(("user_ids", ids.join(",")));
        }
        let read = self
            .get(&["guilds", &id, "member-request"], &query, Some(guild))
            .await?;
        super::members(&read.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_say_not_ready_unknown_guild_or_why_not() {
        let not_ready =
            json!({"message": "shard 1 is not ready yet", "code": 0, "reason": "not_ready"});
        assert_eq!(refused(503, &not_ready, Some(4)), SourceError::NotReady);
        let unknown = json!({"message": "Unknown Guild", "code": 10004, "reason": "unknown"});
        assert_eq!(
            refused(404, &unknown, Some(4)),
            SourceError::UnknownGuild(4)
        );
        let unreachable = json!({"message": "shard 1 runs at http://b, which did not answer",
                                 "code": 0, "reason": "unreachable"});
        match refused(503, &unreachable, Some(4)) {
            SourceError::Unavailable(why) => {
                assert!(why.contains("503") && why.contains("http://b"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_are_built_under_the_base_with_the_query_escaped() {
        let source =
            RemoteSource::new(&["http://127.0.0.1:9/".into()], "my bot", None).expect("source");
        let url = source.url(
            &source.bases[0],
            &["guilds", "1", "member-request"],
            &[("query", "a&b c".into())],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v1/cache/my%20bot/guilds/1/member-request?query=a%26b+c"
        );
        assert!(RemoteSource::new(&[], "bot", None).is_err());
        assert!(RemoteSource::new(&["not a url".into()], "bot", None).is_err());
    }
}
