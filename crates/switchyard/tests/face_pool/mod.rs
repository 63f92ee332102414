//! The stack of the standalone face tests: a private Redis (Redis Streams, so that the
//! events a gateway publishes again after a crash are dropped as duplicates), the fake
//! Discord in this process, the bot's two shards in one `switchyard run` or in a pool of two,
//! their cache on, and `switchyard face --cache <their admin listeners>` as a process of its
//! own. Any process can be killed with `kill -9` and started again on the same ports and
//! session store.

#![allow(dead_code)]

pub mod client;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_sim::{Sim, SimConfig, SimHandle};
use switchyard_testkit::{RedisServer, free_port};

/// A Discord-shaped token: the fake gives the bot user id 137000000000000066.
pub const TOKEN: &str = "MTM3MDAwMDAwMDAwMDAwMDY2.GpOoLx.facePoolHmacPart_000000000001";
pub const BOT: u64 = 137_000_000_000_000_066;
/// The upstream shards.
pub const SHARDS: u32 = 2;
/// What the gateway asks of Discord, and what the clients ask of the face: no presences,
/// so that the load's PRESENCE_UPDATEs are not dispatched at all.
pub const INTENTS: &str = r#"["NON_PRIVILEGED","GUILD_MEMBERS","MESSAGE_CONTENT"]"#;
/// The same, as bits: every intent but GUILD_PRESENCES.
pub fn intent_bits() -> u64 {
    use switchyard_core::gateway_proto::intents;
    intents::KNOWN_INTENTS & !intents::GUILD_PRESENCES
}

/// A process started with fixed arguments and settings, killed when dropped; its output
/// goes to `{name}.log`, appended across restarts.
pub struct Proc {
    child: Option<Child>,
    pub name: String,
    log: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Proc {
    pub fn start(dir: &Path, name: &str, args: &[&str], env: &[(&str, String)]) -> Proc {
        let mut proc = Proc {
            child: None,
            name: name.to_owned(),
            log: dir.join(format!("{name}.log")),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        };
        proc.spawn();
        proc
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.args(&self.args)
            .env_remove("SWITCHYARD_CONFIG")
            .env("RUST_LOG", "info");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(
            cmd.stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .spawn()
                .expect("switchyard starts"),
        );
    }

    /// `kill -9`: no close frame, no drain, no final save.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }

    /// `kill -TERM`, and waits for the process to exit.
    pub async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("try_wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "{} did not exit after SIGTERM\n{}",
                self.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the process again (after `kill`, or killing it first).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Everything a test stands on.
pub struct Stack {
    pub sim: SimHandle,
    /// The `switchyard run` processes: one, or the nodes of a pool.
    pub gateways: Vec<Proc>,
    pub face: Proc,
    /// Their admin listeners (`host:port`), the same across restarts.
    pub admins: Vec<String>,
    /// The face's WebSocket URL, the same across restarts.
    pub face_url: String,
    /// The client token the face accepts.
    pub client_token: String,
    pub dir: tempfile::TempDir,
    _redis: RedisServer,
}

impl Stack {
    /// Starts it all with one gateway process and waits for both shards to be active
    /// upstream. The gateway saves its sessions every `save_ms`, so that after a `kill -9`
    /// the fake replays events the broker already has.
    pub async fn start(save_ms: u64) -> Stack {
        Stack::start_with(save_ms, 1, true).await
    }

    /// The same with the shards in a pool of `nodes` processes, each with some shards; on
    /// Redis Streams (`durable`), or on plain pub/sub, which drops no duplicate.
    pub async fn start_with(save_ms: u64, nodes: usize, durable: bool) -> Stack {
        let redis = RedisServer::start();
        let broker = if durable {
            format!("{}?durable=streams", redis.url())
        } else {
            redis.url()
        };
        let mut config = SimConfig::fast();
        config.shards = SHARDS;
        config.world.guilds = 6;
        // a restart of the gateway on a loaded machine must not outlast the session
        config.timings.resume_window_ms = 120_000;
        config.replay_buffer = 20_000;
        let sim = Sim::start(config).await.expect("sim");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut admins = Vec::new();
        let mut gateways = Vec::new();
        for n in 0..nodes {
            let admin = format!("127.0.0.1:{}", free_port());
            let mut env = vec![
                ("DISCORD_TOKEN", TOKEN.into()),
                ("SWITCHYARD_GATEWAY_API_URL", sim.http_url().into()),
                (
                    "SWITCHYARD_GATEWAY_SESSION_DIR",
                    dir.path()
                        .join(format!("sessions{n}"))
                        .display()
                        .to_string(),
                ),
                ("SWITCHYARD_GATEWAY_SESSION_SAVE_MS", save_ms.to_string()),
                ("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "60".into()),
                ("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }".into()),
                ("SWITCHYARD_GATEWAY_INTENTS", INTENTS.into()),
                ("SWITCHYARD_BROKER_URL", broker.clone()),
                ("SWITCHYARD_BROKER_RESP_PORT", free_port().to_string()),
                ("SWITCHYARD_ADMIN_BIND", admin.clone()),
            ];
            if nodes > 1 {
                env.push(("SWITCHYARD_GATEWAY_POOL", "true".into()));
                env.push(("SWITCHYARD_GATEWAY_POOL_LEASE_MS", "900".into()));
            }
            gateways.push(Proc::start(
                dir.path(),
                &format!("gateway{n}"),
                &["run"],
                &env,
            ));
            admins.push(admin);
        }
        let minted = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["face", "--mint-token", &BOT.to_string()])
            .env_remove("SWITCHYARD_CONFIG")
            .output()
            .expect("switchyard face --mint-token");
        let client_token = String::from_utf8(minted.stdout)
            .expect("utf-8")
            .trim()
            .to_owned();
        assert!(
            client_token.contains('.'),
            "a minted token: {client_token:?}"
        );
        let face_bind = format!("127.0.0.1:{}", free_port());
        let mut args = vec!["face".to_owned(), "--bind".into(), face_bind.clone()];
        for admin in &admins {
            args.extend(["--cache".to_owned(), format!("http://{admin}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let face = Proc::start(
            dir.path(),
            "face",
            &args,
            &[
                ("DISCORD_TOKEN", TOKEN.into()),
                ("SWITCHYARD_GATEWAY_API_URL", sim.http_url().into()),
                ("SWITCHYARD_GATEWAY_INTENTS", INTENTS.into()),
                ("SWITCHYARD_BROKER_URL", broker),
                ("SWITCHYARD_FACE_TOKENS", client_token.clone()),
                (
                    "SWITCHYARD_ADMIN_BIND",
                    format!("127.0.0.1:{}", free_port()),
                ),
            ],
        );
        let stack = Stack {
            sim,
            gateways,
            face,
            admins,
            face_url: format!("ws://{face_bind}/?v=10&encoding=json"),
            client_token,
            dir,
            _redis: redis,
        };
        stack
            .until("both shards active upstream", 60, async || {
                stack.shards_active().await
            })
            .await;
        stack
    }

    /// Whether every upstream shard is active (from the gateways' `/status`).
    pub async fn shards_active(&self) -> bool {
        let mut active = BTreeSet::new();
        for node in 0..self.admins.len() {
            active.extend(self.active_on(node).await);
        }
        active.len() == SHARDS as usize
    }

    /// The shards active on gateway `node` (none while it is down).
    pub async fn active_on(&self, node: usize) -> BTreeSet<u64> {
        let url = format!("http://{}/status", self.admins[node]);
        let Ok(response) = reqwest::get(url).await else {
            return BTreeSet::new();
        };
        let Ok(body) = response.bytes().await else {
            return BTreeSet::new();
        };
        let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        doc["gateway"]["shards"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["state"] == "active")
            .filter_map(|s| s["id"].as_u64())
            .collect()
    }

    /// The guild ids of the fake's world, sorted.
    pub fn guilds(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.sim.world().guilds.iter().map(|g| g.id).collect();
        ids.sort_unstable();
        ids
    }

    /// IDENTIFYs the fake accepted so far.
    pub fn upstream_identifies(&self) -> u64 {
        self.sim.counters_summary().identifies
    }

    /// Dispatches the fake has numbered on the bot's upstream sessions, over all of them.
    pub fn upstream_dispatched(&self) -> u64 {
        self.sim
            .counters_summary()
            .shards
            .iter()
            .filter(|s| s.bot_id == BOT.to_string())
            .map(|s| s.dispatched)
            .sum()
    }

    /// A new client of the face (not connected yet).
    pub fn client(&self, name: &str) -> client::Client {
        client::Client::new(name, &self.face_url, &self.client_token, intent_bits())
    }

    /// Every process's log.
    pub fn logs(&self) -> String {
        self.gateways
            .iter()
            .chain(std::iter::once(&self.face))
            .map(|p| format!("== {} ==\n{}", p.name, p.output()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until `check` holds, or fails with the logs.
    pub async fn until(&self, what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "{what} did not happen in {secs} s\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
