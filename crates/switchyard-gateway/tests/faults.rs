//! Faults on the embedded broker: after resumable faults the consumer saw exactly the fake's
//! sequence numbers for the session; after non-resumable ones a new session is identified and
//! the gap is reported on `control.gateway.gap`; after a crash the restarted gateway RESUMEs
//! from the saved session; a full queue closes the shard and resumes it once drained; every
//! fatal close code stops its shard with an error that names the cause.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{WAIT, env, eventually, seqs_until};
use switchyard_gateway::ShardPhase;
use switchyard_sim::{Fault, SimConfig};

fn only_session(env: &common::Env) -> switchyard_sim::SessionCounters {
    let c = env.sim.counters();
    assert_eq!(c.sessions.len(), 1, "one session: {:?}", c.sessions);
    c.sessions[0].clone()
}

#[tokio::test]
async fn resumable_faults_lose_nothing() {
    let env = env(SimConfig::fast()).await;
    let gw = env.start(env.config()).await;
    let mut sub = env.subscribe("inbound.discord.>").await;
    let ch = env.channel(0);
    let mut seen = BTreeSet::new();
    let mut faults = vec![
        Fault::Reconnect { session_id: None },
        Fault::InvalidSession {
            resumable: true,
            session_id: None,
        },
    ];
    // Every close code Discord's table marks "reconnect" that keeps the session.
    for code in [4000, 4001, 4002, 4003, 4005, 4008] {
        faults.push(Fault::Close {
            code,
            session_id: None,
        });
    }
    faults.extend([
        Fault::Drop { session_id: None },
        Fault::StopAck {
            stop: true,
            session_id: None,
        },
    ]);
    // READY and the GUILD_CREATEs went out before the subscription: mark them seen by count
    let start = only_session(&env).last_seq;
    seen.extend(1..=start);
    for (i, fault) in faults.iter().enumerate() {
        env.say(ch, &format!("before {i}"));
        env.sim.fault(fault).expect("fault");
        for j in 0..5 {
            env.say(ch, &format!("during {i}.{j}"));
        }
        if matches!(fault, Fault::StopAck { .. }) {
            // zombie detection needs a missed ACK; then acks come back on the new connection
            eventually("a reconnect after ACK loss", || {
                env.sim.counters().sessions[0].resumes > i as u64
            })
            .await;
            env.sim
                .fault(&Fault::StopAck {
                    stop: false,
                    session_id: None,
                })
                .expect("acks again");
        }
        eventually("the session resumed", || {
            let s = env.sim.counters().sessions[0].clone();
            s.connected && s.resumes > i as u64
        })
        .await;
        let last = only_session(&env).last_seq;
        seqs_until(&mut sub, &mut seen, |s| s.len() as u64 >= last).await;
        let want: BTreeSet<u64> = (1..=last).collect();
        assert_eq!(seen, want, "after {fault:?}");
    }
    let s = only_session(&env);
    assert_eq!(s.resumes, faults.len() as u64);
    assert_eq!(gw.status().shards[0].gaps, 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn non_resumable_faults_start_a_new_session_and_report_the_gap() {
    let env = env(SimConfig::fast()).await;
    let gw = env.start(env.config()).await;
    let mut gaps = env.subscribe("control.gateway.gap").await;
    let ch = env.channel(0);
    let faults = [
        Fault::InvalidSession {
            resumable: false,
            session_id: None,
        },
        Fault::Close {
            code: 4007,
            session_id: None,
        },
        Fault::Close {
            code: 4009,
            session_id: None,
        },
    ];
    for (i, fault) in faults.iter().enumerate() {
        env.say(ch, &format!("before {i}"));
        let current = gw.status().shards[0].session.clone().expect("session");
        let old = env
            .sim
            .counters()
            .session(&current)
            .expect("known to the fake")
            .clone();
        eventually("the message reached the gateway", || {
            gw.status().shards[0].seq >= old.last_seq
        })
        .await;
        env.sim.fault(fault).expect("fault");
        let Ok(Some(msg)) = tokio::time::timeout(WAIT, gaps.recv()).await else {
            panic!(
                "no gap after {fault:?}: {:?} {:?}",
                gw.status(),
                env.sim.counters().sessions
            );
        };
        let gap: serde_json::Value = serde_json::from_slice(&msg.payload).expect("json");
        assert_eq!(gap["old_session"], old.session_id, "{fault:?}: {gap}");
        assert_eq!(gap["last_seq"], old.last_seq, "{gap}");
        assert_eq!(gap["lost_from"], old.last_seq + 1, "{gap}");
        let sessions = env.sim.counters().sessions;
        assert_eq!(sessions.len(), i + 2, "a new session was identified");
        let new = gap["new_session"].as_str().expect("new session");
        assert_ne!(new, old.session_id);
        assert!(sessions.iter().any(|s| s.session_id == new && !s.ended));
        assert!(gap["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(gw.status().shards[0].gaps, 3);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_crashed_gateway_resumes_its_saved_session() {
    let env = env(SimConfig::fast()).await;
    // Listening before the gateway starts: the consumer sees the session from READY on.
    let mut sub = env.subscribe("inbound.discord.>").await;
    let gw = env.start(env.config()).await;
    let ch = env.channel(0);
    env.say(ch, "before the crash");
    let mut seen = BTreeSet::new();
    seqs_until(&mut sub, &mut seen, |s| {
        s.len() as u64 >= only_session(&env).last_seq
    })
    .await;
    let session = only_session(&env);
    // The saver wrote a sequence of this session; then a crash (no close, no final save).
    env.wait_saved(|s| s.session_id == session.session_id && s.seq > 0)
        .await;
    gw.abort().await;
    eventually("the fake saw the connection drop", || {
        !env.sim.counters().sessions[0].connected
    })
    .await;
    for i in 0..5 {
        env.say(ch, &format!("while down {i}"));
    }
    let gw = env.start(env.config()).await;
    for i in 0..5 {
        env.say(ch, &format!("after the restart {i}"));
    }
    let after = only_session(&env);
    assert_eq!(
        after.session_id, session.session_id,
        "the same session, resumed"
    );
    assert_eq!(after.resumes, 1);
    seqs_until(&mut sub, &mut seen, |s| s.len() as u64 >= after.last_seq).await;
    let want: BTreeSet<u64> = after.seqs().collect();
    assert_eq!(seen, want, "every sequence of the session, nothing else");
    assert_eq!(gw.status().shards[0].gaps, 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_closes_the_shard_and_resumes_after_it_drains() {
    let env = env(SimConfig::fast()).await;
    let (gate, broker) = env.gated(true);
    let mut config = env.config();
    config.queue_capacity = 4;
    config.full_bound = Duration::from_millis(200);
    let gw = switchyard_gateway::start(config, env.deps_with(broker))
        .await
        .expect("starts");
    assert!(gw.wait_ready(WAIT).await);
    let mut sub = env.subscribe("inbound.discord.>").await;
    let mut seen: BTreeSet<u64> = (1..=only_session(&env).last_seq).collect();
    gate.send_replace(false);
    let ch = env.channel(0);
    for i in 0..20 {
        env.say(ch, &format!("flood {i}"));
    }
    eventually("the shard paused", || {
        gw.status().shards[0].state == ShardPhase::Paused
    })
    .await;
    assert!(
        !env.sim.counters().sessions[0].connected,
        "closed while paused"
    );
    for i in 0..5 {
        env.say(ch, &format!("held by discord {i}"));
    }
    gate.send_replace(true);
    eventually("resumed", || env.sim.counters().sessions[0].resumes >= 1).await;
    let last = only_session(&env).last_seq;
    seqs_until(&mut sub, &mut seen, |s| s.len() as u64 >= last).await;
    assert_eq!(seen, (1..=last).collect::<BTreeSet<u64>>());
    gw.shutdown().await;
}

#[tokio::test]
async fn every_fatal_close_code_stops_the_shard_naming_the_cause() {
    let cases = [
        (4004, "token"),
        (4010, "gateway.shard_range"),
        (4011, "gateway.shards"),
        (4012, "v=10"),
        (4013, "gateway.intents"),
        (4014, "Privileged Gateway Intents"),
    ];
    for (code, hint) in cases {
        let env = env(SimConfig::fast()).await;
        let mut gw = env.start(env.config()).await;
        env.sim
            .fault(&Fault::Close {
                code,
                session_id: None,
            })
            .expect("fault");
        let errors = tokio::time::timeout(WAIT, gw.stopped())
            .await
            .expect("the shard stops");
        assert_eq!(errors.len(), 1, "{code}: {errors:?}");
        let error = errors[0].to_string();
        assert!(error.contains(&code.to_string()), "{error}");
        assert!(error.contains(hint), "{code}: {error}");
        let shard = gw.status().shards[0].clone();
        assert_eq!(
            (shard.state, shard.last_close),
            (ShardPhase::Fatal, Some(code))
        );
        assert_eq!(
            env.sim.counters().sessions.len(),
            1,
            "{code}: no new IDENTIFY after a fatal close"
        );
    }
}
