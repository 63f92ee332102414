//! The gap report: what a shard publishes on [`GAP_TOPIC`] when a session could not be
//! resumed, so that consumers (and the soak) know which events of which session are lost.

use bytes::Bytes;
use switchyard_core::Topic;

/// The topic gaps are reported on.
pub const GAP_TOPIC: &str = "control.gateway.gap";

/// A session that ended without a RESUME: events after `last_seq` of `old_session` are lost,
/// up to the IDENTIFY of `new_session`.
pub(super) struct Gap<'a> {
    pub bot: &'a str,
    pub shard: u32,
    pub total: u32,
    pub old_session: &'a str,
    pub last_seq: u64,
    pub new_session: &'a str,
    pub reason: &'a str,
}

/// The report of `gap`, to publish on [`GAP_TOPIC`].
pub(super) fn report(gap: Gap<'_>) -> Option<(Topic, Bytes)> {
    let body = serde_json::json!({
        "bot": gap.bot,
        "shard": gap.shard,
        "total": gap.total,
        "old_session": gap.old_session,
        "last_seq": gap.last_seq,
        "lost_from": gap.last_seq + 1,
        "new_session": gap.new_session,
        "reason": gap.reason,
        "at_ms": crate::command::now_ms(),
    });
    let topic = Topic::new(GAP_TOPIC).ok()?;
    Some((topic, Bytes::from(body.to_string())))
}
