//! The broker lists its durable groups itself: a group a member joined, what it holds
//! unacknowledged, and its members where the broker tracks them (Redis's consumers; on
//! JetStream, the pull requests waiting).

use std::time::Duration;

use super::WAIT;
use crate::harness::{Fixture, Kind, Outcome};
use crate::supported;

/// A member holds one message unacknowledged: the group is listed with it pending, then with
/// nothing pending once it is acknowledged.
pub async fn durable_groups_listed(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut member = supported!(
        broker
            .subscribe_durable(&f.pattern("listed.>"), "listed")
            .await
    );
    supported!(broker.durable_groups().await);
    supported!(
        broker
            .publish_confirmed(&f.topic("listed.x"), "held".into())
            .await
    );
    let held = tokio::time::timeout(WAIT, member.recv())
        .await
        .expect("delivered in time")
        .expect("subscription open");
    let group = listed(f, &*broker, 1).await;
    if f.kind == Kind::RedisStreams {
        assert_eq!(group.members.len(), 1, "{group:?}");
        assert_eq!(group.members[0].pending, 1, "{group:?}");
        assert_eq!(group.waiting_pulls, None, "{group:?}");
    } else {
        assert!(group.members.is_empty(), "{group:?}");
        assert!(group.waiting_pulls.is_some(), "{group:?}");
    }
    supported!(held.ack().await);
    listed(f, &*broker, 0).await;
    Outcome::Passed
}

/// The group `listed` once the broker says `pending` of its messages are unacknowledged.
async fn listed(
    f: &Fixture,
    broker: &dyn switchyard_broker::Broker,
    pending: u64,
) -> switchyard_broker::GroupInfo {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let groups = broker.durable_groups().await.expect("the groups");
        let group = groups.iter().find(|g| g.name == "listed");
        if let Some(group) = group.filter(|g| g.pending == pending) {
            return group.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}: no group `listed` with {pending} pending in {groups:?}",
            f.kind
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
