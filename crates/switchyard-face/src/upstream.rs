//! Upstream trouble: when an upstream shard could not resume and its cache was rebuilt from a
//! new session, the changes went out as update events, which the face forwards like any
//! other. What the rebuild reports it could not describe (threads gone, members of a large
//! guild unverified, guilds whose GUILD_CREATE never came) ends with INVALID_SESSION the
//! sessions of clients holding a guild of that shard, so that they start again from a READY
//! that is true. Nobody else is disturbed.

use std::sync::Arc;

use serde::Deserialize;

use crate::hub::Hub;
use crate::source::StateSource;

/// Where the gateway reports a rebuild (`switchyard_gateway::REBUILD_TOPIC`).
pub(crate) const REBUILD_TOPIC: &str = "control.gateway.rebuild";

#[derive(Debug, Deserialize)]
struct Rebuild {
    bot: String,
    shard: u32,
    #[serde(default)]
    complete: bool,
    #[serde(default)]
    pending_guilds: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    threads_gone: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    members_unverified: u64,
}

/// Reads one rebuild report; returns how many sessions it invalidated.
pub(crate) async fn rebuild(
    payload: &[u8],
    bot: &str,
    hub: &Hub,
    source: &Arc<dyn StateSource>,
) -> usize {
    let Ok(report) = serde_json::from_slice::<Rebuild>(payload) else {
        tracing::warn!("face: a rebuild report it cannot read");
        return 0;
    };
    if report.bot != bot {
        return 0;
    }
    let described = report.complete
        && report.pending_guilds.is_empty()
        && report.threads_gone.is_empty()
        && report.members_unverified == 0;
    if described {
        return 0;
    }
    let shards = match source.identity().await {
        Ok(identity) => u64::from(identity.shards.max(1)),
        Err(error) => {
            tracing::warn!(%error, "face: a rebuild it cannot place (the bot's shard count is unknown): every session is invalidated");
            1
        }
    };
    let on_shard = |g: u64| shards == 1 || (g >> 22) % shards == u64::from(report.shard);
    let mut invalidated = 0;
    for session in hub.sessions() {
        if session.has_guild(on_shard) {
            session.invalidate();
            invalidated += 1;
        }
    }
    metrics::counter!("switchyard_face_sessions_invalidated_total").increment(invalidated as u64);
    tracing::info!(
        shard = report.shard,
        invalidated,
        "face: an upstream shard's rebuild could not describe everything; its clients identify again"
    );
    invalidated
}
