//! A durable group member takes no more than it can settle: one that holds every delivery
//! (a stuck or slow consumer) is given `max_in_flight` of them, and the rest of the stream
//! goes to the other members, which also get what it held once the ack timeout passes.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use switchyard_broker::{Delivery, DurableOptions, DurableSubscription};

use super::WAIT;
use crate::harness::{ACK_WAIT_MS, Fixture, Outcome};
use crate::supported;

/// Longer than the ack timeout, so that what the stuck member holds comes due meanwhile.
const QUIET: Duration = Duration::from_millis(ACK_WAIT_MS + 400);

pub async fn durable_window(f: &mut Fixture) -> Outcome {
    let window = DurableOptions::default().max_in_flight as usize;
    let total = 2 * window + 50;
    let broker = f.connect().await;
    let mut stuck = supported!(broker.subscribe_durable(&f.pattern("w.>"), "window").await);
    for i in 0..total {
        supported!(
            broker
                .publish_confirmed(&f.topic("w.x"), Bytes::from(i.to_string()))
                .await
        );
    }
    let mut held = Vec::new();
    while held.len() < window {
        held.push(next(&mut stuck).await);
    }
    nothing_more(&mut stuck, window).await;
    // Settling one makes room for one more.
    let settled = held.pop().expect("held one");
    let first = number(&settled);
    supported!(settled.ack().await);
    held.push(next(&mut stuck).await);
    nothing_more(&mut stuck, window).await;

    // Another member gets the rest, and what the stuck one holds once it comes due.
    let mut worker = supported!(broker.subscribe_durable(&f.pattern("w.>"), "window").await);
    let mut acked = BTreeSet::from([first]);
    let deadline = tokio::time::Instant::now() + WAIT + Duration::from_millis(ACK_WAIT_MS * 4);
    while acked.len() < total {
        let d = tokio::time::timeout_at(deadline, worker.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the other member acked {} of {total}; the stuck one holds {}",
                    acked.len(),
                    held.len()
                )
            })
            .expect("subscription open");
        acked.insert(number(&d));
        supported!(d.ack().await);
    }
    assert!(
        stuck.try_recv().is_none(),
        "the stuck member was given more than its window while it held it full"
    );
    Outcome::Passed
}

async fn next(member: &mut DurableSubscription) -> Delivery {
    tokio::time::timeout(WAIT, member.recv())
        .await
        .expect("delivered in time")
        .expect("subscription open")
}

async fn nothing_more(member: &mut DurableSubscription, window: usize) {
    let more = tokio::time::timeout(QUIET, member.recv()).await;
    assert!(
        more.is_err(),
        "a member holding {window} unsettled deliveries (max_in_flight) was given more: {more:?}"
    );
}

fn number(d: &Delivery) -> usize {
    std::str::from_utf8(&d.message.payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("a number")
}
