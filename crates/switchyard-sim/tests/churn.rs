//! The churn through a running fake: `POST /_sim/churn` dispatches its events to the
//! connected sessions by the usual rules, `GET /_sim/state` shows the state it leaves, and a
//! session identified afterwards gets GUILD_CREATEs that show that state.

mod common;

use std::collections::BTreeSet;

use common::{Client, TOKEN, fast_sim};
use serde_json::{Value, json};
use switchyard_sim::{ChurnSpec, User};

/// Every intent the fake knows up to GUILD_SCHEDULED_EVENTS (privileged ones included).
const ALL: u64 = (1 << 17) - 1;

async fn post(sim: &switchyard_sim::SimHandle, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/{path}", sim.http_url()))
        .json(&body)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.json().await.expect("json"))
}

#[tokio::test]
async fn a_churn_reaches_the_sessions_and_later_guild_creates_show_its_state() {
    let sim = fast_sim().await;
    let (mut first, ready) = Client::ready(&sim, TOKEN, ALL, None).await;
    let guilds = ready["guilds"].as_array().map_or(0, Vec::len);
    for _ in 0..guilds {
        first.dispatch("GUILD_CREATE").await;
    }

    let (status, report) = post(
        &sim,
        "churn",
        json!({"seed": 5, "steps": 400, "settle": true}),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let events = report["events"].as_u64().expect("events");
    assert!(events >= 300, "{report}");
    assert_eq!(
        report["deliveries"], events,
        "one session with every intent gets every event"
    );
    let mut names = BTreeSet::new();
    for _ in 0..events {
        let p = first.payload().await;
        assert_eq!(p["op"], 0, "{p}");
        names.insert(p["t"].as_str().unwrap_or_default().to_owned());
    }
    assert!(names.len() >= 20, "a varied stream: {names:?}");

    let (status, refused) = post(&sim, "churn", json!({"seed": 6, "steps": 1})).await;
    assert_eq!(status, 400, "another seed without a reset: {refused}");
    let more = sim
        .churn(&ChurnSpec {
            seed: 5,
            steps: 10,
            settle: false,
        })
        .expect("the same seed goes on");
    assert_eq!(more.steps, 410);

    let state: Value = reqwest::get(format!("{}/_sim/state", sim.http_url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(state["guilds"].as_array().map(Vec::len), Some(guilds));

    // a new session's GUILD_CREATEs show the churned state, for its own bot
    let (mut second, ready) = Client::ready(&sim, "another-token", ALL, None).await;
    let bot = User {
        id: ready["user"]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id"),
        username: ready["user"]["username"].as_str().expect("name").to_owned(),
        global_name: None,
        avatar: None,
        bot: true,
    };
    for _ in 0..guilds {
        let got = second.dispatch("GUILD_CREATE").await["d"].clone();
        let id: u64 = got["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
        let want = sim
            .churn_state(|s| s.guild_create(id, &bot, 50, true))
            .flatten()
            .expect("the guild in the state");
        assert_eq!(got, want, "guild {id}");
    }

    let (status, _) = post(&sim, "reset", json!({})).await;
    assert_eq!(status, 200);
    assert!(
        sim.churn_state(|_| ()).is_none(),
        "a reset forgets the churn"
    );
}

#[tokio::test]
async fn the_same_seed_leaves_the_same_state() {
    let (a, b) = (fast_sim().await, fast_sim().await);
    for sim in [&a, &b] {
        let spec = ChurnSpec {
            seed: 9,
            steps: 1_000,
            settle: false,
        };
        sim.churn(&spec).expect("churn");
    }
    let state = |sim: &switchyard_sim::SimHandle| sim.churn_state(Clone::clone).expect("state");
    assert!(state(&a) == state(&b), "same world, same seed, same state");
}
