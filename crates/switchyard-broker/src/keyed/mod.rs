//! Keyed worker groups, the same on every backend: every message with the same key (for
//! Discord, the guild id) goes to the same member while membership is stable, so a bot's
//! per-guild state stays on one worker. Pylon distributes its workers by guild in this way.
//!
//! Keys are hashed into partitions, and each partition is owned by one member, chosen by
//! rendezvous hashing over the current members: when a member joins or leaves, only the
//! partitions it gains or loses move. Members learn about each other through heartbeats on
//! the beacon topic `switchyard.keyed.{group}`, sent outside any durable stream
//! (`membership` says how a newcomer settles before it takes partitions).
//!
//! - [`Broker::subscribe_keyed`](crate::Broker::subscribe_keyed) (every backend): each member
//!   receives the group's messages fan-out and keeps those of its partitions. Like every
//!   plain subscription it is at-most-once; while membership changes (for up to
//!   [`MEMBER_TIMEOUT`] after a member dies without saying goodbye), a message can reach
//!   two members or none. A member that stops on purpose leaves with
//!   [`Subscription::close`], which returns once its goodbye is out: dropped, it says goodbye
//!   in the background, and a process that exits right after may never send it.
//! - [`Broker::subscribe_keyed_durable`](crate::Broker::subscribe_keyed_durable) (Redis
//!   Streams, JetStream): each of the [`DURABLE_PARTITIONS`] partitions is a durable group of
//!   its own, `{group}-p{n}`, read by its owner, who acknowledges at once what belongs to other
//!   partitions. When a member leaves, the new owner of its partitions joins their durable
//!   groups, and what the old owner had not acknowledged is delivered again after the ack
//!   timeout: **nothing is lost in the move**. The cost: every partition's group reads every
//!   message of the pattern, so the broker delivers each message [`DURABLE_PARTITIONS`] times.

mod membership;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

pub use membership::{HEARTBEAT, MEMBER_TIMEOUT, SETTLE};
use membership::{Membership, View};

use crate::subscription::AbortOnDrop;
use crate::{
    BrokerError, Delivery, DurableSubscription, Message, PartitionKey, Pattern, Subscription, Topic,
};

/// Partitions of a durable keyed group: the most members that can share its load.
pub const DURABLE_PARTITIONS: u32 = 8;

/// Partitions of a plain keyed group (a finer split costs nothing there).
const PLAIN_PARTITIONS: u32 = 1024;

/// How members of a keyed group reach each other: fan-out outside any durable stream.
#[async_trait]
pub(crate) trait Beacon: Send + Sync + 'static {
    /// Sends one heartbeat.
    async fn announce(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError>;
    /// Receives the heartbeats of a group.
    async fn listen(&self, pattern: &Pattern) -> Result<Subscription, BrokerError>;
}

/// Joins the durable group of one partition (by its group name).
pub(crate) type OpenPartition = Arc<
    dyn Fn(String) -> BoxFuture<'static, Result<DurableSubscription, BrokerError>> + Send + Sync,
>;

/// The partition of a key.
fn partition_of(key: &str, partitions: u32) -> u32 {
    (xxh3_64(key.as_bytes()) % u64::from(partitions)) as u32
}

/// Which partitions `me` owns in `view`. Every member computes the same table from the same
/// member list: rendezvous hashing (each partition prefers the members in the order of a hash
/// of (member, partition)) with bounded loads, so that each member owns `P / M` partitions,
/// or one more, and a membership change moves few partitions.
fn owned(view: &View, me: &str, partitions: u32) -> Vec<bool> {
    let members = &view.members;
    let count = members.len().max(1);
    let floor = partitions as usize / count;
    let mut load = vec![0usize; count];
    let mut owner = vec![usize::MAX; partitions as usize];
    // Each partition's members, best first.
    let preference: Vec<Vec<usize>> = (0..partitions)
        .map(|p| {
            let mut order: Vec<usize> = (0..members.len()).collect();
            order.sort_by_key(|&i| {
                std::cmp::Reverse(xxh3_64_with_seed(members[i].as_bytes(), u64::from(p)))
            });
            order
        })
        .collect();
    // First every member up to the floor, then the remainder one each.
    for cap in [floor, floor + 1] {
        for (p, order) in preference.iter().enumerate() {
            if owner[p] != usize::MAX {
                continue;
            }
            if let Some(&m) = order.iter().find(|&&m| load[m] < cap) {
                owner[p] = m;
                load[m] += 1;
            }
        }
    }
    let me = members.iter().position(|m| m == me);
    owner.into_iter().map(|o| Some(o) == me).collect()
}

/// Checks a keyed group name: a group name with room for the partition suffix.
fn check(group: &str) -> Result<(), BrokerError> {
    crate::check_group(group)?;
    if group.len() > 60 {
        return Err(BrokerError::InvalidGroup(group.to_owned()));
    }
    Ok(())
}

/// Joins and waits until the membership has settled.
async fn join(beacon: Arc<dyn Beacon>, group: &str) -> Result<Membership, BrokerError> {
    let membership = Membership::join(beacon, group).await?;
    let mut view = membership.view.clone();
    view.wait_for(|v| v.settled)
        .await
        .map_err(|_| BrokerError::Disconnected {
            backend: "keyed group",
            detail: format!("{group}: the membership task stopped"),
        })?;
    Ok(membership)
}

/// A plain keyed member: `source` is a fan-out subscription to the group's pattern, opened
/// before the call so that nothing published after it returns is missed.
pub(crate) async fn plain(
    beacon: Arc<dyn Beacon>,
    mut source: Subscription,
    group: &str,
    key: PartitionKey,
    buffer: usize,
) -> Result<Subscription, BrokerError> {
    check(group)?;
    let mut membership = join(beacon, group).await?;
    let farewell = goodbye(&mut membership);
    let me = membership.me.clone();
    let mut view = membership.view.clone();
    let (tx, rx) = mpsc::channel::<Message>(buffer.max(1));
    let task = tokio::spawn(async move {
        let mut mine = owned(&view.borrow_and_update(), &me, PLAIN_PARTITIONS);
        loop {
            tokio::select! {
                // A view change first: a message that arrives with it is judged by the new view.
                biased;
                changed = view.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    mine = owned(&view.borrow_and_update(), &me, PLAIN_PARTITIONS);
                }
                message = source.recv() => {
                    let Some(message) = message else { return };
                    let p = partition_of(key.key_of(&message.topic), PLAIN_PARTITIONS);
                    if mine[p as usize] && tx.send(message).await.is_err() {
                        return;
                    }
                }
                () = tx.closed() => return,
            }
        }
    });
    Ok(Subscription::new(rx, (AbortOnDrop(task), membership)).with_farewell(farewell))
}

/// What a member's subscription waits for when it is closed: its goodbye going out.
fn goodbye(membership: &mut Membership) -> Option<BoxFuture<'static, ()>> {
    let farewell = membership.farewell()?;
    Some(Box::pin(membership::said_goodbye(farewell)))
}

/// A durable keyed member: joins the durable groups `{group}-p{n}` of the partitions it owns
/// through `open`, and follows membership changes.
pub(crate) async fn durable(
    beacon: Arc<dyn Beacon>,
    open: OpenPartition,
    group: &str,
    key: PartitionKey,
    buffer: usize,
) -> Result<DurableSubscription, BrokerError> {
    check(group)?;
    let mut membership = join(beacon, group).await?;
    let farewell = goodbye(&mut membership);
    let (tx, rx) = mpsc::channel::<Delivery>(buffer.max(1));
    let mut partitions = Partitions {
        group: group.to_owned(),
        key,
        open,
        tx,
        running: BTreeMap::new(),
    };
    let me = membership.me.clone();
    let mut view = membership.view.clone();
    // The first partitions are joined before returning, so that an error surfaces here.
    let first = owned(&view.borrow_and_update(), &me, DURABLE_PARTITIONS);
    partitions.follow(&first).await?;
    let task = tokio::spawn(async move {
        let mut retry = false;
        loop {
            tokio::select! {
                changed = view.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(HEARTBEAT), if retry => {}
                () = partitions.tx.closed() => return,
            }
            let mine = owned(&view.borrow_and_update(), &me, DURABLE_PARTITIONS);
            retry = match partitions.follow(&mine).await {
                Ok(()) => false,
                Err(e) => {
                    tracing::warn!(
                        "keyed group {}: cannot join a partition ({e}); retrying",
                        partitions.group
                    );
                    true
                }
            };
        }
    });
    Ok(DurableSubscription::new(rx, (AbortOnDrop(task), membership)).with_farewell(farewell))
}

/// The partitions a durable member reads, one forwarding task each.
struct Partitions {
    group: String,
    key: PartitionKey,
    open: OpenPartition,
    tx: mpsc::Sender<Delivery>,
    running: BTreeMap<u32, AbortOnDrop>,
}

impl Partitions {
    /// Leaves the partitions no longer `mine`, then joins the new ones.
    async fn follow(&mut self, mine: &[bool]) -> Result<(), BrokerError> {
        self.running.retain(|p, _| mine[*p as usize]);
        for (p, _) in mine.iter().enumerate().filter(|(_, m)| **m) {
            let p = p as u32;
            if self.running.contains_key(&p) {
                continue;
            }
            let sub = (self.open)(format!("{}-p{p}", self.group)).await?;
            let task = tokio::spawn(forward(sub, p, self.key, self.tx.clone()));
            self.running.insert(p, AbortOnDrop(task));
            tracing::debug!("keyed group {}: took partition {p}", self.group);
        }
        Ok(())
    }
}

/// Hands the deliveries of partition `p` to the member and acknowledges the others'.
async fn forward(
    mut sub: DurableSubscription,
    p: u32,
    key: PartitionKey,
    tx: mpsc::Sender<Delivery>,
) {
    while let Some(delivery) = sub.recv().await {
        if partition_of(key.key_of(&delivery.message.topic), DURABLE_PARTITIONS) == p {
            if tx.send(delivery).await.is_err() {
                return;
            }
        } else if let Err(e) = delivery.ack().await {
            tracing::warn!(
                "keyed partition {p}: cannot acknowledge another partition's message: {e}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A beacon that records what is announced and hears nothing.
    #[derive(Default)]
    struct Recorder {
        announced: Mutex<Vec<serde_json::Value>>,
        /// Keeps the listening side open.
        hearing: Mutex<Vec<mpsc::Sender<Message>>>,
    }

    #[async_trait]
    impl Beacon for Recorder {
        async fn announce(&self, _topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
            let beat = serde_json::from_slice(&payload).expect("a beat is JSON");
            self.announced.lock().expect("lock").push(beat);
            Ok(())
        }

        async fn listen(&self, _pattern: &Pattern) -> Result<Subscription, BrokerError> {
            let (tx, rx) = mpsc::channel(8);
            self.hearing.lock().expect("lock").push(tx);
            Ok(Subscription::new(rx, ()))
        }
    }

    /// A process that closes its keyed subscriptions and exits at once has told the group
    /// that it left: the others take its partitions now, not after [`MEMBER_TIMEOUT`] of
    /// silence, in which the messages of its partitions would reach nobody. (Dropped, the
    /// goodbye is left to a task that dies with the runtime.)
    #[test]
    fn a_closed_member_has_said_goodbye_when_its_process_exits() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let beacon = Arc::new(Recorder::default());
        let (_source_tx, source) = mpsc::channel(8);
        runtime.block_on(async {
            let member = plain(
                beacon.clone(),
                Subscription::new(source, ()),
                "closing",
                PartitionKey::Segment(1),
                8,
            )
            .await
            .expect("joined");
            member.close().await;
        });
        // The process exits: whatever is still spawned never runs again.
        drop(runtime);
        let announced = beacon.announced.lock().expect("lock").clone();
        assert_eq!(
            announced.last().map(|b| b["op"].clone()),
            Some(serde_json::json!("leave")),
            "{announced:?}"
        );
    }

    fn view(members: &[&str]) -> View {
        View {
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            settled: true,
        }
    }

    #[test]
    fn every_partition_has_exactly_one_owner() {
        let v = view(&["a", "b", "c"]);
        let tables: Vec<Vec<bool>> = ["a", "b", "c"]
            .iter()
            .map(|m| owned(&v, m, PLAIN_PARTITIONS))
            .collect();
        for p in 0..PLAIN_PARTITIONS as usize {
            assert_eq!(tables.iter().filter(|t| t[p]).count(), 1, "partition {p}");
        }
        // Even: each of three members owns 341 or 342.
        for t in &tables {
            let n = t.iter().filter(|o| **o).count();
            assert!((341..=342).contains(&n), "{n} of 1024");
        }
    }

    #[test]
    fn a_leaving_member_moves_few_of_the_others_partitions() {
        let before = view(&["a", "b", "c"]);
        let after = view(&["a", "c"]);
        let mut moved = 0;
        for m in ["a", "c"] {
            let old = owned(&before, m, PLAIN_PARTITIONS);
            let new = owned(&after, m, PLAIN_PARTITIONS);
            moved += (0..PLAIN_PARTITIONS as usize)
                .filter(|&p| old[p] && !new[p])
                .count();
        }
        // b's third moves; of the survivors' two thirds, almost nothing does.
        assert!(moved < PLAIN_PARTITIONS as usize / 20, "{moved} moved");
    }

    #[test]
    fn durable_partitions_split_evenly() {
        for members in [
            &["a", "b"][..],
            &["a", "b", "c"],
            &["x1", "x2", "x3", "x4", "x5"],
        ] {
            let v = view(members);
            let counts: Vec<usize> = members
                .iter()
                .map(|m| {
                    owned(&v, m, DURABLE_PARTITIONS)
                        .iter()
                        .filter(|o| **o)
                        .count()
                })
                .collect();
            assert_eq!(counts.iter().sum::<usize>(), DURABLE_PARTITIONS as usize);
            let (lo, hi) = (counts.iter().min(), counts.iter().max());
            assert!(
                hi.zip(lo).is_some_and(|(h, l)| h - l <= 1),
                "{members:?}: {counts:?}"
            );
        }
    }
}
