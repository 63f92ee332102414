//! The publisher: drains one shard's bounded queue into the broker and records the last
//! sequence handed over, which is what the session saver persists.

use std::sync::Arc;

use switchyard_broker::Broker;
use tokio::sync::mpsc;

use crate::shard::Item;
use crate::status::ShardStatus;

/// Drains a shard's queue into the broker, recording the last sequence handed over.
pub(crate) async fn run_publisher(
    mut rx: mpsc::Receiver<Item>,
    broker: Arc<dyn Broker>,
    status: Arc<ShardStatus>,
) {
    let label = status.id.to_string();
    let depth = metrics::gauge!("switchyard_gateway_queue_depth", "shard" => label.clone());
    let published =
        metrics::counter!("switchyard_gateway_published_total", "shard" => label.clone());
    let failed = metrics::counter!("switchyard_gateway_publish_errors_total", "shard" => label);
    while let Some(item) = rx.recv().await {
        if let Some((topic, payload)) = item.publish {
            match broker.publish(&topic, payload).await {
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
