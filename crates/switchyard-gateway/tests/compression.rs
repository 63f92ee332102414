//! Transport compression against the fake Discord: the default build asks for zstd-stream,
//! a build with `--no-default-features --features zlib` for zlib-stream, and events arrive
//! intact through either. CI runs this file in both builds (`.ci/run`).

mod common;

use common::{env, message_with};
use switchyard_sim::{SimConfig, TransportCounts};

/// The transport this build asks Discord for. twilight-gateway fixes it at build time, and
/// when both of its features are on it asks for zstd-stream; the `zlib` feature promises
/// zlib-stream, so a build with both fails here rather than quietly testing zstd twice.
fn expected(connections: u64) -> TransportCounts {
    if cfg!(feature = "zlib") {
        TransportCounts {
            zlib_stream: connections,
            ..TransportCounts::default()
        }
    } else if cfg!(feature = "zstd") {
        TransportCounts {
            zstd_stream: connections,
            ..TransportCounts::default()
        }
    } else {
        TransportCounts {
            none: connections,
            ..TransportCounts::default()
        }
    }
}

/// Up to Discord's 2000 characters of content that needs escaping and multi-byte UTF-8, so a
/// decompressed event spans several WebSocket frames' worth of compressed stream.
fn content(tag: &str) -> String {
    let unit = "naïve café — 🚂 \"quoted\" \\slash\\ \ttab\nline ";
    let mut s = format!("{tag}: ");
    while s.chars().count() + unit.chars().count() <= 2000 {
        s.push_str(unit);
    }
    s
}

#[tokio::test]
async fn the_built_transport_compression_carries_events_intact() {
    let env = env(SimConfig::fast()).await;
    let gw = env.start(env.config()).await;
    let mut inbound = env.subscribe("inbound.discord.>").await;
    let ch = env.channel(0);

    // several events on one connection: stream compression keeps one context for them all
    let sent = [
        content("first"),
        "short".to_owned(),
        content("second"),
        content("second"),
    ];
    for text in &sent {
        env.say(ch, text);
        let (_, d) = message_with(&mut inbound, text).await;
        assert_eq!(d["content"].as_str(), Some(text.as_str()));
        assert_eq!(d["channel_id"].as_str(), Some(ch.to_string().as_str()));
    }

    let counters = env.sim.counters();
    assert!(counters.connections >= 1, "{counters:?}");
    assert_eq!(
        counters.transports,
        expected(counters.connections),
        "transport compression of {} connection(s); features: zstd={}, zlib={} (twilight-gateway \
         asks for zstd-stream whenever its zstd feature is on: build zlib with \
         --no-default-features --features zlib)",
        counters.connections,
        cfg!(feature = "zstd"),
        cfg!(feature = "zlib"),
    );
    gw.shutdown().await;
}
