//! The fake Discord and the real gateway in process, on a broker of the test's choice.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchyard_broker::Broker;
use switchyard_gateway::{FileSessionStore, GatewayConfig, GatewayDeps, RunningGateway, Secret};
use switchyard_rest::{RestClient, RestConfig};
use switchyard_sim::{Inject, Limit, Sim, SimConfig, SimHandle, Snowflake};

use super::WAIT;

pub struct GatewayEnv {
    pub sim: SimHandle,
    pub broker: Arc<dyn Broker>,
    pub gateway: Option<RunningGateway>,
    pub channel: u64,
    _dir: tempfile::TempDir,
}

impl GatewayEnv {
    pub async fn start(broker: Arc<dyn Broker>) -> GatewayEnv {
        Self::start_with(broker, false).await
    }

    /// With `skip_own_messages`, the gateway does not publish the bot's own messages.
    pub async fn start_with(broker: Arc<dyn Broker>, skip_own_messages: bool) -> GatewayEnv {
        let mut config = SimConfig::fast();
        // Enough guilds for keyed worker groups to split them between replicas.
        config.world.guilds = 16;
        // Discord's 5 messages per 5 s per channel would make these tests about the limiter.
        config.rate_limits.message_create = Limit {
            limit: 200,
            window_ms: 1000,
        };
        let sim = Sim::start(config).await.expect("sim starts");
        let rest = RestClient::new(RestConfig {
            upstream: sim.http_url().to_owned(),
            ..RestConfig::default()
        })
        .await
        .expect("rest client");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = GatewayConfig::new("testbot", Secret::new("bot-e2e-token"));
        config.identify_window = Duration::from_millis(50);
        config.skip_own_messages = skip_own_messages;
        let deps = GatewayDeps {
            broker: broker.clone(),
            rest,
            sessions: Arc::new(FileSessionStore::new(dir.path().join("sessions")).expect("store")),
            shared: None,
        };
        let gateway = switchyard_gateway::start(config, deps)
            .await
            .expect("gateway starts");
        assert!(gateway.wait_ready(WAIT).await, "shards ready");
        let channel = sim.world().guilds[0]
            .channels
            .iter()
            .find(|c| c.kind == 0)
            .expect("text channel")
            .id;
        GatewayEnv {
            sim,
            broker,
            gateway: Some(gateway),
            channel,
            _dir: dir,
        }
    }

    /// A user's message in the test channel; returns its id.
    pub fn say(&self, text: &str) -> u64 {
        let created = self
            .sim
            .inject(&Inject::Message {
                channel_id: Snowflake(self.channel),
                content: text.to_owned(),
                author_id: None,
            })
            .expect("inject");
        created["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("message id")
    }

    /// A user's message in the first text channel of guild number `guild` (of 16).
    pub fn say_in(&self, guild: usize, text: &str) {
        let world = self.sim.world();
        let channel = world.guilds[guild % world.guilds.len()]
            .channels
            .iter()
            .find(|c| c.kind == 0)
            .expect("text channel")
            .id;
        self.sim
            .inject(&Inject::Message {
                channel_id: Snowflake(channel),
                content: text.to_owned(),
                author_id: None,
            })
            .expect("inject");
    }

    /// REST calls recorded by the fake: `method` on paths containing `needle`.
    pub fn calls(&self, method: &str, needle: &str) -> Vec<(String, Value)> {
        self.sim
            .counters()
            .rest_calls
            .into_iter()
            .filter(|c| c.method == method && c.path.contains(needle))
            .map(|c| {
                (
                    c.path.clone(),
                    serde_json::from_str(&c.body).unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    /// The contents of messages the bot posted, in any channel.
    pub fn posted(&self) -> Vec<String> {
        self.calls("POST", "/channels/")
            .into_iter()
            .filter(|(p, _)| p.ends_with("/messages"))
            .filter_map(|(_, b)| b["content"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until a message with `content` was posted; returns its body.
    pub async fn wait_post(&self, content: &str) -> Value {
        self.wait_post_for(content, WAIT).await
    }

    pub async fn wait_post_for(&self, content: &str, wait: Duration) -> Value {
        let path = format!("/channels/{}/messages", self.channel);
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            if let Some((_, body)) = self
                .calls("POST", &path)
                .into_iter()
                .find(|(p, b)| p.ends_with(&path) && b["content"] == content)
            {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no message {content:?} posted; posted: {:?}", self.posted());
    }

    pub async fn shutdown(mut self) {
        if let Some(gw) = self.gateway.take() {
            gw.shutdown().await;
        }
    }
}
