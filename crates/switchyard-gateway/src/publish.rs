//! The publisher: drains one shard's bounded queue into the broker and records the last
//! sequence handed over, which is what the session saver persists.
//!
//! It takes what the queue holds in batches (up to [`BATCH`] items per wake-up) and does its
//! bookkeeping once per batch: one wake-up, one counter update and one hand-over record per
//! batch rather than per event is most of what an event costs once routing is cheap.
//!
//! On a broker that deduplicates (Redis Streams, JetStream), each event is published with its
//! deterministic envelope id, so the events Discord replays after a crash and a RESUME (those
//! between the last saved sequence and the crash) are dropped by the broker: consumers see
//! each event once. A batch is sent whole before its answers are awaited, so that costs a
//! round trip per batch, not per event.
//!
//! On every broker a transient failure (the broker unreachable, the connection lost) is
//! retried with backoff before the sequence moves on, so a saved sequence never covers an
//! event the broker did not take; the queue fills meanwhile and the shard pauses, leaving the
//! backlog with Discord, which replays it on RESUME. (Plain pub/sub is still at-most-once
//! past the broker: a message nobody is subscribed to when it is published is gone.)
//!
//! In a shard pool, a node whose grant lapsed holds the shard's events (see [`crate::fence`]).
//! If the shard went elsewhere meanwhile, what it held of the session the store names is
//! dropped: the new owner resumes that session and Discord replays it. What it held of a
//! session it never managed to save (it identified while the broker was unreachable, say)
//! nobody else can resume, so those of its events that came before the grant lapsed are
//! published after all, without the epoch that would make consumers refuse them as a former
//! owner's. Those that came later may have gone to a session the new owner identified too
//! (Discord dispatches to both), and would come twice under different ids: they are dropped,
//! inside the gap the new owner reports when it cannot resume the stored session.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchyard_broker::{Broker, IdPublish};
use switchyard_core::Topic;
use switchyard_core::envelope::{Source, event_id, without_epoch};
use tokio::sync::mpsc;

use crate::shard::Item;
use crate::status::ShardStatus;

/// The most items taken from the queue per wake-up.
pub(crate) const BATCH: usize = 256;

/// The longest pause between two attempts at a publish that failed transiently.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

struct Publisher {
    broker: Arc<dyn Broker>,
    status: Arc<ShardStatus>,
    bot: Arc<str>,
    dedup: bool,
    published: metrics::Counter,
    failed: metrics::Counter,
    duplicates: metrics::Counter,
    /// Whether a rescue (see [`Publisher::rescue`]) has been logged yet.
    rescue_logged: std::sync::atomic::AtomicBool,
}

/// Drains a shard's queue into the broker, recording the last sequence handed over.
pub(crate) async fn run_publisher(
    mut rx: mpsc::Receiver<Item>,
    broker: Arc<dyn Broker>,
    status: Arc<ShardStatus>,
    bot: Arc<str>,
) {
    let label = status.id.to_string();
    let depth = metrics::gauge!("switchyard_gateway_queue_depth", "shard" => label.clone());
    let publisher = Publisher {
        dedup: broker.capabilities().deduplication,
        published: metrics::counter!("switchyard_gateway_published_total", "shard" => label.clone()),
        failed: metrics::counter!("switchyard_gateway_publish_errors_total", "shard" => label),
        duplicates: metrics::counter!("switchyard_gateway_duplicates_dropped_total"),
        rescue_logged: Default::default(),
        broker,
        status,
        bot,
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut out = Vec::with_capacity(BATCH);
    loop {
        let taken = rx.recv_many(&mut batch, BATCH).await;
        if taken == 0 {
            break;
        }
        let mut handed = None;
        for item in batch.drain(..) {
            if !publisher.fenced_open().await {
                // The shard went elsewhere: its new owner publishes the rest, unless only
                // this node knows the session.
                out.extend(publisher.rescue(item));
                continue;
            }
            if let Some((topic, payload)) = item.publish {
                out.push(Outgoing {
                    session: Arc::clone(&item.session),
                    seq: item.seq,
                    id: item.id,
                    topic,
                    payload,
                });
            }
            if let Some(seq) = item.seq {
                handed = Some((item.session, seq));
            }
        }
        let published = publisher.publish_all(&mut out).await;
        publisher.published.increment(published);
        publisher.status.add_published(published);
        if let Some((session, seq)) = handed {
            publisher.status.set_handed(&session, seq);
        }
        depth.set(rx.len() as f64);
        publisher.status.set_queue_depth(rx.len());
        publisher.status.backlog().settled(taken as u64);
    }
}

/// One event of a batch on its way to the broker.
struct Outgoing {
    session: Arc<str>,
    seq: Option<u64>,
    id: Option<[u8; 32]>,
    topic: Topic,
    payload: Bytes,
}

impl Publisher {
    /// Waits while the shard's grant has lapsed (see [`crate::fence`]); false once the shard
    /// is lost, so that nothing more is published for it here.
    async fn fenced_open(&self) -> bool {
        let fence = self.status.fence();
        let mut warned = false;
        while !fence.open() {
            if fence.is_lost() {
                return false;
            }
            if !warned {
                warned = true;
                metrics::counter!("switchyard_gateway_pool_fence_holds_total").increment(1);
                tracing::warn!(
                    shard = self.status.id,
                    "no grant from the pool's coordinator for a lease; holding this shard's events until it renews the grant (or moves the shard)"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// What to publish of `item`, held when the shard went elsewhere: nothing when its
    /// session is the one the store holds (the new owner resumes it) or it came after the
    /// grant lapsed (the new owner may have it too), else its event without the pool epoch
    /// (nobody else can send it).
    fn rescue(&self, item: Item) -> Option<Outgoing> {
        let (topic, payload) = item.publish?;
        let stored = self.status.record().stored;
        let late = item.received_ms != 0
            && self
                .status
                .fence()
                .until_unix_ms()
                .is_some_and(|until| item.received_ms > until);
        if late || stored.as_deref() == Some(&*item.session) {
            metrics::counter!("switchyard_gateway_pool_fenced_events_total").increment(1);
            return None;
        }
        metrics::counter!("switchyard_gateway_pool_rescued_events_total").increment(1);
        if !self
            .rescue_logged
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(shard = self.status.id, session = %item.session, from_seq = item.seq,
                "the shard went elsewhere while this node held events of a session it never saved; publishing them, since no other node can resume that session (counted in switchyard_gateway_pool_rescued_events_total)");
        }
        let payload = without_epoch(&payload).map_or(payload, Bytes::from);
        Some(Outgoing {
            session: item.session,
            seq: item.seq,
            id: item.id,
            topic,
            payload,
        })
    }

    /// Publishes a batch in order (emptying `out`) and answers how many the broker took. On
    /// a deduplicating broker the whole batch is sent before the first answer is awaited
    /// (one round trip per batch, not per event); from the first event that failed
    /// transiently, the rest go again one by one with [`Publisher::publish`]'s retries, in
    /// order, and those the broker had already taken come back as duplicates.
    async fn publish_all(&self, out: &mut Vec<Outgoing>) -> u64 {
        let mut published = 0;
        let mut from = 0;
        if self.dedup && out.len() > 1 {
            let ids: Vec<Option<[u8; 32]>> = out.iter().map(|o| self.id_of(o)).collect();
            if ids.iter().all(Option::is_some) {
                let items: Vec<IdPublish<'_>> = out
                    .iter()
                    .zip(&ids)
                    .map(|(o, id)| IdPublish {
                        topic: &o.topic,
                        payload: o.payload.clone(),
                        id: id
                            .as_ref()
                            .map_or("", |id| std::str::from_utf8(id).unwrap_or_default()),
                    })
                    .collect();
                let answers = self.broker.publish_batch_with_ids(&items).await;
                from = answers.len().min(out.len());
                for (i, (answer, o)) in answers.into_iter().zip(out.iter()).enumerate() {
                    match answer {
                        Ok(p) => {
                            if p.duplicate {
                                self.duplicates.increment(1);
                            }
                            published += 1;
                        }
                        Err(e) if e.is_transient() => {
                            from = i;
                            break;
                        }
                        Err(e) => {
                            self.failed.increment(1);
                            tracing::error!(shard = self.status.id, topic = %o.topic, seq = o.seq, error = %e,
                                "the broker refused the event and would refuse it again; it is dropped");
                        }
                    }
                }
            }
        }
        for o in out.drain(..).skip(from) {
            if self.publish(&o).await {
                published += 1;
            }
        }
        published
    }

    /// The deduplication id of `o`: the envelope's when the router wrote one (events a cache
    /// rebuild made up have one and no sequence), else the same hash made here (raw payloads).
    fn id_of(&self, o: &Outgoing) -> Option<[u8; 32]> {
        o.id.or_else(|| {
            let source = Source {
                platform: "discord",
                bot: &self.bot,
                shard: self.status.id,
                session: &o.session,
                epoch: None,
            };
            o.seq.map(|seq| event_id(&source, seq))
        })
    }

    /// Publishes one event; true when the broker took it (a dropped duplicate counts as
    /// taken: the broker already has it). A transient failure (the broker unreachable or
    /// disconnected) is retried with backoff, so that the sequence recorded as handed over
    /// never passes an event the broker did not take; an event the broker refuses for good
    /// (too large, say) is logged, counted and dropped.
    async fn publish(&self, o: &Outgoing) -> bool {
        let id = if self.dedup { self.id_of(o) } else { None };
        let id = id
            .as_ref()
            .map(|id| std::str::from_utf8(id).unwrap_or_default());
        let (topic, seq) = (&o.topic, o.seq);
        let mut backoff = Duration::from_millis(10);
        loop {
            let result = match id {
                Some(id) => self
                    .broker
                    .publish_with_id(topic, o.payload.clone(), id)
                    .await
                    .map(|p| p.duplicate),
                None => self
                    .broker
                    .publish(topic, o.payload.clone())
                    .await
                    .map(|()| false),
            };
            match result {
                Ok(duplicate) => {
                    if duplicate {
                        self.duplicates.increment(1);
                    }
                    return true;
                }
                Err(e) if e.is_transient() => {
                    self.failed.increment(1);
                    tracing::warn!(shard = self.status.id, %topic, seq, error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "publish failed; retrying before the sequence moves on (the shard pauses if its queue fills)");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    self.failed.increment(1);
                    tracing::error!(shard = self.status.id, %topic, seq, error = %e,
                        "the broker refused the event and would refuse it again; it is dropped");
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_broker::embedded::EmbeddedBroker;
    use switchyard_core::Pattern;

    fn item(session: &Arc<str>, seq: u64, payload: &str, received_ms: u64) -> Item {
        Item {
            publish: Some((
                Topic::new("inbound.discord.1.2.3").expect("topic"),
                Bytes::from(payload.to_owned()),
            )),
            session: session.clone(),
            seq: Some(seq),
            id: None,
            received_ms,
        }
    }

    /// Events of the stored session and events that came after the grant lapsed are dropped;
    /// the rest of an unsaved session is published without its epoch.
    #[tokio::test]
    async fn a_lost_shard_drops_the_stored_session_and_rescues_the_unsaved_one() {
        let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::new(Default::default()));
        let mut sub = broker
            .subscribe(&Pattern::new("inbound.>").expect("pattern"))
            .await
            .expect("subscribe");
        let status = Arc::new(ShardStatus::new(0, 1));
        let (saved, unsaved): (Arc<str>, Arc<str>) = (Arc::from("saved"), Arc::from("unsaved"));
        status.set_stored(&saved);
        status.fence().renew(3, std::time::Instant::now());
        status.fence().lose();
        let lapsed = status.fence().until_unix_ms().expect("a pool's grant");
        let (tx, rx) = mpsc::channel(8);
        let events = [
            item(&saved, 7, r#"{"v":1,"t":"A","d":{},"epoch":3}"#, lapsed - 5),
            item(
                &unsaved,
                1,
                r#"{"v":1,"t":"B","d":{},"epoch":3}"#,
                lapsed - 5,
            ),
            item(
                &unsaved,
                2,
                r#"{"v":1,"t":"C","d":{},"epoch":3}"#,
                lapsed + 5,
            ),
        ];
        for event in events {
            tx.send(event).await.expect("send");
        }
        drop(tx);
        // it ends once the queue is drained, as it does when its runner is aborted
        run_publisher(rx, broker, status, Arc::from("bot")).await;
        let got = sub.try_recv().expect("the unsaved session's event");
        assert_eq!(&got.payload[..], br#"{"v":1,"t":"B","d":{}}"#);
        assert!(
            sub.try_recv().is_none(),
            "the stored session's event is the new owner's"
        );
    }
}
