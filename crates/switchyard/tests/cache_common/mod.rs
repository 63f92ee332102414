//! Shared by the cache restart tests: `switchyard run` processes with the cache on, that a
//! test kills with `kill -9` and starts again on the same session store, and the reads of
//! their cache API.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_sim::{Inject, SimHandle, Snowflake};
use switchyard_testkit::free_port;

/// A `switchyard run` process with the cache on, killed when dropped; its output goes to
/// `{name}.log` (appended across restarts).
pub struct Run {
    child: Option<Child>,
    pub admin: String,
    pub resp: u16,
    pub name: String,
    pub sessions: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Run {
    /// Starts `switchyard run` against `sim` as the bot of `token`, its sessions (and cache
    /// snapshots) in `{dir}/{name}`, with extra `SWITCHYARD_…` settings.
    pub fn start(
        sim: &SimHandle,
        dir: &Path,
        name: &str,
        token: &str,
        extra: &[(&str, &str)],
    ) -> Run {
        let sessions = dir.join(name);
        let mut env: Vec<(String, String)> = vec![
            ("RUST_LOG".into(), "info".into()),
            ("DISCORD_TOKEN".into(), token.into()),
            ("SWITCHYARD_GATEWAY_API_URL".into(), sim.http_url().into()),
            (
                "SWITCHYARD_GATEWAY_SESSION_DIR".into(),
                sessions.display().to_string(),
            ),
            ("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS".into(), "60".into()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut run = Run {
            child: None,
            admin: String::new(),
            resp: 0,
            name: name.to_owned(),
            sessions,
            log: dir.join(format!("{name}.log")),
            env,
        };
        run.spawn();
        run
    }

    fn spawn(&mut self) {
        self.resp = free_port();
        self.admin = format!("127.0.0.1:{}", free_port());
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.arg("run")
            .env_remove("SWITCHYARD_CONFIG")
            .env("SWITCHYARD_BROKER_RESP_PORT", self.resp.to_string())
            .env("SWITCHYARD_ADMIN_BIND", &self.admin);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(
            cmd.stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .spawn()
                .expect("switchyard run starts"),
        );
    }

    /// `kill -9`: no close frame, no drain, no final save.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }

    /// Starts the process again, on the same session store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the admin listener: the status and the JSON body (0 while it is not up).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let client = CLIENT.get_or_init(reqwest::Client::new);
        let url = format!("http://{}{path}", self.admin);
        let Ok(response) = client.get(url).send().await else {
            return (0, Value::Null);
        };
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Each shard of `/status` by id: (state, last sequence received, session).
    pub async fn shards(&self) -> BTreeMap<u64, (String, u64, String)> {
        let (_, doc) = self.get_json("/status").await;
        doc["gateway"]["shards"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["id"].as_u64()?,
                    (
                        s["state"].as_str()?.to_owned(),
                        s["seq"].as_u64()?,
                        s["session"].as_str().unwrap_or_default().to_owned(),
                    ),
                ))
            })
            .collect()
    }

    /// Whether all `n` shards are active.
    pub async fn active(&self, n: usize) -> bool {
        let shards = self.shards().await;
        shards.len() == n && shards.values().all(|(state, ..)| state == "active")
    }

    /// The sum of the samples of metric `name` whose labels include `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let mut found = None;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                continue;
            }
            let matches = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            if let (true, Ok(v)) = (matches, value.parse::<f64>()) {
                *found.get_or_insert(0.0) += v;
            }
        }
        found
    }

    /// The session saved for shard `shard` of `total`: its sequence.
    pub fn saved_seq(&self, shard: u32, total: u32) -> Option<u64> {
        let path = self
            .sessions
            .join(format!("switchyard.{shard}.{total}.json"));
        let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        v["seq"].as_u64()
    }

    /// The cache snapshot saved beside that session, parsed.
    pub fn snapshot(&self, shard: u32, total: u32) -> Option<Value> {
        let path = self
            .sessions
            .join(format!("switchyard.{shard}.{total}.cache.json"));
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `check` holds, or fails with the processes' logs.
pub async fn until(what: &str, secs: u64, runs: &[&Run], mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        if Instant::now() > deadline {
            let logs: Vec<String> = runs
                .iter()
                .map(|r| format!("== {} ==\n{}", r.name, r.output()))
                .collect();
            panic!("{what} did not happen in {secs} s\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Dispatches `t` with `d` to every bot's session of `guild`'s shard.
pub fn dispatch(sim: &SimHandle, t: &str, guild: u64, d: Value) {
    sim.inject(&Inject::Dispatch {
        t: t.to_owned(),
        d,
        guild_id: Some(Snowflake(guild)),
        bot_id: None,
    })
    .expect("inject");
}

/// A user object of the fake's kind.
pub fn user(id: u64, name: &str) -> Value {
    json!({"id": id.to_string(), "username": name, "global_name": null, "discriminator": "0", "avatar": null})
}

/// `list` sorted by its items' `pointer` (the cache keeps lists in no order).
pub fn sorted(list: &Value, pointer: &str) -> Value {
    let mut items = list.as_array().cloned().unwrap_or_default();
    items.sort_by_key(|v| v.pointer(pointer).map(Value::to_string).unwrap_or_default());
    Value::Array(items)
}

/// What the cache API of `run` answers about `guild`: the guild, its channels and roles,
/// each of `users` as a member and the messages of each of `channels` (without the `shard`
/// and `seq` every answer carries, which differ between two bots).
pub async fn reads(run: &Run, guild: u64, users: &[u64], channels: &[u64]) -> Value {
    let base = format!("/v1/cache/switchyard/guilds/{guild}");
    let data = async |path: String| {
        let (status, doc) = run.get_json(&path).await;
        json!({"status": status, "data": doc["data"]})
    };
    let mut out = json!({
        "guild": data(base.clone()).await,
        "channels": sorted(&data(format!("{base}/channels")).await["data"], "/id"),
        "roles": sorted(&data(format!("{base}/roles")).await["data"], "/id"),
    });
    for user in users {
        out[format!("member {user}")] = data(format!("{base}/members/{user}")).await;
    }
    for channel in channels {
        out[format!("messages {channel}")] =
            data(format!("{base}/channels/{channel}/messages")).await;
    }
    out
}

/// The paths where `a` and `b` differ, at most `limit` of them.
pub fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let null = Value::Null;
                let (va, vb) = (x.get(key).unwrap_or(&null), y.get(key).unwrap_or(&null));
                differences(va, vb, &format!("{path}/{key}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(va, vb, &format!("{path}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}
