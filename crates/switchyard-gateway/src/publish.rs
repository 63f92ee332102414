//! The publisher: drains one shard's bounded queue into the broker and records the last
//! sequence handed over, which is what the session saver persists.
//!
//! On a broker that deduplicates (Redis Streams, JetStream), each event is published with its
//! deterministic envelope id, so the events Discord replays after a crash and a RESUME (those
//! between the last saved sequence and the crash) are dropped by the broker: consumers see
//! each event once. That costs a round trip per event on those brokers.

use std::sync::Arc;

use switchyard_broker::Broker;
use switchyard_core::envelope::{Source, event_id};
use tokio::sync::mpsc;

use crate::shard::Item;
use crate::status::ShardStatus;

/// Drains a shard's queue into the broker, recording the last sequence handed over.
pub(crate) async fn run_publisher(
    mut rx: mpsc::Receiver<Item>,
    broker: Arc<dyn Broker>,
    status: Arc<ShardStatus>,
    bot: Arc<str>,
) {
    let dedup = broker.capabilities().deduplication;
    let label = status.id.to_string();
    let depth = metrics::gauge!("switchyard_gateway_queue_depth", "shard" => label.clone());
    let published =
        metrics::counter!("switchyard_gateway_published_total", "shard" => label.clone());
    let failed = metrics::counter!("switchyard_gateway_publish_errors_total", "shard" => label);
    while let Some(item) = rx.recv().await {
        if let Some((topic, payload)) = item.publish {
            let sent = match item.seq {
                Some(seq) if dedup => {
                    let source = Source {
                        platform: "discord",
                        bot: &bot,
                        shard: status.id,
                        session: &item.session,
                    };
                    let id = event_id(&source, seq);
                    let id = std::str::from_utf8(&id).unwrap_or_default();
                    match broker.publish_with_id(&topic, payload, id).await {
                        Ok(p) if p.duplicate => {
                            metrics::counter!("switchyard_gateway_duplicates_dropped_total")
                                .increment(1);
                            Ok(())
                        }
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
                _ => broker.publish(&topic, payload).await,
            };
            match sent {
                Ok(()) => {
                    published.increment(1);
                    status.add_published();
                }
                Err(e) => {
                    failed.increment(1);
                    tracing::warn!(shard = status.id, %topic, error = %e, "publish failed; the event is dropped (at-most-once)");
                }
            }
        }
        if let Some(seq) = item.seq {
            status.set_handed(&item.session, seq);
        }
        depth.set(rx.len() as f64);
        status.set_queue_depth(rx.len());
    }
}
