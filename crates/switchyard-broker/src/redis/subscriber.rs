//! Plain Redis subscriptions: one dedicated pub/sub connection per subscription, `SUBSCRIBE`
//! for literal patterns and `PSUBSCRIBE` with the client-side re-check for wildcards, and
//! resubscription with backoff after a lost connection (at-most-once: what was published in
//! between is not delivered).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use redis::aio::PubSub;
use tokio::sync::mpsc;

use super::conn::RedisTarget;
use crate::subscription::AbortOnDrop;
use crate::{BrokerError, Message, Pattern, Subscription, Topic};

/// Subscribes; returns once Redis has confirmed the subscription.
pub(crate) async fn subscribe(
    target: Arc<RedisTarget>,
    pattern: &Pattern,
    buffer: usize,
) -> Result<Subscription, BrokerError> {
    let pubsub = target.first(|| open(&target, pattern)).await?;
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let task = tokio::spawn(run(target, pattern.clone(), pubsub, tx));
    Ok(Subscription::new(rx, AbortOnDrop(task)))
}

async fn open(target: &RedisTarget, pattern: &Pattern) -> Result<PubSub, redis::RedisError> {
    let mut pubsub = target.pubsub().await?;
    if pattern.is_literal() {
        pubsub.subscribe(pattern.as_str()).await?;
    } else {
        pubsub.psubscribe(pattern.to_redis_glob()).await?;
    }
    Ok(pubsub)
}

async fn run(
    target: Arc<RedisTarget>,
    pattern: Pattern,
    mut pubsub: PubSub,
    tx: mpsc::Sender<Message>,
) {
    loop {
        let mut stream = pubsub.into_on_message();
        while let Some(msg) = stream.next().await {
            let channel = msg.get_channel_name();
            // Redis globs match a superset (`*` crosses dots): keep exactly the pattern's set.
            if !pattern.matches(channel) {
                continue;
            }
            let Ok(topic) = Topic::new(channel) else {
                continue;
            };
            let message = Message {
                topic,
                payload: Bytes::copy_from_slice(msg.get_payload_bytes()),
            };
            if tx.send(message).await.is_err() {
                return;
            }
        }
        drop(stream);
        if tx.is_closed() {
            return;
        }
        tracing::warn!(
            "subscription {pattern}: lost the connection to Redis at {}; resubscribing (messages published meanwhile are not delivered)",
            target.url
        );
        let what = format!("subscription {pattern}");
        match target
            .again(&what, || open(&target, &pattern), || tx.is_closed())
            .await
        {
            Some(p) => pubsub = p,
            None => return,
        }
    }
}
