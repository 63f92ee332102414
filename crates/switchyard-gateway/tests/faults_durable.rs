//! Faults on a durable broker (Redis Streams, on a private redis-server): after resumable
//! faults (ACK loss included) and after a crash and a restart that RESUMEs, a durable consumer
//! has seen every sequence number the fake assigned to the session, each exactly once (the
//! gateway publishes with the envelope's deterministic id, so the broker drops the events
//! Discord replays); after a non-resumable one (INVALID_SESSION(false), 4007, 4009), a new
//! session is identified, the gap is reported on `control.gateway.gap`, and both sessions'
//! events arrived exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{WAIT, env, eventually};
use switchyard_broker::{Broker, BrokerOptions, Pattern};
use switchyard_core::envelope::{Source, event_id};
use switchyard_sim::{Fault, SimConfig};
use switchyard_testkit::RedisServer;

/// How many times the consumer received each event, by envelope id (one per session and
/// sequence number).
type Seen = Arc<Mutex<BTreeMap<String, u32>>>;

/// The envelope id of `seq` in `session` of shard 0.
fn id_of(session: &str, seq: u64) -> String {
    let source = Source {
        platform: "discord",
        bot: "testbot",
        shard: 0,
        session,
        epoch: None,
    };
    String::from_utf8_lossy(&event_id(&source, seq)).into_owned()
}

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
                    && let Some(id) = v["id"].as_str()
                {
                    *seen.lock().expect("lock").entry(id.to_owned()).or_insert(0) += 1;
                }
                d.ack().await.expect("ack");
            }
        })
    };
    (seen, task)
}

/// Waits until every sequence the fake assigned to `session` so far has arrived, then checks
/// that nothing arrived twice, and that nothing arrived that the fake did not send (in any of
/// its sessions).
async fn exactly_the_fakes_sequences(env: &common::Env, seen: &Seen, session: &str, after: &str) {
    let last = env
        .sim
        .counters()
        .session(session)
        .expect("a session of the fake")
        .last_seq;
    let want: Vec<String> = (1..=last).map(|seq| id_of(session, seq)).collect();
    eventually("every sequence number", || {
        let seen = seen.lock().expect("lock");
        want.iter().all(|id| seen.contains_key(id))
    })
    .await;
    // Past the moment duplicates would have arrived.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let seen = seen.lock().expect("lock").clone();
    let dups: Vec<(u64, u32)> = (1..=last)
        .filter_map(|seq| match seen.get(&id_of(session, seq)) {
            Some(&n) if n > 1 => Some((seq, n)),
            _ => None,
        })
        .collect();
    assert!(
        dups.is_empty(),
        "after {after}: delivered more than once (seq, times): {dups:?}"
    );
    assert!(seen.values().all(|n| *n == 1), "after {after}: {seen:?}");
    let assigned: BTreeSet<String> = env
        .sim
        .counters()
        .sessions
        .iter()
        .flat_map(|s| s.seqs().map(|seq| id_of(&s.session_id, seq)))
        .collect();
    let foreign = seen.keys().filter(|id| !assigned.contains(*id)).count();
    assert_eq!(
        foreign, 0,
        "after {after}: nothing beyond the fake's sequences"
    );
}

/// The current session of shard 0, as the gateway sees it.
fn current_session(gw: &switchyard_gateway::RunningGateway) -> String {
    gw.status().shards[0].session.clone().expect("a session")
}

/// A durable broker on a private redis-server, a fake Discord, a durable consumer listening
/// from the start, and a gateway started on them.
struct Durable {
    _redis: RedisServer,
    broker: Arc<dyn Broker>,
    env: common::Env,
    seen: Seen,
    consumer: tokio::task::JoinHandle<()>,
    config: switchyard_gateway::GatewayConfig,
    gw: switchyard_gateway::RunningGateway,
}

async fn durable() -> Durable {
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
    config.outbound = false;
    // Saved once a second: a crash loses the last handed-over sequences, so Discord replays
    // events the consumer already has.
    config.session_save_interval = Duration::from_secs(1);
    let gw = switchyard_gateway::start(config.clone(), env.deps_with(broker.clone()))
        .await
        .expect("gateway");
    assert!(gw.wait_ready(WAIT).await);
    Durable {
        _redis: redis,
        broker,
        env,
        seen,
        consumer,
        config,
        gw,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_faults_and_a_crash_lose_nothing_and_duplicate_nothing() {
    let Durable {
        _redis,
        broker,
        env,
        seen,
        consumer,
        config,
        gw,
    } = durable().await;
    let ch = env.channel(0);
    let first = current_session(&gw);
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
        Fault::StopAck {
            stop: true,
            session_id: None,
        },
    ];
    for (i, fault) in faults.iter().enumerate() {
        env.say(ch, &format!("before {i}"));
        env.sim.fault(fault).expect("fault");
        for j in 0..5 {
            env.say(ch, &format!("during {i}.{j}"));
        }
        if matches!(fault, Fault::StopAck { .. }) {
            // The gateway notices the missing ACK (a zombied connection) and reconnects;
            // then ACKs come again, on the new connection too.
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
        exactly_the_fakes_sequences(&env, &seen, &first, &format!("{fault:?}")).await;
    }
    assert_eq!(env.sim.counters().sessions.len(), 1, "every fault resumed");

    // A crash: the sequences after the last save are replayed on RESUME, with the same ids.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for i in 0..5 {
        env.say(ch, &format!("after the last save {i}"));
    }
    exactly_the_fakes_sequences(&env, &seen, &first, "events after the last save").await;
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
    exactly_the_fakes_sequences(&env, &seen, &first, "a crash and a restart").await;
    gw.shutdown().await;
    consumer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_resumable_faults_report_the_gap_and_duplicate_nothing() {
    let Durable {
        _redis,
        broker,
        env,
        seen,
        consumer,
        gw,
        ..
    } = durable().await;
    let ch = env.channel(0);
    let mut gaps = broker
        .subscribe_durable(
            &Pattern::new("control.gateway.gap").expect("pattern"),
            "gaps",
        )
        .await
        .expect("gap subscription");
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
        let old = current_session(&gw);
        env.say(ch, &format!("before {fault:?}"));
        let old_last = env.sim.counters().session(&old).expect("known").last_seq;
        eventually("the gateway received it", || {
            gw.status().shards[0].seq >= old_last
        })
        .await;
        env.sim.fault(fault).expect("fault");
        let gap = tokio::time::timeout(WAIT, gaps.recv())
            .await
            .unwrap_or_else(|_| panic!("no gap report after {fault:?}"))
            .expect("open");
        let report: serde_json::Value = serde_json::from_slice(&gap.message.payload).expect("json");
        gap.ack().await.expect("ack");
        assert_eq!(report["old_session"], old, "{fault:?}: {report}");
        assert_eq!(report["last_seq"], old_last, "{report}");
        assert_eq!(report["lost_from"], old_last + 1, "{report}");
        let cause = match fault {
            Fault::Close { code, .. } => code.to_string(),
            _ => "INVALID_SESSION".to_owned(),
        };
        assert!(
            report["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&cause)),
            "the reason names the cause: {report}"
        );
        let new = report["new_session"]
            .as_str()
            .expect("new session")
            .to_owned();
        assert_ne!(new, old);
        let sessions = env.sim.counters().sessions;
        assert_eq!(sessions.len(), i + 2, "a new session was identified");
        assert!(sessions.iter().any(|s| s.session_id == old && s.ended));
        eventually("the new session is connected", || {
            env.sim
                .counters()
                .session(&new)
                .is_some_and(|s| s.connected && !s.ended)
        })
        .await;
        env.say(ch, &format!("after {fault:?}"));
        let what = format!("{fault:?}");
        exactly_the_fakes_sequences(&env, &seen, &old, &format!("{what}, old session")).await;
        exactly_the_fakes_sequences(&env, &seen, &new, &format!("{what}, new session")).await;
    }
    assert_eq!(gw.status().shards[0].gaps, 3);
    gw.shutdown().await;
    consumer.abort();
}
