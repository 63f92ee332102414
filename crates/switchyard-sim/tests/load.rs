//! Load mode, scenarios and the bound on memory, as a client and the counters see them.

mod common;

use std::collections::HashSet;

use common::{Client, TOKEN, first_text_channel, sim};
use serde_json::{Value, json};
use switchyard_sim::{Fault, Inject, LoadSpec, Scenario, SimConfig, Snowflake};

#[tokio::test]
async fn load_mode_delivers_the_mix_to_the_right_shards_in_sequence() {
    let mut cfg = SimConfig::fast();
    cfg.world.guilds = 8;
    let sim = sim(cfg).await;
    let all = (1 << 17) - 1;
    let (mut a, ra) = Client::ready(&sim, TOKEN, all, Some([0, 2])).await;
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let (mut b, rb) = Client::ready(&sim, TOKEN, all, Some([1, 2])).await;
    let shard_of = |ready: &Value| -> HashSet<String> {
        ready["guilds"]
            .as_array()
            .expect("guilds")
            .iter()
            .map(|g| g["id"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let (ga, gb) = (shard_of(&ra), shard_of(&rb));
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{}/_sim/load", sim.http_url()))
        .body(json!({"rate": 5000, "total": 300}).to_string())
        .send()
        .await
        .expect("load")
        .json()
        .await
        .expect("json");
    assert!(
        r["mean_frame_size"].as_f64().is_some_and(|m| m >= 700.0),
        "{r}"
    );
    // every event goes to exactly one of the two shards: wait until all 300 are assigned
    let guilds = sim.world().guilds.len() as u64;
    for _ in 0..500 {
        if sim
            .counters()
            .sessions
            .iter()
            .map(|s| s.last_seq)
            .sum::<u64>()
            == 2 + guilds + 300
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let counters = sim.counters();
    assert_eq!(
        counters.sessions.iter().map(|s| s.last_seq).sum::<u64>(),
        2 + guilds + 300
    );
    let mut kinds = HashSet::new();
    let mut received = 0;
    for (client, guilds, ready) in [(&mut a, &ga, &ra), (&mut b, &gb, &rb)] {
        let sid = ready["session_id"].as_str().expect("sid");
        let final_seq = counters.session(sid).expect("session").last_seq;
        let mut last = 1; // READY was read by Client::ready
        while last < final_seq {
            let p = client.payload().await;
            let s = p["s"].as_u64().expect("dispatch");
            assert_eq!(s, last + 1, "sequence numbers without gaps");
            last = s;
            if p["t"] == "READY" || p["t"] == "GUILD_CREATE" {
                continue;
            }
            let g = p["d"]["guild_id"].as_str().expect("guild event");
            assert!(guilds.contains(g), "event for guild {g} on the wrong shard");
            kinds.insert(p["t"].as_str().unwrap_or("").to_owned());
            received += 1;
        }
    }
    assert_eq!(received, 300, "every produced event reached its shard once");
    http.post(format!("{}/_sim/load/stop", sim.http_url()))
        .send()
        .await
        .expect("stop");
    assert!(kinds.len() >= 4, "a realistic mix: {kinds:?}");
    assert!(kinds.contains("MESSAGE_CREATE"));
}

#[tokio::test]
async fn replay_buffer_bounds_memory_while_disconnected() {
    let mut cfg = SimConfig::fast();
    cfg.replay_buffer = 64;
    let sim = sim(cfg).await;
    let (mut c, ready) = Client::ready(&sim, TOKEN, (1 << 17) - 1, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    sim.fault(&Fault::Drop {
        session_id: Some(sid.clone()),
    })
    .expect("drop");
    c.close_code().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let load = sim.start_load(LoadSpec {
        rate: 100_000,
        total: 1_000,
        ..LoadSpec::default()
    });
    while !load.is_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let counters = sim.counters();
    let s = counters.session(&sid).expect("session");
    assert_eq!(s.buffered_while_disconnected, 1_000);
    assert_eq!(
        s.buffered, 64,
        "the buffer holds at most replay_buffer dispatches"
    );
    // too much was missed: resuming is refused
    let mut r = Client::gateway(&sim, "v=10").await;
    r.hello().await;
    r.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": sid, "seq": 2}}))
        .await;
    assert_eq!(r.payload().await["op"], 9);
}

#[tokio::test]
async fn scenarios_script_events_and_faults() {
    let sim = sim(SimConfig::fast()).await;
    let ch = first_text_channel(&sim, 0);
    let text = format!(
        r#"
        [[step]]
        wait_for_sessions = 1
        [[step]]
        at_ms = 20
        inject = {{ type = "message", channel_id = "{ch}", content = "scripted" }}
        [[step]]
        at_ms = 40
        fault = {{ type = "close", code = 4000 }}
        "#
    );
    let scenario = Scenario::parse(&text, "s.toml").expect("scenario");
    let (mut c, _) = Client::ready(&sim, TOKEN, 1 | (1 << 9) | (1 << 15), None).await;
    let ran = sim.run_scenario(&scenario).await.expect("runs");
    assert_eq!(ran, 3);
    assert_eq!(
        c.dispatch("MESSAGE_CREATE").await["d"]["content"],
        "scripted"
    );
    assert_eq!(c.close_code().await, 4000);
    let bad = Scenario {
        steps: vec![switchyard_sim::ScenarioStep {
            at_ms: 0,
            wait_for_sessions: None,
            inject: Some(Inject::Message {
                channel_id: Snowflake(1),
                content: "x".into(),
                author_id: None,
            }),
            fault: None,
        }],
    };
    assert!(
        sim.run_scenario(&bad).await.is_err(),
        "an unknown channel fails the run"
    );
}

#[tokio::test]
async fn as_fast_as_clients_read_is_not_held_back_by_a_disconnected_session() {
    let sim = sim(SimConfig::fast()).await;
    let all = (1 << 17) - 1;
    let (mut live, _) = Client::ready(&sim, TOKEN, all, None).await;
    let (mut gone, ready) = Client::ready(&sim, "another-bot", all, None).await;
    let sid = ready["session_id"].as_str().expect("sid").to_owned();
    sim.fault(&Fault::Drop {
        session_id: Some(sid.clone()),
    })
    .expect("drop");
    gone.close_code().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    const TOTAL: usize = 5_000;
    // the live client reads everything load mode sends it
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < TOTAL {
            let p = live.payload().await;
            if p["op"] == 0 && p["t"] != "READY" && p["t"] != "GUILD_CREATE" {
                got += 1;
            }
        }
        got
    });
    let load = sim.start_load(LoadSpec {
        rate: 0,
        total: TOTAL as u64,
        ..LoadSpec::default()
    });
    // the disconnected session never drains, yet the generator finishes promptly
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !load.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("load mode finished in time");
    assert_eq!(load.produced(), TOTAL as u64);
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
        .await
        .expect("the live client got every event in time")
        .expect("reader");
    assert_eq!(got, TOTAL);
    let counters = sim.counters();
    let s = counters.session(&sid).expect("session");
    assert!(!s.connected && !s.ended, "still resumable");
    assert_eq!(s.buffered_while_disconnected, TOTAL as u64);
}

#[tokio::test]
async fn a_low_rate_is_not_rounded_up() {
    let sim = sim(SimConfig::fast()).await;
    let (mut c, _) = Client::ready(&sim, TOKEN, (1 << 17) - 1, None).await;
    let started = std::time::Instant::now();
    let load = sim.start_load(LoadSpec {
        rate: 20,
        total: 10,
        ..LoadSpec::default()
    });
    let mut got = 0;
    while got < 10 {
        let p = c.payload().await;
        if p["op"] == 0 && p["t"] != "READY" && p["t"] != "GUILD_CREATE" {
            got += 1;
        }
    }
    // 10 events at 20/s take about half a second (not 10 ms ticks of one event each)
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(400),
        "10 events at 20/s arrived in {took:?}"
    );
    assert_eq!(load.stop().await, 10);
}
