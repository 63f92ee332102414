//! Gateway commands (presence, voice state, member requests) from consumers that hold no
//! shard. Three parts, one per place a command passes:
//!
//! ```text
//! outbound.discord.… ─► forward (any process of the bot: checks, picks the shard, waits for an ack)
//!        └─► command.discord.{bot}.{shard} ─► holder (the process running that shard: bounded queue)
//!                └─► the shard's runner ─► Discord (within 120 commands a minute)
//!                      └─► answers on reply_to: "sent", then GUILD_MEMBERS_CHUNK / RATE_LIMITED
//!                          (with the requester's own nonce), VOICE_STATE_UPDATE, VOICE_SERVER_UPDATE
//! ```
//!
//! - [`forward`]: the outbound path's side: intents and shape checked as Discord checks them,
//!   the guild's shard, and "no process holds shard N" when nobody acknowledges in time.
//! - [`holder`]: one task per running shard reading its command topic into a bounded queue;
//!   a full queue is refused with when to retry, so that Discord never closes the shard with
//!   4008.
//! - [`pending`]: the runner's side: the send budget, nonces rewritten per request, and the
//!   events that answer a request, routed to its requester only.

pub(crate) mod forward;
pub(crate) mod holder;
pub(crate) mod pending;

use switchyard_broker::Broker;
use switchyard_core::Topic;
use switchyard_core::outbound::{Answer, ErrorKind};

/// Commands sent per shard per minute: Discord allows 120 frames a minute on a connection,
/// twilight keeps some for heartbeats, and this stays below what it keeps for commands, so
/// that its own queue never grows.
pub(crate) const COMMANDS_PER_MINUTE: usize = 100;

/// Refuses a command: counted, logged, reported on `errors.{topic}` and answered on
/// `reply_to` when there is one.
pub(crate) async fn refuse(
    broker: &dyn Broker,
    topic: &str,
    payload: &[u8],
    reply_to: Option<&Topic>,
    answer: Answer,
) {
    let kind = answer.kind.unwrap_or(ErrorKind::BadPayload);
    let reason = answer.error.as_deref().unwrap_or_default();
    metrics::counter!("switchyard_commands_refused_total", "kind" => kind.as_str()).increment(1);
    tracing::warn!(%topic, %kind, %reason, "gateway command refused");
    let shown = String::from_utf8_lossy(&payload[..payload.len().min(2048)]).into_owned();
    crate::report::refused(broker, topic, shown, reply_to, &answer, None).await;
}

pub(crate) use crate::report::publish;

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
