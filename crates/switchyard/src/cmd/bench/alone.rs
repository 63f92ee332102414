//! The reference phase of `switchyard bench`: the broker alone, without the fake Discord and
//! the gateway, at the same rate as the fixed-rate phase.
//!
//! A task on the gateway's runtime (where the broker's client lives) publishes the payloads
//! of the fake's mix straight to the broker at `rate` events/s, in the same 1 ms ticks, each
//! MESSAGE_CREATE stamped with its publish time, and the same consumer measures their
//! latency. The difference between this phase's latency and the fixed-rate phase's is what
//! the fake's WebSocket, the gateway's read, routing, envelope and queue add; what remains is
//! the broker's own hops (for Redis and NATS a server process woken twice per message) on
//! this machine.

use anyhow::Context as _;
use bytes::Bytes;
use std::sync::Arc;
use switchyard_broker::{Broker, Topic};
use switchyard_sim::SimHandle;

use super::load::{Pace, Phase, Received, paced_phase};
use super::measure::{Stampable, now_ns};

/// Publishes `count` events of `sim`'s mix straight to `broker` at `rate` events/s and
/// measures their latency to the consumer counting into `received`.
pub async fn broker_alone(
    broker: Arc<dyn Broker>,
    sim: &SimHandle,
    received: &Arc<Received>,
    count: u64,
    rate: u64,
    mix_size: usize,
) -> anyhow::Result<Phase> {
    let mix = switchyard_sim::build_mix(sim.world(), sim.config().world.seed, mix_size);
    let mut items = Vec::with_capacity(mix.len());
    for item in mix {
        let topic = Topic::new(&format!("inbound.discord.{}.0.0", item.guild_id))
            .context("a reference topic")?;
        items.push((topic, Stampable::new(item)));
    }
    anyhow::ensure!(!items.is_empty(), "the fake's mix is empty");
    paced_phase(received, count, move || {
        tokio::spawn(async move {
            let mut pace = Pace::new(count, rate);
            let (mut sent, mut taken) = (0u64, 0u64);
            while sent < count {
                let due = pace.due().await;
                while sent < due {
                    let Some((topic, item)) = items.get(sent as usize % items.len()) else {
                        break;
                    };
                    let payload = Bytes::from(item.stamped(now_ns()).d.as_bytes().to_vec());
                    match broker.publish(topic, payload).await {
                        Ok(()) => taken += 1,
                        Err(e) => tracing::warn!(error = %e, "reference publish failed"),
                    }
                    sent += 1;
                }
            }
            // Dropping a client can drop what it still buffers (core NATS does).
            if let Err(e) = broker.flush().await {
                tracing::warn!(error = %e, "the reference publisher's flush failed");
            }
            taken
        })
    })
    .await
}
