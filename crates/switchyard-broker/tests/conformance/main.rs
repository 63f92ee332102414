//! The broker conformance suite: one set of cases ([`cases`]) run unchanged against every
//! backend, each test with its own private server and topic prefix.
//!
//! A case a backend cannot do is listed in its `skip` list with the reason, and shows up as
//! `ignored, <reason>` in the test output. Running the ignored tests (`--include-ignored`)
//! checks that the backend really answers `Unsupported` for them, so a skip can never hide a
//! failure. A case that answers `Unsupported` without being listed fails.

mod cases;
mod harness;

use harness::{Fixture, Kind, Outcome};

/// Every case, so that each backend must list each one as run or skipped.
const ALL_CASES: &[&str] = &[
    "exact_patterns",
    "order_per_topic",
    "flush",
    "fan_out",
    "queue_groups",
    "unsubscribe",
    "large_and_binary",
    "restart_recovery",
    "durable_consumer_crash",
    "durable_broker_restart",
    "durable_dead_letter",
    "durable_groups_listed",
    "durable_window",
    "deduplication",
    "batch_deduplication",
    "keyed_groups",
    "keyed_handover",
    "durable_keyed_handover",
];

macro_rules! backend {
    ($module:ident, $kind:expr,
     run [$($case:ident),* $(,)?],
     skip [$($skipped:ident = $reason:literal),* $(,)?]) => {
        mod $module {
            use super::*;

            /// The cases this backend lists.
            pub const LISTED: &[&str] = &[$(stringify!($case),)* $(stringify!($skipped),)*];

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let mut fixture = Fixture::start($kind, stringify!($case));
                    if let Outcome::Unsupported(why) = cases::$case(&mut fixture).await {
                        panic!(
                            "{} answered Unsupported ({why}) but does not list {} as skipped",
                            stringify!($module),
                            stringify!($case)
                        );
                    }
                }
            )*

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = $reason]
                async fn $skipped() {
                    let mut fixture = Fixture::start($kind, stringify!($skipped));
                    match cases::$skipped(&mut fixture).await {
                        Outcome::Unsupported(why) => eprintln!(
                            "SKIPPED {}::{}: {} (the backend says: {why})",
                            stringify!($module),
                            stringify!($skipped),
                            $reason
                        ),
                        Outcome::Passed => panic!(
                            "{}::{} is listed as skipped but passed: move it to `run`",
                            stringify!($module),
                            stringify!($skipped)
                        ),
                    }
                }
            )*
        }
    };
}

backend!(embedded, Kind::Embedded,
run [exact_patterns, order_per_topic, flush, fan_out, queue_groups, unsubscribe, large_and_binary,
     keyed_groups, keyed_handover],
skip [
    restart_recovery = "embedded: in-process, there is no server to restart",
    durable_consumer_crash = "embedded: no durable mode (in-process, nothing outlives the process)",
    durable_broker_restart = "embedded: no durable mode",
    durable_dead_letter = "embedded: no durable mode",
    durable_groups_listed = "embedded: no durable mode",
    durable_window = "embedded: no durable mode",
    deduplication = "embedded: no deduplication (no durable mode)",
    batch_deduplication = "embedded: no deduplication (no durable mode)",
    durable_keyed_handover = "embedded: no durable mode",
]);

backend!(redis, Kind::Redis,
run [exact_patterns, order_per_topic, flush, fan_out, unsubscribe, large_and_binary, restart_recovery,
     keyed_groups, keyed_handover],
skip [
    queue_groups = "redis pub/sub has no queue groups (use durable=streams)",
    durable_consumer_crash = "redis pub/sub is at-most-once (use durable=streams)",
    durable_broker_restart = "redis pub/sub is at-most-once (use durable=streams)",
    durable_dead_letter = "redis pub/sub has no acknowledgements (use durable=streams)",
    durable_groups_listed = "redis pub/sub keeps no groups (use durable=streams)",
    durable_window = "redis pub/sub has no acknowledgements (use durable=streams)",
    deduplication = "redis pub/sub has no deduplication (use durable=streams)",
    batch_deduplication = "redis pub/sub has no deduplication (use durable=streams)",
    durable_keyed_handover = "redis pub/sub is at-most-once (use durable=streams)",
]);

backend!(redis_streams, Kind::RedisStreams,
run [exact_patterns, order_per_topic, flush, fan_out, queue_groups, unsubscribe, large_and_binary,
     restart_recovery, durable_consumer_crash, durable_broker_restart, durable_dead_letter,
     durable_groups_listed, durable_window, deduplication, batch_deduplication, keyed_groups, keyed_handover,
     durable_keyed_handover],
skip []);

backend!(nats, Kind::Nats,
run [exact_patterns, order_per_topic, flush, fan_out, queue_groups, unsubscribe, large_and_binary,
     restart_recovery, keyed_groups, keyed_handover],
skip [
    durable_consumer_crash = "core NATS is at-most-once (use durable=jetstream)",
    durable_broker_restart = "core NATS is at-most-once (use durable=jetstream)",
    durable_dead_letter = "core NATS has no acknowledgements (use durable=jetstream)",
    durable_groups_listed = "core NATS keeps no groups (use durable=jetstream)",
    durable_window = "core NATS has no acknowledgements (use durable=jetstream)",
    deduplication = "core NATS has no deduplication (use durable=jetstream)",
    batch_deduplication = "core NATS has no deduplication (use durable=jetstream)",
    durable_keyed_handover = "core NATS is at-most-once (use durable=jetstream)",
]);

backend!(nats_jetstream, Kind::NatsJetStream,
run [exact_patterns, order_per_topic, flush, fan_out, queue_groups, unsubscribe, large_and_binary,
     restart_recovery, durable_consumer_crash, durable_broker_restart, durable_dead_letter,
     durable_groups_listed, durable_window, deduplication, batch_deduplication, keyed_groups, keyed_handover,
     durable_keyed_handover],
skip []);

backend!(nats_cluster, Kind::NatsCluster,
run [exact_patterns, order_per_topic, flush, fan_out, queue_groups, unsubscribe, large_and_binary,
     restart_recovery, durable_consumer_crash, durable_broker_restart, durable_dead_letter,
     durable_groups_listed, durable_window, deduplication, batch_deduplication, keyed_groups, keyed_handover,
     durable_keyed_handover],
skip []);

backend!(zmq, Kind::Zmq,
run [exact_patterns, order_per_topic, flush, fan_out, unsubscribe, large_and_binary,
     restart_recovery, keyed_groups, keyed_handover],
skip [
    queue_groups = "zmq: a PUB socket sends every message to every subscriber; no queue groups",
    durable_consumer_crash = "zmq: no durable delivery (ZeroMQ keeps nothing for an absent consumer)",
    durable_broker_restart = "zmq: no durable delivery",
    durable_dead_letter = "zmq: no acknowledgements",
    durable_groups_listed = "zmq: no durable delivery",
    durable_window = "zmq: no acknowledgements",
    deduplication = "zmq: no deduplication (no durable mode)",
    batch_deduplication = "zmq: no deduplication (no durable mode)",
    durable_keyed_handover = "zmq: no durable delivery",
]);

#[test]
fn every_backend_lists_every_case() {
    for (backend, listed) in [
        ("embedded", embedded::LISTED),
        ("redis", redis::LISTED),
        ("redis_streams", redis_streams::LISTED),
        ("nats", nats::LISTED),
        ("nats_jetstream", nats_jetstream::LISTED),
        ("nats_cluster", nats_cluster::LISTED),
        ("zmq", zmq::LISTED),
    ] {
        let mut listed = listed.to_vec();
        listed.sort_unstable();
        let mut all = ALL_CASES.to_vec();
        all.sort_unstable();
        assert_eq!(
            listed, all,
            "{backend} must list every case as run or skipped"
        );
    }
}
