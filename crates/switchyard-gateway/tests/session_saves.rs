//! Sessions are saved only up to the events the broker took: while the broker holds every
//! publish back, the saved sequence stays behind the events waiting for it; a gateway
//! started after a crash RESUMEs from there, Discord replays them, and the consumer gets every
//! sequence of the session, each once.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{WAIT, env, eventually, seq_counts_until};
use switchyard_sim::SimConfig;

#[tokio::test]
async fn sequences_are_saved_only_after_their_events_were_handed_to_the_broker() {
    let env = env(SimConfig::fast()).await;
    // Listening before the gateway starts: the consumer sees the session from READY on.
    let mut sub = env.subscribe("inbound.discord.>").await;
    let (gate, broker) = env.gated(true);
    let gw = switchyard_gateway::start(env.config(), env.deps_with(broker))
        .await
        .expect("starts");
    assert!(gw.wait_ready(WAIT).await, "{:?}", gw.status());
    let session = env.sim.counters().sessions[0].clone();
    let mut seen = BTreeMap::new();
    seq_counts_until(&mut sub, &mut seen, |s| s.len() as u64 >= session.last_seq).await;
    let before = env
        .wait_saved(|s| s.session_id == session.session_id && s.seq == session.last_seq)
        .await;

    // The broker stops taking events; a burst arrives from Discord.
    gate.send_replace(false);
    let ch = env.channel(0);
    for i in 0..10 {
        env.say(ch, &format!("held back {i}"));
    }
    let last = env.sim.counters().sessions[0].last_seq;
    assert!(last >= before.seq + 10);
    eventually("the gateway received the burst", || {
        gw.status().shards[0].seq == last
    })
    .await;
    // Several save intervals go by: nothing of the burst may be saved as done.
    tokio::time::sleep(env.config().session_save_interval * 5).await;
    let held = env.saved(0, 1).await.expect("a saved session");
    assert_eq!(held.session_id, session.session_id);
    assert_eq!(
        held.seq, before.seq,
        "the saved sequence covers no event the broker has not taken"
    );
    assert!(
        sub.try_recv().is_none(),
        "nothing of the burst was published"
    );

    // A crash while the broker hangs; a new gateway on a working broker.
    gw.abort().await;
    eventually("the fake saw the connection drop", || {
        !env.sim.counters().sessions[0].connected
    })
    .await;
    let gw = env.start(env.config()).await;
    let after = env.sim.counters();
    assert_eq!(after.sessions.len(), 1, "RESUMEd, not identified anew");
    assert_eq!(after.sessions[0].resumes, 1);
    let last = after.sessions[0].last_seq;
    seq_counts_until(&mut sub, &mut seen, |s| s.len() as u64 >= last).await;
    // Past the moment a duplicate would have arrived.
    tokio::time::sleep(Duration::from_millis(50)).await;
    while let Some(msg) = sub.try_recv() {
        if let Ok(env) = switchyard_core::Envelope::decode(&msg.payload)
            && let Some(seq) = env.seq
        {
            *seen.entry(seq).or_insert(0) += 1;
        }
    }
    let want: BTreeMap<u64, u32> = after.sessions[0].seqs().map(|s| (s, 1)).collect();
    assert_eq!(seen, want, "every sequence of the session, each once");
    drop(gate);
    gw.shutdown().await;
}

/// A session file torn by a power cut does not stop the gateway: the shard identifies afresh
/// and saves its new session over the torn one.
#[tokio::test]
async fn a_torn_session_file_costs_an_identify_not_the_start() {
    let env = env(SimConfig::fast()).await;
    let dir = env.dir.path().join("sessions");
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("testbot.0.1.json");
    std::fs::write(&file, br#"{"session_id":"abc","se"#).expect("write");
    let gw = env.start(env.config()).await;
    let sessions = env.sim.counters().sessions;
    assert_eq!(sessions.len(), 1, "identified");
    assert_eq!(sessions[0].resumes, 0);
    // the torn file reads as corrupt until the first save overwrites it
    let store = env.store();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match store.load("testbot.0.1").await {
            Ok(Some(s)) if s.session_id == sessions[0].session_id => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "the new session was not saved over the torn one: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.shutdown().await;
}
