//! Live migration with real processes: nodes of one bot's shard pool on a private Redis
//! (some cases on NATS as well: its pub/sub or JetStream, and its key-value store for the
//! pool), a fake Discord sending events all along, and a subscriber recording each (shard,
//! seq) with the epoch it came under.
//! - healthy shards moved back and forth with `switchyard shards move`: nothing lost,
//!   nothing delivered twice to a durable group, no IDENTIFY;
//! - `switchyard node drain` empties a node that stays up; `undrain` gives it shards again;
//! - a node that joins gets shards until the load is even;
//! - bad requests are refused with their reason;
//! - a node paused (SIGSTOP) past its lease, whose shards went elsewhere, publishes nothing
//!   more for them when it wakes, still connected;
//! - the target of a move, or the coordinator, killed mid-move: nothing lost;
//! - a rolling upgrade of three nodes (drain, stop, start, one after the other): no
//!   IDENTIFY, nothing lost, nothing twice;
//! - three nodes starting together against `max_concurrency` 1 identify one at a time.

mod migration;
mod pool_node;

use std::sync::atomic::Ordering;
use std::time::Duration;

use migration::{Cluster, On, SHARDS, cli};
use pool_node::until;
use switchyard_sim::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_shards_move_back_and_forth_with_nothing_lost_or_twice() {
    moves_back_and_forth(Cluster::new(true).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_healthy_shards_move_back_and_forth_with_nothing_lost_or_twice() {
    moves_back_and_forth(Cluster::on(On::JetStream, SimConfig::fast()).await).await;
}

/// Six moves, each of a shard of one node to the other, asked of the node that does not
/// coordinate, with events flowing all along.
async fn moves_back_and_forth(mut c: Cluster) {
    c.two_nodes().await;
    c.traffic();
    let ids = [c.node_id(0).await, c.node_id(1).await];
    let coordinator = c.coordinator().await;
    for round in 0..6 {
        let from = round % 2;
        let to = 1 - from;
        let Some(&shard) = c.nodes[from]
            .ready_shards()
            .await
            .and_then(|s| s.iter().next().copied())
            .as_ref()
        else {
            panic!("node {from} holds nothing")
        };
        // Ask the node that does not coordinate: it passes the request on.
        let asked = &c.nodes[1 - coordinator].admin;
        let (ok, out) = cli(
            asked,
            &["shards", "move", &shard.to_string(), "--to", &ids[to]],
        );
        assert!(ok, "move {shard} to {}: {out}", ids[to]);
        assert!(out.contains("is moving"), "{out}");
        until(
            "the shard running on its target",
            60,
            &c.refs(),
            async || {
                let there = c.nodes[to].ready_shards().await;
                let here = c.nodes[from].ready_shards().await;
                there.is_some_and(|s| s.contains(&shard))
                    && here.is_some_and(|s| !s.contains(&shard))
            },
        )
        .await;
    }
    c.nothing_lost_nothing_twice().await;
    let resumes: u64 = c.sim.counters().sessions.iter().map(|s| s.resumes).sum();
    assert!(resumes >= 6, "every move RESUMEd: {resumes}");
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_is_emptied_stays_up_and_takes_shards_again_when_undrained() {
    drain_and_undrain(Cluster::new(false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_a_drained_node_is_emptied_and_takes_shards_again_when_undrained() {
    drain_and_undrain(Cluster::on(On::Nats, SimConfig::fast()).await).await;
}

async fn drain_and_undrain(mut c: Cluster) {
    c.two_nodes().await;
    c.traffic();
    let b = c.node_id(1).await;
    let (ok, out) = cli(&c.nodes[0].admin, &["node", "drain", &b]);
    assert!(ok, "{out}");
    c.settled("b empty, a holding everything", |n| n == [4, 0])
        .await;
    assert!(
        c.nodes[1].alive(),
        "a drained node stays up:\n{}",
        c.nodes[1].output()
    );
    let status = c.nodes[1].status().await.expect("b still answers");
    assert_eq!(status["pool"]["draining"], true, "{status}");

    let (ok, out) = cli(&c.nodes[1].admin, &["node", "undrain", &b]);
    assert!(ok, "{out}");
    // even by guilds, which the fake does not spread evenly over shards
    c.settled("b running shards again", |n| n.iter().all(|x| *x > 0))
        .await;
    c.nothing_lost_nothing_twice().await;
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_gets_shards_until_the_load_is_even() {
    let mut c = Cluster::new(false).await;
    c.start_node("a");
    c.settled("a holding every shard", |n| n == [4]).await;
    c.traffic();
    c.start_node("b");
    // even by guilds, which the fake does not spread evenly over shards
    c.settled("b running shards too", |n| n.iter().all(|x| *x > 0))
        .await;
    c.nothing_lost_nothing_twice().await;
    let log = c.nodes[0].output();
    assert!(log.contains("moving a shard"), "{log}");
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_the_reason() {
    let mut c = Cluster::new(false).await;
    c.two_nodes().await;
    let (a, b) = (c.node_id(0).await, c.node_id(1).await);
    let admin = c.nodes[0].admin.clone();
    let held = c.nodes[0].ready_shards().await.expect("a's shards");
    let mine = held.iter().next().expect("a holds one").to_string();

    let refused = [
        (
            vec!["shards", "move", "0", "--to", "node-ghost"],
            "not a live node",
        ),
        (vec!["shards", "move", "99", "--to", &a], "does not exist"),
        (vec!["shards", "move", &mine, "--to", &a], "already runs"),
        (vec!["node", "drain", "node-ghost"], "not a live node"),
        (
            vec!["shards", "move", "0", "--to", &a, "--bot", "other"],
            "no shard pool of bot",
        ),
    ];
    for (args, reason) in refused {
        let (ok, out) = cli(&admin, &args);
        assert!(!ok, "{args:?} was accepted: {out}");
        assert!(out.contains(reason), "{args:?}: {out}");
    }
    let (ok, out) = cli(&admin, &["node", "drain", &b]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&admin, &["node", "drain", &a]);
    assert!(!ok && out.contains("only node left"), "{out}");
    let (ok, out) = cli(&admin, &["shards", "move", "0", "--to", &b]);
    assert!(!ok && out.contains("is drained"), "{out}");
    let port = switchyard_testkit::free_port();
    let (ok, out) = cli(&format!("127.0.0.1:{port}"), &["node", "undrain", &b]);
    assert!(!ok && out.contains("cannot reach"), "{out}");
    // every node still serves
    c.settled("b drained", |n| n == [4, 0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_paused_past_its_lease_publishes_nothing_more_for_shards_it_lost() {
    paused_past_its_lease(Cluster::new(false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_a_node_paused_past_its_lease_publishes_nothing_more_for_shards_it_lost() {
    paused_past_its_lease(Cluster::on(On::Nats, SimConfig::fast()).await).await;
}

/// SIGSTOP of the node that does not coordinate while events flow to its connection, until
/// the other resumed its shards; then SIGCONT.
async fn paused_past_its_lease(mut c: Cluster) {
    c.two_nodes().await;
    let coordinator = c.coordinator().await;
    let paused = 1 - coordinator;
    let lost = c.nodes[paused].ready_shards().await.expect("its shards");
    c.traffic();
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.nodes[paused].signal("STOP");
    // What it may have been handing to its broker client as it stopped (with a margin for
    // the signal's delivery) leaves when it wakes; nothing it reads after waking may.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let in_flight_below = c.injected.load(Ordering::Relaxed);
    // Events keep coming to the paused node's connection until the other one resumes its
    // shards; they wait in its socket.
    c.settled_without(paused, "the other node holding every shard")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.nodes[paused].signal("CONT");
    until(
        "the woken node dropping what it lost",
        60,
        &c.refs(),
        async || c.nodes[paused].output().contains("lost the shard"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.nothing_lost_none_stale(in_flight_below).await;
    assert!(!lost.is_empty());
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_whose_target_is_killed_mid_handover_loses_nothing() {
    let mut c = Cluster::new(true).await;
    c.start_node("a");
    c.start_node("b");
    c.start_node("c");
    c.settled("three nodes sharing the shards", |n| {
        n.iter().all(|x| *x > 0)
    })
    .await;
    c.traffic();
    let coordinator = c.coordinator().await;
    // move a shard of one non-coordinator to the other, and kill the target at once
    let (from, to) = match coordinator {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    let held = c.nodes[from].ready_shards().await.expect("shards");
    let shard = *held.iter().next().expect("one");
    let target = c.node_id(to).await;
    let (ok, out) = cli(
        &c.nodes[coordinator].admin,
        &["shards", "move", &shard.to_string(), "--to", &target],
    );
    assert!(ok, "{out}");
    c.nodes[to].signal("KILL");
    c.settled_without(to, "every shard running on the two nodes left")
        .await;
    c.nothing_lost_nothing_twice().await;
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_starting_together_identify_one_at_a_time() {
    identify_one_at_a_time(On::Redis { durable: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_three_processes_starting_together_identify_one_at_a_time() {
    identify_one_at_a_time(On::Nats).await;
}

/// Three nodes, started together against a fake with `max_concurrency` 1.
async fn identify_one_at_a_time(on: On) {
    let mut config = SimConfig::fast();
    config.max_concurrency = 1;
    config.timings.identify_window_ms = 300;
    let mut c = Cluster::on(on, config).await;
    for name in ["a", "b", "c"] {
        c.start_node_with(name, &[("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "300")]);
    }
    c.settled("three nodes sharing the shards", |n| {
        n.iter().filter(|x| **x > 0).count() >= 2
    })
    .await;
    let counters = c.sim.counters();
    assert_eq!(
        (counters.identifies, counters.identifies_too_fast),
        (u64::from(SHARDS), 0),
        "one IDENTIFY per shard, none within the window of another"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_of_three_nodes_identifies_nothing_and_loses_nothing() {
    let mut c = Cluster::new(true).await;
    for name in ["a", "b", "c"] {
        c.start_node(name);
    }
    c.settled("three nodes sharing the shards", |n| {
        n.iter().filter(|x| **x > 0).count() >= 2
    })
    .await;
    c.traffic();
    for i in 0..3 {
        // drain, stop, start the new version, as docs/pool.md says
        let id = c.node_id(i).await;
        // the last node started is up (the first round's is c)
        let asked = c.nodes.last().expect("nodes").admin.clone();
        let (ok, out) = cli(&asked, &["node", "drain", &id]);
        assert!(ok, "{out}");
        until("the node drained", 60, &c.refs(), async || {
            c.nodes[i]
                .ready_shards()
                .await
                .is_some_and(|s| s.is_empty())
        })
        .await;
        let status = c.nodes[i].terminate(Duration::from_secs(20)).await;
        assert!(status.success(), "{status}");
        c.start_node(&format!("new{i}"));
        let new = c.nodes.len() - 1;
        until("the new node running shards", 60, &c.refs(), async || {
            c.nodes[new]
                .ready_shards()
                .await
                .is_some_and(|s| !s.is_empty())
        })
        .await;
    }
    c.nothing_lost_nothing_twice().await;
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_mid_move_loses_nothing() {
    let mut c = Cluster::new(true).await;
    c.two_nodes().await;
    c.traffic();
    let coordinator = c.coordinator().await;
    let other = 1 - coordinator;
    let held = c.nodes[coordinator].ready_shards().await.expect("shards");
    let shard = held.iter().next().expect("one").to_string();
    let to = c.node_id(other).await;
    let (ok, out) = cli(
        &c.nodes[coordinator].admin,
        &["shards", "move", &shard, "--to", &to],
    );
    assert!(ok, "{out}");
    c.nodes[coordinator].signal("KILL");
    c.settled_without(coordinator, "every shard on the node left")
        .await;
    c.nothing_lost_nothing_twice().await;
    c.recorder.abort();
}
