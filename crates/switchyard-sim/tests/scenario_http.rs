//! Scenarios as a test harness sends them: TOML or JSON over `POST /_sim/scenario`, and a
//! scenario played once the first client is ready.

mod common;

use common::{Client, TOKEN, fast_sim, first_text_channel};
use serde_json::Value;
use switchyard_sim::Scenario;

const INTENTS: u64 = 1 | (1 << 9) | (1 << 15);

#[tokio::test]
async fn the_control_api_accepts_toml_and_json_scenarios() {
    let sim = fast_sim().await;
    let (mut c, _) = Client::ready(&sim, TOKEN, INTENTS, None).await;
    let ch = first_text_channel(&sim, 0);
    let url = format!("{}/_sim/scenario", sim.http_url());
    let http = reqwest::Client::new();
    let toml = format!(
        "[[step]]\ninject = {{ type = \"message\", channel_id = \"{ch}\", content = \"from toml\" }}\n"
    );
    let r = http
        .post(&url)
        .header("Content-Type", "application/toml")
        .body(toml)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["steps"], 1);
    assert_eq!(
        c.dispatch("MESSAGE_CREATE").await["d"]["content"],
        "from toml"
    );

    let json = format!(
        r#"{{"steps":[{{"inject":{{"type":"message","channel_id":"{ch}","content":"from json"}}}}]}}"#
    );
    let r = http.post(&url).body(json).send().await.expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.dispatch("MESSAGE_CREATE").await["d"]["content"],
        "from json"
    );

    let r = http
        .post(&url)
        .header("Content-Type", "application/toml; charset=utf-8")
        .body("[[step]]\nbogus = 1\n")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let err = r.json::<Value>().await.expect("json")["error"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(err.contains("bogus"), "the error names the problem: {err}");
}

#[tokio::test]
async fn a_scenario_played_when_ready_follows_the_startup_burst() {
    let sim = fast_sim().await;
    let ch = first_text_channel(&sim, 0);
    let scenario = Scenario::parse(
        &format!(
            "[[step]]\nat_ms = 10\ninject = {{ type = \"message\", channel_id = \"{ch}\", content = \"after ready\" }}\n"
        ),
        "s.toml",
    )
    .expect("scenario");
    let play = sim.play_when_ready(scenario);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        !play.is_finished(),
        "nothing plays before a client is ready"
    );
    let mut c = Client::gateway(&sim, "v=10&encoding=json").await;
    c.hello().await;
    c.identify(TOKEN, INTENTS, None).await;
    let mut seen = Vec::new();
    loop {
        let p = c.payload().await;
        if p["op"] == 0 {
            seen.push(p["t"].as_str().unwrap_or("").to_owned());
            if p["t"] == "MESSAGE_CREATE" {
                assert_eq!(p["d"]["content"], "after ready");
                break;
            }
        }
    }
    let guilds = sim.world().guilds.len();
    assert_eq!(seen.len(), guilds + 2, "{seen:?}");
    assert_eq!(seen[0], "READY");
    assert!(
        seen[1..=guilds].iter().all(|t| t == "GUILD_CREATE"),
        "{seen:?}"
    );
    assert_eq!(play.await.expect("task").expect("played"), 1);
}
