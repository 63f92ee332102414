//! Helpers for the gateway's integration tests: a fake Discord, an embedded broker, a
//! started gateway, a consumer, a broker whose publishes can be held back, and the session
//! store the gateway saves to.
#![allow(dead_code, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::{
    Broker, BrokerError, Capabilities, Message, PartitionKey, Pattern, Subscription, Topic,
};
use switchyard_core::Envelope;
use switchyard_gateway::{
    FileSessionStore, GatewayConfig, GatewayDeps, RunningGateway, SavedSession, Secret,
    SessionStore,
};
use switchyard_rest::{RestClient, RestConfig};
use switchyard_sim::{Inject, Sim, SimConfig, SimHandle, Snowflake};

pub const TOKEN: &str = "gateway-test-token";
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Env {
    pub sim: SimHandle,
    pub broker: EmbeddedBroker,
    pub rest: RestClient,
    pub dir: tempfile::TempDir,
}

pub async fn env(config: SimConfig) -> Env {
    let sim = Sim::start(config).await.expect("sim starts");
    let rest = RestClient::new(RestConfig {
        upstream: sim.http_url().to_owned(),
        ..RestConfig::default()
    })
    .await
    .expect("rest client");
    Env {
        sim,
        broker: EmbeddedBroker::new(Default::default()),
        rest,
        dir: tempfile::tempdir().expect("tempdir"),
    }
}

impl Env {
    pub fn config(&self) -> GatewayConfig {
        let mut c = GatewayConfig::new("testbot", Secret::new(TOKEN));
        c.identify_window = Duration::from_millis(50);
        c.session_save_interval = Duration::from_millis(20);
        c
    }

    pub fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(FileSessionStore::new(self.dir.path().join("sessions")).expect("store"))
    }

    pub fn deps(&self) -> GatewayDeps {
        self.deps_with(Arc::new(self.broker.clone()))
    }

    pub fn deps_with(&self, broker: Arc<dyn Broker>) -> GatewayDeps {
        GatewayDeps {
            broker,
            rest: self.rest.clone(),
            sessions: self.store(),
            shared: None,
        }
    }

    pub async fn start(&self, config: GatewayConfig) -> RunningGateway {
        let gw = switchyard_gateway::start(config, self.deps())
            .await
            .expect("gateway starts");
        assert!(gw.wait_ready(WAIT).await, "shards ready: {:?}", gw.status());
        gw
    }

    /// The session the gateway saved for `shard` of `total` (bot `testbot`), if any.
    pub async fn saved(&self, shard: u32, total: u32) -> Option<SavedSession> {
        let key = switchyard_gateway::session_key("testbot", shard, total);
        self.store()
            .load(&key)
            .await
            .expect("session store readable")
    }

    /// Waits until the saved session of shard 0 (of 1) satisfies `done`; returns it.
    pub async fn wait_saved(&self, mut done: impl FnMut(&SavedSession) -> bool) -> SavedSession {
        for _ in 0..1000 {
            if let Some(s) = self.saved(0, 1).await
                && done(&s)
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no such saved session: {:?}", self.saved(0, 1).await);
    }

    /// An embedded broker's gate: publishes through the returned broker wait while the gate
    /// is closed (`false`). Keep the sender: dropping it opens the gate.
    pub fn gated(&self, open: bool) -> (tokio::sync::watch::Sender<bool>, Arc<Gated>) {
        let (gate, rx) = tokio::sync::watch::channel(open);
        let broker = Arc::new(Gated {
            inner: self.broker.clone(),
            open: rx,
            mode: GateMode::Wait,
        });
        (gate, broker)
    }

    /// Like [`Env::gated`], but with `mode` while the gate is closed.
    pub fn gated_with(
        &self,
        open: bool,
        mode: GateMode,
    ) -> (tokio::sync::watch::Sender<bool>, Arc<Gated>) {
        let (gate, rx) = tokio::sync::watch::channel(open);
        let broker = Arc::new(Gated {
            inner: self.broker.clone(),
            open: rx,
            mode,
        });
        (gate, broker)
    }

    pub async fn subscribe(&self, pattern: &str) -> Subscription {
        self.broker
            .subscribe(&Pattern::new(pattern).expect("pattern"))
            .await
            .expect("subscribe")
    }

    pub fn channel(&self, guild: usize) -> u64 {
        self.sim.world().guilds[guild]
            .channels
            .iter()
            .find(|c| c.kind == 0)
            .expect("text channel")
            .id
    }

    pub fn say(&self, channel: u64, text: &str) {
        self.sim
            .inject(&Inject::Message {
                channel_id: Snowflake(channel),
                content: text.to_owned(),
                author_id: None,
            })
            .expect("inject");
    }

    /// POST calls to /channels/{channel}/messages recorded by the fake.
    pub fn posted(&self, channel: u64) -> Vec<serde_json::Value> {
        let path = format!("/api/v10/channels/{channel}/messages");
        self.sim
            .counters()
            .rest_calls
            .into_iter()
            .filter(|c| c.method == "POST" && c.path == path)
            .filter_map(|c| serde_json::from_str(&c.body).ok())
            .collect()
    }

    pub async fn wait_posted(&self, channel: u64, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..500 {
            let p = self.posted(channel);
            if p.len() >= n {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{n} messages not posted to {channel}: {:?}",
            self.posted(channel)
        );
    }
}

pub async fn recv(sub: &mut Subscription) -> Message {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("message in time")
        .expect("subscription open")
}

/// Receives envelopes until one is a MESSAGE_CREATE with `content`; returns it as JSON.
pub async fn message_with(sub: &mut Subscription, content: &str) -> (Message, serde_json::Value) {
    loop {
        let msg = recv(sub).await;
        let env = Envelope::decode(&msg.payload).expect("envelope");
        if env.t == "MESSAGE_CREATE" {
            let d: serde_json::Value = env.data().expect("d");
            if d["content"] == content {
                return (msg.clone(), d);
            }
        }
    }
}

/// Collects the seqs of every envelope until `done` says so.
pub async fn seqs_until(
    sub: &mut Subscription,
    seen: &mut BTreeSet<u64>,
    mut done: impl FnMut(&BTreeSet<u64>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(seen) {
        let msg = tokio::time::timeout_at(deadline, sub.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out; seen {} seqs: {seen:?}", seen.len()))
            .expect("open");
        if let Ok(env) = Envelope::decode(&msg.payload)
            && let Some(seq) = env.seq
        {
            seen.insert(seq);
        }
    }
}

/// Collects how many times each seq arrived until `done` says so.
pub async fn seq_counts_until(
    sub: &mut Subscription,
    seen: &mut BTreeMap<u64, u32>,
    mut done: impl FnMut(&BTreeMap<u64, u32>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(seen) {
        let msg = tokio::time::timeout_at(deadline, sub.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out; seen {} seqs: {seen:?}", seen.len()))
            .expect("open");
        if let Ok(env) = Envelope::decode(&msg.payload)
            && let Some(seq) = env.seq
        {
            *seen.entry(seq).or_insert(0) += 1;
        }
    }
}

/// What a [`Gated`] broker does while its gate is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateMode {
    /// Publishes wait for the gate.
    Wait,
    /// Publishes fail (`Disconnected`, a transient error), as while a server is down.
    Fail,
    /// Publishes go through, but `flush` fails: what was published is not confirmed, as
    /// when a client buffers while its server is unreachable.
    Unconfirmed,
}

/// A broker whose publishes wait, or fail, while the gate is closed ([`GateMode`]).
pub struct Gated {
    inner: EmbeddedBroker,
    open: tokio::sync::watch::Receiver<bool>,
    mode: GateMode,
}

impl Gated {
    fn closed(&self) -> BrokerError {
        BrokerError::Disconnected {
            backend: "gated",
            detail: "the gate is closed".into(),
        }
    }
}

#[async_trait]
impl Broker for Gated {
    fn backend(&self) -> &'static str {
        "gated"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        let mut open = self.open.clone();
        match self.mode {
            GateMode::Fail if !*open.borrow() => return Err(self.closed()),
            GateMode::Unconfirmed => return self.inner.publish(topic, payload).await,
            _ => {}
        }
        let _ = open.wait_for(|o| *o).await;
        self.inner.publish(topic, payload).await
    }
    async fn flush(&self) -> Result<(), BrokerError> {
        if self.mode == GateMode::Unconfirmed && !*self.open.borrow() {
            return Err(self.closed());
        }
        Ok(())
    }
    async fn subscribe(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        self.inner.subscribe(pattern).await
    }
    async fn subscribe_group(&self, p: &Pattern, g: &str) -> Result<Subscription, BrokerError> {
        self.inner.subscribe_group(p, g).await
    }
    async fn subscribe_keyed(
        &self,
        p: &Pattern,
        g: &str,
        key: PartitionKey,
    ) -> Result<Subscription, BrokerError> {
        self.inner.subscribe_keyed(p, g, key).await
    }
}

pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

pub async fn eventually_async(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..1000 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
