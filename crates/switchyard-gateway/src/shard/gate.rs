//! [`Gated`]: the identify queue as one shard's connection sees it. Its turn to IDENTIFY is
//! asked for only once the publisher has settled everything queued before, so that the
//! queue never holds the events of a session behind those of an older one (see
//! [`crate::backlog`]). RESUMEs do not go through the queue and are never held.

use std::sync::Arc;

use tokio::sync::oneshot;
use twilight_gateway::queue::Queue;

use crate::queue::IdentifyQueue;
use crate::status::ShardStatus;

/// The process's identify queue, gated by one shard's backlog.
#[derive(Clone)]
pub(crate) struct Gated {
    pub(crate) queue: IdentifyQueue,
    pub(crate) status: Arc<ShardStatus>,
}

impl std::fmt::Debug for Gated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gated")
            .field("queue", &self.queue)
            .field("shard", &self.status.id)
            .finish()
    }
}

impl Queue for Gated {
    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        if self.status.backlog().is_drained() {
            return self.queue.enqueue(shard);
        }
        metrics::counter!("switchyard_gateway_identify_held_total").increment(1);
        tracing::warn!(
            shard,
            "holding this shard's IDENTIFY until the broker has taken the old session's events (the old session's gap report covers what Discord sends meanwhile)"
        );
        let (mut tx, rx) = oneshot::channel();
        let (queue, status) = (self.queue.clone(), Arc::clone(&self.status));
        tokio::spawn(async move {
            tokio::select! {
                () = status.backlog().drained() => {}
                () = tx.closed() => return,
            }
            tracing::info!(
                shard,
                "the broker took the old session's events; identifying"
            );
            tokio::select! {
                turn = queue.enqueue(shard) => {
                    if turn.is_ok() {
                        let _ = tx.send(());
                    }
                }
                () = tx.closed() => {}
            }
        });
        rx
    }
}
