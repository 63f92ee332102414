//! Routing-id extraction plus envelope building for a real-sized MESSAGE_CREATE, side by side
//! with a full serde_json parse into twilight-model's event type, in one run.
//!
//! `cargo bench -p switchyard-core --bench routing`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::de::DeserializeSeed;
use std::hint::black_box;
use switchyard_core::envelope::{Source, encode_into};
use switchyard_core::parse_dispatch;
use switchyard_core::template::{TopicContext, TopicTemplate};
use twilight_model::gateway::event::GatewayEventDeserializer;

const FRAME: &str = include_str!("data/message_create.json");

fn twilight_parse(frame: &str) -> twilight_model::gateway::event::GatewayEvent {
    let seed = GatewayEventDeserializer::from_json(frame).expect("twilight recognises the frame");
    let mut de = serde_json::Deserializer::from_str(frame);
    seed.deserialize(&mut de)
        .expect("twilight parses the frame")
}

fn bench(c: &mut Criterion) {
    let frame = FRAME.trim_end();
    // Both sides must succeed on the same input, or the comparison means nothing.
    let _ = twilight_parse(frame);
    let routed = parse_dispatch(frame).expect("routable");
    assert_eq!(routed.ids.guild, Some(81384788765712384));
    assert_eq!(routed.ids.user, Some(155149108183695360));

    let template = TopicTemplate::default();
    let source = Source {
        platform: "discord",
        bot: "bench",
        shard: 3,
        session: "5f2a1c",
        epoch: None,
    };
    let mut group = c.benchmark_group("message_create_2KiB");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("switchyard_route_and_envelope", |b| {
        let mut topic = String::with_capacity(64);
        let mut out = Vec::with_capacity(2048);
        b.iter(|| {
            let dispatch = parse_dispatch(black_box(frame)).expect("routable");
            let ctx = TopicContext {
                bot: "bench",
                event: &dispatch.event,
                shard: 3,
                ids: dispatch.ids,
            };
            template.render_into(&ctx, &mut topic);
            out.clear();
            encode_into(&mut out, &source, &dispatch, 1_700_000_000_000, None);
            black_box((&topic, &out));
        })
    });
    group.bench_function("switchyard_route_only", |b| {
        b.iter(|| black_box(parse_dispatch(black_box(frame)).expect("routable").ids))
    });
    group.bench_function("twilight_model_full_parse", |b| {
        b.iter(|| black_box(twilight_parse(black_box(frame))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
