//! Embedded broker benchmarks: pattern lookup as subscriptions grow, and fan-out throughput.
//!
//! `cargo bench -p switchyard-broker --bench broker`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard_broker::embedded::{EmbeddedBroker, EmbeddedConfig};
use switchyard_broker::{Broker, Pattern, Topic};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Publish to a topic that one of N guild-scoped subscriptions matches.
fn pattern_lookup(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("pattern_lookup");
    for n in [10u32, 1_000, 10_000] {
        let broker = EmbeddedBroker::new(EmbeddedConfig::default());
        let mut subs = Vec::new();
        for g in 0..n {
            let pattern = Pattern::new(&format!("inbound.discord.{g}.*.>")).expect("valid");
            subs.push(rt.block_on(broker.subscribe(&pattern)).expect("subscribe"));
        }
        // A wildcard-heavy mix on top, as real deployments have.
        let mut extra = Vec::new();
        for p in ["inbound.discord.>", "inbound.*.*.*.*", "outbound.discord.>"] {
            extra.push(
                rt.block_on(broker.subscribe(&Pattern::new(p).expect("valid")))
                    .expect("subscribe"),
            );
        }
        let topic = Topic::new(&format!("inbound.discord.{}.42.7", n / 2)).expect("valid");
        let payload = Bytes::from_static(&[b'x'; 256]);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let reached = broker
                    .try_publish(black_box(&topic), payload.clone())
                    .expect("publish");
                assert_eq!(reached, 3);
                for sub in subs
                    .iter_mut()
                    .skip((n / 2) as usize)
                    .take(1)
                    .chain(extra.iter_mut().take(2))
                {
                    black_box(sub.try_recv());
                }
            })
        });
    }
    group.finish();
}

/// One publisher to 1, 10 and 100 subscribers; each iteration publishes and every subscriber
/// takes its copy.
fn fan_out(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("fan_out");
    let topic = Topic::new("inbound.discord.1.2.3").expect("valid");
    let payload = Bytes::from(vec![b'x'; 1024]);
    for n in [1usize, 10, 100] {
        let broker = EmbeddedBroker::new(EmbeddedConfig::default());
        let mut subs: Vec<_> = (0..n)
            .map(|_| {
                rt.block_on(broker.subscribe(&Pattern::new("inbound.discord.>").expect("valid")))
                    .expect("subscribe")
            })
            .collect();
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("subscribers", n), &n, |b, _| {
            b.iter(|| {
                broker
                    .try_publish(&topic, payload.clone())
                    .expect("publish");
                for sub in &mut subs {
                    black_box(sub.try_recv().expect("delivered"));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pattern_lookup, fan_out);
criterion_main!(benches);
