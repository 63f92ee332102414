//! Restarting a bot never disconnects the gateway, and loses nothing on a durable broker.
//! The echo example runs as a real process (killed with SIGKILL, as a crash), the gateway and
//! the fake Discord in process, on a private redis-server (Streams) or nats-server
//! (JetStream).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::WAIT;
use support::gateway::GatewayEnv;
use support::process::{Proc, echo_bot};
use switchyard_broker::BrokerOptions;
use switchyard_testkit::{NatsServer, RedisServer};

/// The gateway on `url`; with `skip_own`, the bot's own answers are not published back, so
/// that a group's deliveries are only the users' messages.
async fn gateway_on(url: &str, skip_own: bool) -> GatewayEnv {
    let broker = switchyard_broker::connect(url, &BrokerOptions::default())
        .await
        .expect("durable broker");
    assert!(broker.capabilities().durable, "{url} is durable");
    GatewayEnv::start_with(broker, skip_own).await
}

/// How many times each `ok, you said: …` answer was posted.
fn answers(env: &GatewayEnv) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for c in env.posted() {
        if let Some(said) = c.strip_prefix("ok, you said: ") {
            *counts.entry(said.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// How many events an echo process handled (it logs each).
fn handled(p: &Proc) -> usize {
    p.output()
        .lines()
        .filter(|l| l.contains(" echo ") && l.contains("text="))
        .count()
}

/// The guilds (`g{n}` tags of the texts) a replica answered.
fn guilds(p: &Proc) -> std::collections::BTreeSet<String> {
    p.output()
        .lines()
        .filter(|l| l.contains(" echo "))
        .filter_map(|l| l.split("text=").nth(1))
        .filter_map(|t| t.split_whitespace().next())
        .map(|g| g.trim_matches('"').to_owned())
        .collect()
}

async fn exactly_once(env: &GatewayEnv, sent: &[String], bots: &[&Proc]) {
    for s in sent {
        let want = format!("ok, you said: {s}");
        if env.posted().contains(&want) {
            continue;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while !env.posted().contains(&want) {
            if tokio::time::Instant::now() > deadline {
                let logs: Vec<String> = bots
                    .iter()
                    .map(|b| format!("--- {}:\n{}", b.name, b.output()))
                    .collect();
                panic!(
                    "{want:?} not posted; posted {:?}\n{}",
                    env.posted(),
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Past the ack timeout: a delivery left unacknowledged would be redelivered by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counts = answers(env);
    for s in sent {
        assert_eq!(counts.get(s), Some(&1), "{s:?} answered once: {counts:?}");
    }
}

async fn killed_bot_catches_up_on_restart(url: &str) {
    let env = gateway_on(url, false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = echo_bot("echo-1", url, Some("echo"), dir.path());
    bot.wait_for("bot serving", WAIT);
    env.say(",echo warmup");
    env.wait_post("ok, you said: warmup").await;
    // The bot acknowledges a delivery after its answer is published, so the answer can reach
    // Discord before the ack reaches the broker; a bot killed in between answers again after
    // its restart (at-least-once). Let the ack land: this test is about what is sent while
    // the bot is down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    bot.kill();
    let mut sent = vec!["warmup".to_owned()];
    for i in 0..10 {
        let text = format!("sent while down {i}");
        env.say(&format!(",echo {text}"));
        sent.push(text);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        answers(&env).len(),
        1,
        "nobody answers while the bot is down"
    );

    let mut restarted = echo_bot("echo-1b", url, Some("echo"), dir.path());
    restarted.wait_for("bot serving", WAIT);
    env.say(",echo after restart");
    sent.push("after restart".to_owned());
    exactly_once(&env, &sent, &[&restarted]).await;
    assert_eq!(handled(&restarted), 11, "{}", restarted.output());
    // The gateway kept its one Discord session: no new IDENTIFY, no RESUME.
    let sessions = env.sim.counters().sessions;
    assert_eq!(sessions.len(), 1, "one session throughout");
    assert_eq!(sessions[0].resumes, 0);
    drop(restarted);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_a_killed_bot_answers_what_it_missed_once() {
    let redis = RedisServer::start();
    let url = format!("{}?durable=streams&ack_wait_ms=1000", redis.url());
    killed_bot_catches_up_on_restart(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_a_killed_bot_answers_what_it_missed_once() {
    let nats = NatsServer::start();
    let url = format!("{}?durable=jetstream&ack_wait_ms=1000", nats.url());
    killed_bot_catches_up_on_restart(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_work_and_one_takes_over_when_the_other_dies() {
    let redis = RedisServer::start();
    let url = format!("{}?durable=streams&ack_wait_ms=1000", redis.url());
    let env = gateway_on(&url, true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = echo_bot("echo-a", &url, Some("echo"), dir.path());
    let mut b = echo_bot("echo-b", &url, Some("echo"), dir.path());
    a.wait_for("bot serving", WAIT);
    b.wait_for("bot serving", WAIT);

    // Users talk in 16 guilds; the group is keyed by guild.
    let mut sent = Vec::new();
    for i in 0..32 {
        let text = format!("g{} shared {i}", i % 16);
        env.say_in(i % 16, &format!(",echo {text}"));
        sent.push(text);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    exactly_once(&env, &sent, &[&a, &b]).await;
    let (by_a, by_b) = (handled(&a), handled(&b));
    assert_eq!(by_a + by_b, 32, "each event handled by one replica");
    assert!(
        by_a > 0 && by_b > 0,
        "both replicas worked: a {by_a}, b {by_b}"
    );
    let (guilds_a, guilds_b) = (guilds(&a), guilds(&b));
    assert!(
        guilds_a.is_disjoint(&guilds_b),
        "each guild stays with one replica: a {guilds_a:?}, b {guilds_b:?}"
    );

    // SIGKILL: no goodbye; b takes a's guilds once a's heartbeats stop, and what a had
    // not acknowledged comes back after the ack timeout.
    a.kill();
    for i in 0..16 {
        let text = format!("g{i} after a died");
        env.say_in(i, &format!(",echo {text}"));
        sent.push(text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exactly_once(&env, &sent, &[&b]).await;
    assert_eq!(
        handled(&b),
        by_b + 16,
        "b answered the rest: {}",
        b.output()
    );
    drop(b);
    env.shutdown().await;
}
