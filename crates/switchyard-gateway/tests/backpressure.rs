//! Backpressure without loss: when the broker stops taking events, the shard's overflow list
//! is bounded by the queue's capacity: reaching it closes the shard resumably at once (without
//! waiting `full_bound`), Discord holds the backlog, and every event arrives once the broker
//! is back; likewise when publishes fail (a broker server down), on plain pub/sub too.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{GateMode, WAIT, env, eventually, seqs_until};
use switchyard_gateway::ShardPhase;
use switchyard_sim::SimConfig;

#[tokio::test]
async fn a_full_overflow_pauses_the_shard_before_full_bound() {
    let env = env(SimConfig::fast()).await;
    let (gate, broker) = env.gated(true);
    let mut config = env.config();
    config.queue_capacity = 8;
    // Far longer than the test: only the overflow's cap can pause the shard.
    config.full_bound = Duration::from_secs(600);
    let gw = switchyard_gateway::start(config, env.deps_with(broker))
        .await
        .expect("starts");
    assert!(gw.wait_ready(WAIT).await);
    let mut sub = env.subscribe("inbound.discord.>").await;
    let first = env.sim.counters().sessions[0].last_seq;
    let mut seen: BTreeSet<u64> = (1..=first).collect();
    gate.send_replace(false);
    let ch = env.channel(0);
    for i in 0..60 {
        env.say(ch, &format!("flood {i}"));
    }
    eventually("the shard paused", || {
        gw.status().shards[0].state == ShardPhase::Paused
    })
    .await;
    let depth = gw.status().shards[0].queue_depth;
    assert!(
        depth <= 3 * 8,
        "the backlog in the gateway stays near the queue's capacity, not the flood's size: {depth}"
    );
    gate.send_replace(true);
    eventually("resumed", || env.sim.counters().sessions[0].resumes >= 1).await;
    let last = env.sim.counters().sessions[0].last_seq;
    seqs_until(&mut sub, &mut seen, |s| s.len() as u64 >= last).await;
    assert_eq!(seen, (1..=last).collect::<BTreeSet<u64>>());
    gw.shutdown().await;
}

#[tokio::test]
async fn events_published_while_the_broker_is_down_arrive_once_it_is_back() {
    let env = env(SimConfig::fast()).await;
    let (gate, broker) = env.gated_with(true, GateMode::Fail);
    let mut config = env.config();
    config.queue_capacity = 8;
    let gw = switchyard_gateway::start(config, env.deps_with(broker))
        .await
        .expect("starts");
    assert!(gw.wait_ready(WAIT).await);
    let mut sub = env.subscribe("inbound.discord.>").await;
    // A session saved before the outage, of every event so far (on a loaded machine the
    // first save may not have come yet when the shard is ready).
    let last = || env.sim.counters().sessions[0].last_seq;
    let first = env.wait_saved(|s| s.seq == last()).await.seq;
    let mut seen: BTreeSet<u64> = (1..=first).collect();
    gate.send_replace(false);
    let ch = env.channel(0);
    for i in 0..30 {
        env.say(ch, &format!("during the outage {i}"));
    }
    eventually("the shard paused", || {
        gw.status().shards[0].state == ShardPhase::Paused
    })
    .await;
    // No saved sequence passes an event the broker did not take.
    let saved = env.saved(0, 1).await.expect("a saved session");
    assert!(saved.seq <= first, "saved {} past {first}", saved.seq);
    gate.send_replace(true);
    eventually("resumed", || env.sim.counters().sessions[0].resumes >= 1).await;
    let last = env.sim.counters().sessions[0].last_seq;
    seqs_until(&mut sub, &mut seen, |s| s.len() as u64 >= last).await;
    assert_eq!(seen, (1..=last).collect::<BTreeSet<u64>>());
    gw.shutdown().await;
}

#[tokio::test]
async fn sessions_are_not_saved_past_events_the_broker_has_not_confirmed() {
    let env = env(SimConfig::fast()).await;
    let (gate, broker) = env.gated_with(true, GateMode::Unconfirmed);
    let gw = switchyard_gateway::start(env.config(), env.deps_with(broker))
        .await
        .expect("starts");
    assert!(gw.wait_ready(WAIT).await);
    let mut sub = env.subscribe("inbound.discord.>").await;
    let first = env.sim.counters().sessions[0].last_seq;
    env.wait_saved(|s| s.seq == first).await;
    gate.send_replace(false);
    let ch = env.channel(0);
    for i in 0..5 {
        env.say(ch, &format!("unconfirmed {i}"));
    }
    let mut seen: BTreeSet<u64> = (1..=first).collect();
    seqs_until(&mut sub, &mut seen, |s| s.len() as u64 >= first + 5).await;
    // Published, handed over, but not confirmed: several save intervals pass without a save.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let saved = env.saved(0, 1).await.expect("saved");
    assert_eq!(saved.seq, first, "saved past unconfirmed events");
    gate.send_replace(true);
    env.wait_saved(|s| s.seq == first + 5).await;
    gw.shutdown().await;
}
