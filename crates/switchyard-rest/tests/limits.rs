//! The limits a user configures or relies on, each against the fake Discord enforcing them:
//! reaction routes sharing one bucket per channel, the per-IP limit of tokenless requests,
//! per-bot overrides of the global limit, and idle limiters being evicted. Where a test shows
//! that a limit prevents 429s, it also shows the 429s that come without it.

mod common;

use std::time::Duration;

use common::{Node, channels, config, sim_with, small_limits, upstream_429s};
use futures_util::future::join_all;
use serde_json::Value;
use switchyard_rest::Rate;
use switchyard_sim::Limit;

/// Tokens whose first segment decodes to bot ids 111… and 222… (as Discord's do).
const BOT_111: &str = "MTExMTExMTExMTExMTExMTEx.x.y";
const BOT_222: &str = "MjIyMjIyMjIyMjIyMjIyMjIy.x.y";

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// `n` concurrent requests; returns their statuses.
async fn burst(n: usize, make: impl Fn(usize) -> reqwest::RequestBuilder) -> Vec<u16> {
    join_all((0..n).map(|i| {
        let req = make(i);
        async move { req.send().await.expect("request").status().as_u16() }
    }))
    .await
}

#[tokio::test]
async fn reactions_on_different_messages_share_the_channel_bucket() {
    let sim = sim_with(small_limits()).await;
    let node = Node::start(config(sim.http_url(), None)).await;
    let ch = channels(&sim, 1)[0];
    let mut messages = Vec::new();
    for i in 0..8 {
        let res = http()
            .post(format!("{}/channels/{ch}/messages", node.api()))
            .header("Authorization", format!("Bot {BOT_111}"))
            .header("Content-Type", "application/json")
            .body(format!(r#"{{"content":"m{i}"}}"#))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 200);
        let msg: Value = res.json().await.expect("json");
        messages.push(msg["id"].as_str().expect("id").to_owned());
    }
    let before = upstream_429s(&sim);
    // The fake allows one reaction per 50 ms per channel, whatever the message.
    let statuses = burst(messages.len(), |i| {
        http()
            .put(format!(
                "{}/channels/{ch}/messages/{}/reactions/%F0%9F%91%8D/@me",
                node.api(),
                messages[i]
            ))
            .header("Authorization", format!("Bot {BOT_111}"))
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    assert_eq!(upstream_429s(&sim) - before, 0, "no 429 from the fake");

    // The same burst straight to the fake: the channel's bucket refuses most of it.
    let direct = burst(messages.len(), |i| {
        http()
            .put(format!(
                "{}/api/v10/channels/{ch}/messages/{}/reactions/%F0%9F%91%8E/@me",
                sim.http_url(),
                messages[i]
            ))
            .header("Authorization", format!("Bot {BOT_111}"))
    })
    .await;
    assert!(
        direct.contains(&429),
        "the control run shows what the bucket prevents: {direct:?}"
    );
}

#[tokio::test]
async fn requests_without_a_token_share_the_per_ip_limit() {
    let mut limits = small_limits();
    limits.default_route = Limit {
        limit: 1000,
        window_ms: 250,
    };
    limits.global_per_ip = Limit {
        limit: 20,
        window_ms: 500,
    };
    let sim = sim_with(limits).await;
    let gateway = |node: &Node| {
        let url = format!("{}/gateway", node.api());
        move |_| http().get(&url)
    };

    // The proxy's per-IP limit matches the fake's: no 429.
    let mut cfg = config(sim.http_url(), None);
    cfg.global_per_ip = Rate {
        limit: 20,
        window: Duration::from_millis(500),
    };
    let node = Node::start(cfg).await;
    let statuses = burst(50, gateway(&node)).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        upstream_429s(&sim),
        0,
        "tokenless requests stayed within the IP's limit"
    );
    drop(node);

    // A proxy that allows the IP more than Discord does earns 429s (then retries them).
    let mut cfg = config(sim.http_url(), None);
    cfg.global_per_ip = Rate {
        limit: 200,
        window: Duration::from_millis(500),
    };
    let loose = Node::start(cfg).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    burst(50, gateway(&loose)).await;
    assert!(
        upstream_429s(&sim) > 0,
        "the control run shows what the limit prevents"
    );
}

#[tokio::test]
async fn a_per_bot_override_sets_that_bots_global_limit() {
    let mut limits = small_limits();
    limits.default_route = Limit {
        limit: 1000,
        window_ms: 250,
    };
    limits.global_per_token = Limit {
        limit: 20,
        window_ms: 500,
    };
    let sim = sim_with(limits).await;
    let chans: Vec<u64> = sim
        .world()
        .guilds
        .iter()
        .flat_map(|g| g.channels.iter().map(|c| c.id))
        .collect();
    // The default (50 per 500 ms) is too much for this fake; bot 111 has its real limit.
    let mut cfg = config(sim.http_url(), None);
    cfg.global_per_bot.insert(
        "111111111111111111".into(),
        Rate {
            limit: 20,
            window: Duration::from_millis(500),
        },
    );
    let node = Node::start(cfg).await;
    // Different channels: only the global limit binds.
    let load = |token: &'static str| {
        let (api, chans) = (node.api(), chans.clone());
        move |i: usize| {
            http()
                .get(format!("{api}/channels/{}", chans[i % chans.len()]))
                .header("Authorization", format!("Bot {token}"))
        }
    };
    let statuses = burst(60, load(BOT_111)).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(upstream_429s(&sim), 0, "bot 111 kept to its override");

    burst(60, load(BOT_222)).await;
    assert!(
        upstream_429s(&sim) > 0,
        "bot 222, on the default, went over the fake's limit"
    );
}

#[tokio::test]
async fn idle_limiters_are_evicted() {
    let sim = sim_with(small_limits()).await;
    let mut cfg = config(sim.http_url(), None);
    // Long enough that the three requests below come well within it on a loaded machine
    // (at 200 ms the first token's limiter was sometimes gone before the third request).
    cfg.idle_evict = Duration::from_secs(3);
    let node = Node::start(cfg).await;
    let ch = channels(&sim, 1)[0];
    for token in [BOT_111, BOT_222, "third-token"] {
        let res = http()
            .get(format!("{}/channels/{ch}", node.api()))
            .header("Authorization", format!("Bot {token}"))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        node.client.limiter().stats().limiters,
        3,
        "one limiter per token"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while node.client.limiter().stats().limiters > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "idle limiters were never evicted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A token seen again gets a fresh limiter and is served.
    let res = http()
        .get(format!("{}/channels/{ch}", node.api()))
        .header("Authorization", format!("Bot {BOT_111}"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    assert_eq!(node.client.limiter().stats().limiters, 1);
}
