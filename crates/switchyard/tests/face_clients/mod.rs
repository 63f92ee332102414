//! Shared by the face's client tests: the fake Discord in this process (it accepts only the
//! bot's real token), and a `switchyard run` process with the cache and the face on, whose
//! clients identify with a face token of their own.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use switchyard_face::FaceTokens;
use switchyard_sim::{RestCall, Sim, SimConfig, SimHandle};
use switchyard_testkit::free_port;

use crate::cache_common::Run;

/// The bot's Discord token, which only the fake and `switchyard run` see (user id below).
pub const REAL: &str = "MTM3MDAwMDAwMDAwMDAwMDc3.GpOoLx.faceClientsRealToken_0001";
pub const BOT: u64 = 137_000_000_000_000_077;
/// The upstream shard count: the clients' virtual shard counts differ from it.
pub const UPSTREAM_SHARDS: u32 = 2;

/// The fake Discord, `switchyard run` in front of it with the face, and the face's token.
pub struct Face {
    pub sim: SimHandle,
    pub run: Run,
    /// `127.0.0.1:port` of the face's WebSocket and REST API.
    pub addr: String,
    pub token: String,
    _dir: tempfile::TempDir,
}

impl Face {
    /// Starts both, with `guilds` guilds in the fake's world, and waits until the face can
    /// serve every guild from the cache.
    pub async fn start(guilds: usize) -> Face {
        let mut config = SimConfig::fast();
        // upstream heartbeats a loaded machine keeps up with: the shards stay on their
        // first sessions
        config.timings.heartbeat_interval_ms = 5_000;
        config.timings.heartbeat_timeout_ms = 15_000;
        config.shards = UPSTREAM_SHARDS;
        config.token = Some(REAL.to_owned());
        config.world.guilds = guilds;
        let sim = Sim::start(config).await.expect("the fake Discord starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = format!("127.0.0.1:{}", free_port());
        let token = FaceTokens::mint(BOT, "faceClientsTokenOfTheTests");
        let settings = [
            ("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }"),
            (
                "SWITCHYARD_GATEWAY_INTENTS",
                r#"["NON_PRIVILEGED","GUILD_MEMBERS","MESSAGE_CONTENT"]"#,
            ),
            ("SWITCHYARD_FACE_ENABLED", "true"),
            ("SWITCHYARD_FACE_BIND", addr.as_str()),
            ("SWITCHYARD_FACE_TOKENS", token.as_str()),
            ("SWITCHYARD_FACE_HEARTBEAT_INTERVAL_MS", "5000"),
        ];
        let run = Run::start(&sim, dir.path(), "face", REAL, &settings);
        let face = Face {
            sim,
            run,
            addr,
            token,
            _dir: dir,
        };
        face.wait_ready().await;
        face
    }

    async fn wait_ready(&self) {
        let every: Vec<u64> = self.sim.world().guilds.iter().map(|g| g.id).collect();
        let http = reqwest::Client::new();
        let bot_url = format!("http://{}/api/v10/gateway/bot", self.addr);
        self.until("the face serving every guild of both shards", async || {
            if !self.run.active(UPSTREAM_SHARDS as usize).await {
                return false;
            }
            for guild in &every {
                let path = format!("/v1/cache/switchyard/guilds/{guild}");
                if self.run.get_json(&path).await.0 != 200 {
                    return false;
                }
            }
            let answer = http
                .get(&bot_url)
                .header("Authorization", format!("Bot {}", self.token))
                .send()
                .await;
            answer.is_ok_and(|r| r.status().is_success())
        })
        .await;
    }

    /// Waits (60 s at most) until `check` holds, or fails with the process's log.
    pub async fn until(&self, what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "{what} did not happen in 60 s\n{}",
                self.run.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first text channel of guild `i` of the fake's world.
    pub fn text_channel(&self, i: usize) -> u64 {
        self.sim.world().guilds[i]
            .channels
            .iter()
            .find(|c| c.kind == 0)
            .expect("a text channel")
            .id
    }

    /// The REST calls the fake answered: `POST` to the channel's messages.
    pub fn posts(&self, channel: u64) -> Vec<RestCall> {
        let path = format!("/api/v10/channels/{channel}/messages");
        self.sim
            .counters()
            .rest_calls
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .collect()
    }

    /// A face metric's value (summed over the series whose labels include `labels`).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.run.metric(name, labels).await.unwrap_or(0.0)
    }
}
