//! The face's one reading of the broker: every inbound event of the bot, decoded once and
//! offered to every session, each once however many times it was published. What cannot be
//! read is logged and counted, and the feed goes on.

use std::sync::Arc;

use crate::dedup::{REMEMBERED, Recent};
use crate::event::Decoder;
use crate::hub::Hub;

/// Feeds the hub from the bot's inbound subscription until it ends.
pub(crate) async fn run(mut sub: switchyard_broker::Subscription, bot: String, hub: Arc<Hub>) {
    let mut decoder = Decoder::new(bot);
    let mut recent = Recent::new(REMEMBERED);
    while let Some(msg) = sub.recv().await {
        match decoder.decode(&msg.payload) {
            Ok(Some(event)) if event.id.is_some_and(|id| !recent.first_time(id)) => {
                metrics::counter!("switchyard_face_duplicates_dropped_total").increment(1);
            }
            Ok(Some(event)) => {
                metrics::counter!("switchyard_face_events_total").increment(1);
                hub.offer(&Arc::new(event));
            }
            Ok(None) => {}
            Err(error) => {
                metrics::counter!("switchyard_face_events_unreadable_total").increment(1);
                tracing::warn!(topic = %msg.topic, %error, "face: an inbound message it cannot serve");
            }
        }
    }
    tracing::warn!("face: the inbound subscription ended");
}
