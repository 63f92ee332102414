//! Reporting a refused or failed outbound message or gateway command: the report on
//! `errors.{topic}` for operators, and the answer on its `reply_to` for the requester. The
//! callers count and log in their own terms first.

use bytes::Bytes;
use switchyard_broker::Broker;
use switchyard_core::Topic;
use switchyard_core::outbound::{Answer, ERRORS_PREFIX, ErrorKind, ErrorReport};

/// Publishes the report of `answer` (a refusal or failure of the message `shown`, published
/// on `topic`) on `errors.{topic}`, and `answer` itself on `reply_to`. `status` is Discord's,
/// when it answered; its body in `answer` then goes into the report.
pub(crate) async fn refused(
    broker: &dyn Broker,
    topic: &str,
    shown: String,
    reply_to: Option<&Topic>,
    answer: &Answer,
    status: Option<u16>,
) {
    let report = ErrorReport {
        topic: topic.to_owned(),
        kind: answer.kind.unwrap_or(ErrorKind::BadPayload),
        reason: answer.error.clone().unwrap_or_default(),
        payload: shown,
        status,
        discord: answer.body.clone().filter(|_| status.is_some()),
        retry_after_ms: answer.retry_after_ms,
    };
    match Topic::new(&format!("{ERRORS_PREFIX}.{topic}")) {
        Ok(errors) => publish(broker, &errors, report.to_json()).await,
        Err(e) => tracing::warn!(error = %e, "cannot name the error topic"),
    }
    if let Some(reply_to) = reply_to {
        publish(broker, reply_to, answer.to_json()).await;
    }
}

/// Publishes, logging a failure (a lost answer is the requester's timeout, not a crash).
pub(crate) async fn publish(broker: &dyn Broker, topic: &Topic, payload: String) {
    if let Err(e) = broker.publish(topic, Bytes::from(payload)).await {
        tracing::warn!(%topic, error = %e, "cannot publish an answer or report");
    }
}
