//! IDENTIFY: the client's token, intents and virtual shard checked as Discord checks them,
//! then a new session, READY, and one GUILD_CREATE per guild of the virtual shard, built from
//! the cache for the client's intents and `large_threshold`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::value::RawValue;
use switchyard_core::gateway_proto::close::CloseReason;
use switchyard_core::gateway_proto::frame::Identify;
use switchyard_core::gateway_proto::intents;

use crate::session::{CloseOrder, Session, Wants};
use crate::shared::Shared;
use crate::source::{BotIdentity, GuildCreateScope, GuildEntry, SourceError};

/// How long an IDENTIFY waits for the bot's first READY upstream.
const IDENTITY_WAIT: Duration = Duration::from_secs(20);
/// GUILD_CREATEs read from the cache at once for one session.
const GUILDS_AT_ONCE: usize = 8;

/// Why an IDENTIFY was refused.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) reason: CloseReason,
    pub(crate) ends: bool,
}

fn refuse(reason: CloseReason) -> Refused {
    metrics::counter!("switchyard_face_identifies_refused_total", "close" => reason.code.to_string())
        .increment(1);
    Refused { reason, ends: true }
}

/// Checks an IDENTIFY and starts its session: READY and the guilds follow on their own.
pub(crate) async fn identify(
    shared: &Arc<Shared>,
    conn: u64,
    ident: &Identify,
) -> Result<Arc<Session>, Refused> {
    if !shared.options.tokens.check(&ident.token) {
        return Err(refuse(CloseReason::AUTH_FAILED));
    }
    let Some(wanted) = ident.intents else {
        return Err(refuse(CloseReason::INVALID_INTENTS));
    };
    if !shared.session_starts.try_start() {
        tracing::warn!("face: the face's session start limit is spent; IDENTIFY refused");
        return Err(refuse(CloseReason {
            code: 4004,
            reason: "Session start limit reached: see /gateway/bot's session_start_limit.",
        }));
    }
    let [shard_id, shards] = ident.shard.unwrap_or([0, 1]);
    if shards == 0 || shard_id >= shards || shards > u64::from(u32::MAX) {
        return Err(refuse(CloseReason::INVALID_SHARD));
    }
    let identity = wait_identity(shared).await.map_err(|error| {
        tracing::warn!(%error, "face: IDENTIFY before the bot is ready upstream");
        Refused {
            reason: CloseReason {
                code: 4000,
                reason: "The bot is not ready upstream yet: identify again shortly.",
            },
            ends: true,
        }
    })?;
    // privileged intents only as far as the upstream bot has them
    intents::validate(wanted, identity.intents & intents::PRIVILEGED_INTENTS).map_err(refuse)?;
    let wants = Wants {
        shard: [shard_id as u32, shards as u32],
        intents: wanted,
        large_threshold: ident.large_threshold.unwrap_or(50).clamp(50, 250) as u32,
        bot: identity.user_id,
    };
    let session = Arc::new(Session::new(
        shared.new_session_id(),
        wants,
        shared.limits,
        conn,
    ));
    // registered before the guilds are read, so that nothing between goes missing
    shared.hub.insert(session.clone());
    metrics::counter!("switchyard_face_identifies_total").increment(1);
    tracing::info!(session = %session.id, shard = ?wants.shard, intents = wanted, "face: client identified");
    tokio::spawn(stream(shared.clone(), session.clone(), identity));
    Ok(session)
}

async fn wait_identity(shared: &Shared) -> Result<BotIdentity, SourceError> {
    let until = Instant::now() + IDENTITY_WAIT;
    loop {
        match shared.source.identity().await {
            Err(SourceError::NotReady) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

#[derive(Serialize)]
struct Stub {
    #[serde(serialize_with = "string")]
    id: u64,
    unavailable: bool,
}

fn string<S: serde::Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

#[derive(Serialize)]
struct ReadyOut<'a> {
    v: u8,
    user: &'a RawValue,
    guilds: Vec<Stub>,
    session_id: &'a str,
    resume_gateway_url: &'a str,
    shard: [u32; 2],
    application: &'a RawValue,
    private_channels: [(); 0],
    relationships: [(); 0],
    presences: [(); 0],
    user_settings: serde_json::Map<String, serde_json::Value>,
    guild_join_requests: [(); 0],
    geo_ordered_rtc_regions: [(); 0],
    _trace: [&'a str; 1],
}

/// READY, then the guilds' GUILD_CREATEs as the cache answers them.
async fn stream(shared: Arc<Shared>, session: Arc<Session>, identity: BotIdentity) {
    let wants = session.wants;
    let guilds: Vec<GuildEntry> = match shared.source.guilds().await {
        Ok(all) => all
            .into_iter()
            .filter(|g| wants.holds(Some(g.id)))
            .collect(),
        Err(error) => {
            tracing::warn!(%error, session = %session.id, "face: the bot's guilds cannot be read");
            session.close(CloseOrder {
                code: 4000,
                reason: "The bot's guilds cannot be read now: identify again shortly.".into(),
                ends: true,
            });
            return;
        }
    };
    if guilds.len() > shared.options.max_guilds_per_shard {
        let r = CloseReason::SHARDING_REQUIRED;
        metrics::counter!("switchyard_face_identifies_refused_total", "close" => "4011")
            .increment(1);
        session.close(CloseOrder {
            code: r.code,
            reason: format!(
                "Sharding required: shard {:?} would hold {} guilds, over {}.",
                wants.shard,
                guilds.len(),
                shared.options.max_guilds_per_shard
            ),
            ends: true,
        });
        return;
    }
    let ready = ReadyOut {
        v: 10,
        user: &identity.user,
        guilds: guilds
            .iter()
            .map(|g| Stub {
                id: g.id,
                unavailable: true,
            })
            .collect(),
        session_id: &session.id,
        resume_gateway_url: &shared.options.public_url,
        shard: wants.shard,
        application: &identity.application,
        private_channels: [],
        relationships: [],
        presences: [],
        user_settings: serde_json::Map::new(),
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
        _trace: ["switchyard-face"],
    };
    let Ok(ready) = serde_json::to_string(&ready) else {
        return;
    };
    let waiting: Vec<u64> = guilds
        .iter()
        .filter(|g| !g.unavailable)
        .map(|g| g.id)
        .collect();
    session.ready(&ready, &waiting);
    let scope = GuildCreateScope {
        presences: wants.intents & intents::GUILD_PRESENCES != 0,
        large_threshold: wants.large_threshold,
    };
    let source = &shared.source;
    futures_util::stream::iter(waiting)
        .map(|guild| async move { (guild, source.guild_create(guild, scope).await) })
        .buffer_unordered(GUILDS_AT_ONCE)
        .for_each(|(guild, read)| {
            match read {
                Ok(snapshot) => session.guild_ready(guild, Some(&snapshot)),
                Err(error) => {
                    metrics::counter!("switchyard_face_guild_reads_failed_total").increment(1);
                    tracing::warn!(guild, %error, session = %session.id, "face: a guild cannot be read from the cache; its events flow without a GUILD_CREATE");
                    session.guild_ready(guild, None);
                }
            }
            std::future::ready(())
        })
        .await;
}
