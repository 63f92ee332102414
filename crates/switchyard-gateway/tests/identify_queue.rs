//! The identify queue against the fake Discord, which answers INVALID_SESSION to an IDENTIFY
//! of a `max_concurrency` bucket that identified within the window, and revokes the token
//! when the session start limit is exceeded: the gateway does neither.

mod common;

use std::time::Duration;

use common::{env, eventually};
use switchyard_sim::SimConfig;

#[tokio::test]
async fn shards_identify_one_per_bucket_per_window() {
    let mut sim = SimConfig {
        shards: 4,
        max_concurrency: 2,
        ..SimConfig::fast()
    };
    sim.timings.identify_window_ms = 300;
    let env = env(sim).await;
    let mut config = env.config();
    // The gateway spaces each bucket's IDENTIFYs by its window when it grants a turn, the
    // fake measures them when they arrive: on a loaded machine a first IDENTIFY delayed
    // more than the second made two turns 300 ms apart arrive closer. A window 150 ms
    // wider than the fake's leaves room for that and still refuses a queue that does not
    // pace at all (its IDENTIFYs would arrive milliseconds apart).
    config.identify_window = Duration::from_millis(450);
    let gw = env.start(config).await;
    let counters = env.sim.counters();
    assert_eq!(
        (counters.identifies, counters.identifies_too_fast),
        (4, 0),
        "four sessions, no IDENTIFY refused for its bucket"
    );
    assert_eq!(gw.status().ready, 4);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_exhausted_session_start_limit_holds_shards_and_says_when_it_resets() {
    let env = env(SimConfig {
        shards: 2,
        session_start_total: 1,
        session_start_reset_ms: 600_000,
        ..SimConfig::fast()
    })
    .await;
    let gw = switchyard_gateway::start(env.config(), env.deps())
        .await
        .expect("starts");
    eventually("one shard ready and the limit reported", || {
        let s = gw.status();
        s.ready == 1 && s.identify_limit_resets_in_s.is_some()
    })
    .await;
    let status = gw.status();
    let resets = status.identify_limit_resets_in_s.expect("reported");
    assert!(
        (500..=600).contains(&resets),
        "resets in about 600 s: {resets}"
    );
    assert_eq!(status.identifies_remaining, 0);
    // Held, not sent: Discord would have revoked the token and closed the ready shard.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counters = env.sim.counters();
    assert_eq!(counters.identifies, 1);
    assert!(
        counters.sessions.iter().all(|s| s.connected),
        "{:?}",
        counters.sessions
    );
    assert!(!gw.wait_ready(Duration::from_millis(10)).await);
    gw.shutdown().await;
}
