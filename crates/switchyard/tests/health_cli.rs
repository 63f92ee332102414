//! `/health` and `/ready` of `switchyard run` as a load balancer sees them: `/ready` answers
//! 503 naming the shards that are not ready yet, 200 once every shard is, 503 naming the broker
//! while a (private) Redis is down and 200 again once it is back; `/health` answers 200
//! throughout. Neither needs the admin token.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_sim::{Sim, SimConfig, SimHandle};
use switchyard_testkit::{RedisServer, free_port};

/// A slow identify window, so that the shards of the test take seconds to become ready.
const IDENTIFY_WINDOW_MS: u64 = 2_000;

/// A `switchyard run` process, killed when dropped; its output goes to a file.
struct Run {
    child: Child,
    admin: String,
    log: std::path::PathBuf,
}

impl Run {
    fn start(sim: &SimHandle, redis: &RedisServer, dir: &Path) -> Run {
        let admin = format!("127.0.0.1:{}", free_port());
        let log = dir.join("run.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("run")
            .env_remove("SWITCHYARD_CONFIG")
            .env("RUST_LOG", "info")
            .env("DISCORD_TOKEN", "health-cli-test-token")
            .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
            .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.join("sessions"))
            .env(
                "SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS",
                (IDENTIFY_WINDOW_MS + 100).to_string(),
            )
            .env("SWITCHYARD_BROKER_URL", redis.url())
            .env("SWITCHYARD_ADMIN_BIND", &admin)
            // a token on the admin listener: /health and /ready must not need it
            .env("SWITCHYARD_ADMIN_TOKEN", "health-cli-admin-secret")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("switchyard run starts");
        Run { child, admin, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The status code and JSON body of `path`, once the listener answers.
    async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let response = reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .ok()?;
        let code = response.status().as_u16();
        let body = response.text().await.ok()?;
        Some((code, serde_json::from_str(&body).ok()?))
    }

    /// Polls `/ready` until `check` holds on its answer, or fails with the process's output.
    async fn ready_until(&self, what: &str, check: impl Fn(u16, &Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((code, doc)) = self.get("/ready").await
                && check(code, &doc)
            {
                return doc;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not happen\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kinds(doc: &Value) -> Vec<&str> {
    doc["reasons"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["kind"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_shards_and_the_broker() {
    let mut redis = RedisServer::start();
    let mut config = SimConfig::fast();
    config.shards = 3;
    config.world.guilds = 6;
    config.timings.identify_window_ms = IDENTIFY_WINDOW_MS;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = Run::start(&sim, &redis, dir.path());

    // The first answer: the shards identify one per window, so not all are ready yet.
    let first = run
        .ready_until("the admin listener answering", |_, _| true)
        .await;
    assert_eq!(first["ready"], false, "{first}\n{}", run.output());
    assert!(kinds(&first).contains(&"shard"), "{first}");
    let (code, health) = run.get("/health").await.expect("health answers");
    assert_eq!((code, health["status"].as_str()), (200, Some("ok")));

    let ready = run
        .ready_until("/ready answering 200", |code, _| code == 200)
        .await;
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["reasons"], Value::Array(Vec::new()));

    redis.stop();
    let down = run
        .ready_until(
            "/ready naming the broker while Redis is down",
            |code, doc| code == 503 && kinds(doc) == ["broker"],
        )
        .await;
    assert_eq!(down["reasons"][0]["backend"], "redis", "{down}");
    let (code, _) = run.get("/health").await.expect("health answers");
    assert_eq!(code, 200, "the process is alive while the broker is down");

    redis.restart();
    run.ready_until("/ready answering 200 once Redis is back", |code, _| {
        code == 200
    })
    .await;
}
