//! Handing a shard back while its broker hangs: the removal gives up waiting after its grace,
//! aborts the shard and saves its session at the last sequence the broker took, so that the
//! shard pool keeps beating; started again, the shard RESUMEs and Discord replays what the
//! hung broker never took.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{WAIT, env, eventually, seqs_until};
use switchyard_sim::SimConfig;

#[tokio::test]
async fn removing_a_shard_whose_broker_hangs_ends_in_time_and_loses_nothing() {
    let env = env(SimConfig::fast()).await;
    let (gate, broker) = env.gated(true);
    let gw = switchyard_gateway::start(env.config(), env.deps_with(broker))
        .await
        .expect("starts");
    assert!(gw.wait_ready(WAIT).await);
    let mut sub = env.subscribe("inbound.discord.>").await;
    let session = env.sim.counters().sessions[0].clone();
    let mut seen: BTreeSet<u64> = (1..=session.last_seq).collect();

    // The broker hangs with events in flight.
    gate.send_replace(false);
    let ch = env.channel(0);
    for i in 0..3 {
        env.say(ch, &format!("stuck {i}"));
    }
    eventually("the events sent", || {
        env.sim.counters().sessions[0].last_seq >= session.last_seq + 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let started = Instant::now();
    let grace = Duration::from_millis(200);
    tokio::time::timeout(
        Duration::from_secs(5),
        gw.shard_handle().remove_within(&[0], grace),
    )
    .await
    .expect("the removal does not hang on the broker");
    let took = started.elapsed();
    assert!(
        took < grace * 2 + Duration::from_millis(500),
        "took {took:?}"
    );
    assert!(gw.shard_ids().await.is_empty());

    // The broker recovers; the shard comes back from the saved session.
    gate.send_replace(true);
    gw.add_shards(&[0]).await.expect("shard 0 again");
    eventually("resumed", || env.sim.counters().sessions[0].resumes >= 1).await;
    let counters = env.sim.counters();
    assert_eq!(counters.sessions.len(), 1, "no new IDENTIFY");
    let last = counters.sessions[0].last_seq;
    seqs_until(&mut sub, &mut seen, |s| (1..=last).all(|n| s.contains(&n))).await;
    gw.shutdown().await;
}
