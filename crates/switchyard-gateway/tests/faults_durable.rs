//! Faults on a durable broker (Redis Streams, on a private redis-server): after resumable
//! faults and after a crash and a restart that RESUMEs, a durable consumer has seen every
//! sequence number the fake assigned to the session, each exactly once (the gateway publishes
//! with the envelope's deterministic id, so the broker drops the events Discord replays);
//! after a non-resumable one, a new session is identified and the gap is reported.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{WAIT, env, eventually};
use switchyard_broker::{Broker, BrokerOptions, Pattern};
use switchyard_sim::{Fault, SimConfig};
use switchyard_testkit::RedisServer;

/// How many times the consumer received each sequence number.
type Seen = Arc<Mutex<BTreeMap<u64, u32>>>;

async fn durable_consumer(broker: &Arc<dyn Broker>) -> (Seen, tokio::task::JoinHandle<()>) {
    let mut sub = broker
        .subscribe_durable(&Pattern::new("inbound.>").expect("pattern"), "faults")
        .await
        .expect("durable subscription");
    let seen = Seen::default();
    let task = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(d) = sub.recv().await {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&d.message.payload)
                    && let Some(seq) = v["seq"].as_u64()
                {
                    *seen.lock().expect("lock").entry(seq).or_insert(0) += 1;
                }
                d.ack().await.expect("ack");
            }
        })
    };
    (seen, task)
}

/// Waits until every sequence up to the session's last has arrived, then checks each arrived
/// exactly once.
async fn exactly_the_fakes_sequences(env: &common::Env, seen: &Seen, after: &str) {
    let last = env.sim.counters().sessions[0].last_seq;
    eventually("every sequence number", || {
        let seen = seen.lock().expect("lock");
        (1..=last).all(|n| seen.contains_key(&n))
    })
    .await;
    // Past the moment duplicates would have arrived.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let seen = seen.lock().expect("lock").clone();
    let dups: Vec<(u64, u32)> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, n)| (*s, *n))
        .collect();
    assert!(
        dups.is_empty(),
        "after {after}: delivered more than once: {dups:?}"
    );
    let max = seen.keys().max().copied().unwrap_or(0);
    assert_eq!(
        max, last,
        "after {after}: nothing beyond the fake's sequences"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_faults_and_a_crash_lose_nothing_and_duplicate_nothing() {
    let redis = RedisServer::start();
    let url = format!(
        "{}?durable=streams&prefixes=inbound,control&ack_wait_ms=2000",
        redis.url()
    );
    let broker = switchyard_broker::connect(&url, &BrokerOptions::default())
        .await
        .expect("redis streams");
    assert!(broker.capabilities().deduplication);
    let env = env(SimConfig::fast()).await;
    // The consumer's group starts before the gateway: it gets every event from READY on.
    let (seen, consumer) = durable_consumer(&broker).await;
    let mut config = env.config();
    config.outbound.enabled = false;
    // Saved once a second: a crash loses the last handed-over sequences, so Discord replays
    // events the consumer already has.
    config.session_save_interval = Duration::from_secs(1);
    let gw = switchyard_gateway::start(config.clone(), env.deps_with(broker.clone()))
        .await
        .expect("gateway");
    assert!(gw.wait_ready(WAIT).await);
    let ch = env.channel(0);

    let faults = [
        Fault::Reconnect { session_id: None },
        Fault::InvalidSession {
            resumable: true,
            session_id: None,
        },
        Fault::Close {
            code: 4000,
            session_id: None,
        },
        Fault::Drop { session_id: None },
    ];
    for (i, fault) in faults.iter().enumerate() {
        env.say(ch, &format!("before {i}"));
        env.sim.fault(fault).expect("fault");
        for j in 0..5 {
            env.say(ch, &format!("during {i}.{j}"));
        }
        eventually("the session resumed", || {
            let s = env.sim.counters().sessions[0].clone();
            s.connected && s.resumes > i as u64
        })
        .await;
        exactly_the_fakes_sequences(&env, &seen, &format!("{fault:?}")).await;
    }

    // A crash: the sequences after the last save are replayed on RESUME, with the same ids.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for i in 0..5 {
        env.say(ch, &format!("after the last save {i}"));
    }
    exactly_the_fakes_sequences(&env, &seen, "events after the last save").await;
    gw.abort().await;
    eventually("the fake saw the connection drop", || {
        !env.sim.counters().sessions[0].connected
    })
    .await;
    for i in 0..5 {
        env.say(ch, &format!("while down {i}"));
    }
    let gw = switchyard_gateway::start(config, env.deps_with(broker.clone()))
        .await
        .expect("gateway restarts");
    assert!(gw.wait_ready(WAIT).await);
    let sessions = env.sim.counters().sessions;
    assert_eq!(sessions.len(), 1, "the same session, resumed: {sessions:?}");
    exactly_the_fakes_sequences(&env, &seen, "a crash and a restart").await;

    // A non-resumable fault: a new session, and the gap reported on the durable broker too.
    let mut gaps = broker
        .subscribe_durable(
            &Pattern::new("control.gateway.gap").expect("pattern"),
            "gaps",
        )
        .await
        .expect("gap subscription");
    env.sim
        .fault(&Fault::InvalidSession {
            resumable: false,
            session_id: None,
        })
        .expect("fault");
    let gap = tokio::time::timeout(WAIT, gaps.recv())
        .await
        .expect("a gap report in time")
        .expect("open");
    let report: serde_json::Value = serde_json::from_slice(&gap.message.payload).expect("json");
    assert_eq!(report["old_session"], sessions[0].session_id, "{report}");
    gap.ack().await.expect("ack");
    eventually("a new session", || env.sim.counters().sessions.len() == 2).await;
    gw.shutdown().await;
    consumer.abort();
}
