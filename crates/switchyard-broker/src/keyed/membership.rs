//! Who is in a keyed group: every member beats on the group's beacon topic, answers a
//! newcomer at once, and drops a member that stopped beating or said goodbye.
//!
//! A new member is *settled* once it has listened for [`SETTLE`] and every member it heard
//! from has heard from it; only then does it take partitions, so that the members it joins
//! already count it when it starts delivering.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::Beacon;
use crate::{BrokerError, Pattern, Topic};

/// How often a member beats.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// A member silent for this long has left.
pub const MEMBER_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a newcomer listens before it takes partitions.
pub const SETTLE: Duration = Duration::from_millis(300);

/// One member's view of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    /// Every live member, this one included, sorted.
    pub(crate) members: Arc<[String]>,
    /// Whether this member has settled (see the module documentation).
    pub(crate) settled: bool,
}

#[derive(Serialize, Deserialize)]
struct Beat {
    op: Op,
    member: String,
    #[serde(default)]
    knows: Vec<String>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Op {
    Beat,
    Leave,
}

/// Membership of one member; dropping it says goodbye to the group.
pub(crate) struct Membership {
    /// This member's id.
    pub(crate) me: String,
    /// The current view.
    pub(crate) view: watch::Receiver<View>,
    _leave: oneshot::Sender<()>,
    /// Resolves once the goodbye is out (or the membership task ended without one).
    farewell: Option<oneshot::Receiver<()>>,
}

/// A member id unique across processes and machines (with overwhelming probability).
fn new_member_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{}/{nanos}/{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(seed.as_bytes()))
}

impl Membership {
    /// Joins `group` through `beacon`; the view starts unsettled.
    pub(crate) async fn join(beacon: Arc<dyn Beacon>, group: &str) -> Result<Self, BrokerError> {
        let topic = Topic::new(&format!("switchyard.keyed.{group}"))
            .map_err(|e| BrokerError::InvalidGroup(format!("{group}: {e}")))?;
        let pattern = Pattern::new(topic.as_str())
            .map_err(|e| BrokerError::InvalidGroup(format!("{group}: {e}")))?;
        let mut beats = beacon.listen(&pattern).await?;
        let me = new_member_id();
        let (view_tx, view) = watch::channel(View {
            members: Arc::from(vec![me.clone()]),
            settled: false,
        });
        let (leave, mut left) = oneshot::channel();
        let (said_goodbye, farewell) = oneshot::channel::<()>();
        let mut state = State {
            me: me.clone(),
            group: group.to_owned(),
            started: Instant::now(),
            peers: BTreeMap::new(),
            view: view_tx,
        };
        state.beat(&*beacon, &topic, Op::Beat).await;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(HEARTBEAT);
            // The settle check needs a look soon after SETTLE, not only at each heartbeat.
            let settle_check = tokio::time::sleep(SETTLE);
            tokio::pin!(settle_check);
            loop {
                tokio::select! {
                    _ = &mut left => {
                        state.beat(&*beacon, &topic, Op::Leave).await;
                        let _ = said_goodbye.send(());
                        return;
                    }
                    _ = ticker.tick() => {
                        state.beat(&*beacon, &topic, Op::Beat).await;
                        state.expire();
                    }
                    () = &mut settle_check, if !state.view.borrow().settled => {
                        settle_check.as_mut().reset(Instant::now() + SETTLE / 4);
                    }
                    message = beats.recv() => {
                        let Some(message) = message else {
                            tracing::warn!("keyed group {}: beacon closed", state.group);
                            return;
                        };
                        if state.heard(&message.payload) {
                            // A newcomer: answer at once so that it learns about us.
                            state.beat(&*beacon, &topic, Op::Beat).await;
                        }
                    }
                }
                state.publish_view();
            }
        });
        Ok(Membership {
            me,
            view,
            _leave: leave,
            farewell: Some(farewell),
        })
    }

    /// What resolves once this member, dropped, has said goodbye: a member that leaves in
    /// the background (dropped just before its process exits) may never send it, and until
    /// the others notice its silence ([`MEMBER_TIMEOUT`]) the messages of its partitions
    /// reach nobody. Taken once.
    pub(crate) fn farewell(&mut self) -> Option<oneshot::Receiver<()>> {
        self.farewell.take()
    }
}

/// Waits until `farewell` says the goodbye is out, at most [`MEMBER_TIMEOUT`] (by then the
/// others have dropped the silent member anyway).
pub(crate) async fn said_goodbye(farewell: oneshot::Receiver<()>) {
    if tokio::time::timeout(MEMBER_TIMEOUT, farewell)
        .await
        .is_err()
    {
        tracing::warn!(
            "keyed group: the goodbye did not go out in time; the others drop this member once it is silent for {} ms",
            MEMBER_TIMEOUT.as_millis()
        );
    }
}

struct Peer {
    last_seen: Instant,
    knows_me: bool,
}

struct State {
    me: String,
    group: String,
    started: Instant,
    peers: BTreeMap<String, Peer>,
    view: watch::Sender<View>,
}

impl State {
    async fn beat(&self, beacon: &dyn Beacon, topic: &Topic, op: Op) {
        let beat = Beat {
            op,
            member: self.me.clone(),
            knows: self.peers.keys().cloned().collect(),
        };
        let payload = match serde_json::to_vec(&beat) {
            Ok(p) => Bytes::from(p),
            Err(_) => return,
        };
        if let Err(e) = beacon.announce(topic, payload).await {
            tracing::warn!("keyed group {}: cannot send heartbeat: {e}", self.group);
        }
    }

    /// Takes in a beat; true when it came from a member we did not know.
    fn heard(&mut self, payload: &[u8]) -> bool {
        let Ok(beat) = serde_json::from_slice::<Beat>(payload) else {
            tracing::warn!("keyed group {}: ignored a malformed heartbeat", self.group);
            return false;
        };
        if beat.member == self.me {
            return false;
        }
        if beat.op == Op::Leave {
            if self.peers.remove(&beat.member).is_some() {
                tracing::debug!(group = %self.group, member = %beat.member, "keyed group: a member said goodbye");
            }
            return false;
        }
        let knows_me = beat.knows.contains(&self.me);
        let new = !self.peers.contains_key(&beat.member);
        if new {
            tracing::debug!(group = %self.group, member = %beat.member, "keyed group: a member joined");
        }
        self.peers.insert(
            beat.member,
            Peer {
                last_seen: Instant::now(),
                knows_me,
            },
        );
        new
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let group = &self.group;
        self.peers.retain(|member, p| {
            let alive = now.duration_since(p.last_seen) < MEMBER_TIMEOUT;
            if !alive {
                tracing::debug!(%group, %member, "keyed group: a member stopped beating; dropped");
            }
            alive
        });
    }

    fn publish_view(&self) {
        let settled = self.view.borrow().settled
            || (self.started.elapsed() >= SETTLE && self.peers.values().all(|p| p.knows_me))
            || self.started.elapsed() >= MEMBER_TIMEOUT;
        let mut members: Vec<String> = self.peers.keys().cloned().collect();
        members.push(self.me.clone());
        members.sort_unstable();
        let view = View {
            members: Arc::from(members),
            settled,
        };
        self.view.send_if_modified(|current| {
            if *current == view {
                false
            } else {
                *current = view;
                true
            }
        });
    }
}
