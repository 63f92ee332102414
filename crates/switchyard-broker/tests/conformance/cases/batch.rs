//! Publishing a batch with deduplication ids: the order holds, and an id already taken comes
//! back as a duplicate.

use bytes::Bytes;
use switchyard_broker::IdPublish;

use super::WAIT;
use crate::harness::{Fixture, Outcome};
use crate::supported;

/// 200 messages in one batch, the first of them published before: every one arrives once, in
/// order, and the one published before is answered as a duplicate.
pub async fn batch_deduplication(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut member = supported!(
        broker
            .subscribe_durable(&f.pattern("batch.>"), "batch")
            .await
    );
    let topic = f.topic("batch.x");
    let before = supported!(broker.publish_with_id(&topic, "0".into(), "b-0").await);
    assert!(!before.duplicate);
    let ids: Vec<String> = (0..200).map(|i| format!("b-{i}")).collect();
    let items: Vec<IdPublish<'_>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| IdPublish {
            topic: &topic,
            payload: Bytes::from(i.to_string()),
            id,
        })
        .collect();
    let answers = broker.publish_batch_with_ids(&items).await;
    assert_eq!(answers.len(), items.len(), "one answer per message");
    let mut duplicate = Vec::new();
    for answer in answers {
        duplicate.push(supported!(answer).duplicate);
    }
    assert!(
        duplicate[0] && duplicate[1..].iter().all(|d| !d),
        "only the id published before is a duplicate: {duplicate:?}"
    );
    let mut got = Vec::new();
    while got.len() < items.len() {
        match tokio::time::timeout(WAIT, member.recv()).await {
            Ok(Some(d)) => {
                got.push(String::from_utf8_lossy(&d.message.payload).into_owned());
                supported!(d.ack().await);
            }
            _ => break,
        }
    }
    let want: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(got, want, "every message once, in order");
    Outcome::Passed
}
