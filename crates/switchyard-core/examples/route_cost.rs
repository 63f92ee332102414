//! Runs one routing variant N times, for instruction counting under
//! `valgrind --tool=callgrind` (deterministic on a noisy machine, unlike wall time).
//!
//! ```text
//! cargo build --release -p switchyard-core --example route_cost
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.1000 target/release/examples/route_cost route 1000
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.3000 target/release/examples/route_cost route 3000
//! ```
//!
//! (variants: `route`, `envelope`, `twilight`; use your `CARGO_TARGET_DIR` in the path.)
//! Instructions per event = (total at 3000 − total at 1000) / 2000: the difference cancels
//! start-up, the frame's embedding and everything else that does not repeat per event.

use serde::de::DeserializeSeed;
use switchyard_core::envelope::{Source, encode_into};
use switchyard_core::parse_dispatch;
use switchyard_core::template::{TopicContext, TopicTemplate};

const FRAME: &str = include_str!("../benches/data/message_create.json");

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "route".to_owned());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let frame = FRAME.trim_end();
    let template = TopicTemplate::default();
    let source = Source {
        platform: "discord",
        bot: "bench",
        shard: 3,
        session: "5f2a1c",
        epoch: None,
    };
    let mut topic = String::new();
    let mut out = Vec::with_capacity(4096);
    let mut sink = 0u64;
    for _ in 0..n {
        match variant.as_str() {
            "route" => {
                let d = parse_dispatch(std::hint::black_box(frame)).expect("routable");
                sink += d.ids.guild.unwrap_or(0);
            }
            "envelope" => {
                let d = parse_dispatch(std::hint::black_box(frame)).expect("routable");
                let ctx = TopicContext {
                    bot: "bench",
                    event: &d.event,
                    shard: 3,
                    ids: d.ids,
                };
                template.render_into(&ctx, &mut topic);
                out.clear();
                encode_into(&mut out, &source, &d, 1_700_000_000_000, None);
                sink += out.len() as u64 + topic.len() as u64;
            }
            "twilight" => {
                let seed =
                    twilight_model::gateway::event::GatewayEventDeserializer::from_json(frame)
                        .expect("recognised");
                let mut de = serde_json::Deserializer::from_str(std::hint::black_box(frame));
                let event = seed.deserialize(&mut de).expect("parses");
                sink += std::mem::size_of_val(&event) as u64;
            }
            other => panic!("unknown variant {other}"),
        }
    }
    println!("{variant}: {n} iterations, checksum {sink}");
}
