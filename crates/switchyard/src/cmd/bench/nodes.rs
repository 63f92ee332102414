//! `switchyard run` children of a shard pool, for the benches and the soak that drive one:
//! starting them, learning their node ids, reading their shards from `/status`, asking the
//! pool API, stopping them.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::servers::free_port;

/// One `switchyard run` child.
pub(crate) struct NodeProc {
    pub child: Child,
    /// Its admin listener, `host:port`.
    pub admin: String,
    /// Its pool node id, once [`name_nodes`] learnt it.
    pub id: String,
    /// Stopped on purpose (terminated or killed).
    pub stopped: bool,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `switchyard run` (this executable) as pool node `name` of the bot whose fake
/// Discord serves `api_url`, on the broker at `url`, with a pool lease of `lease_ms`; its
/// sessions under `dir/name`, its log in `dir/name.log`.
pub(crate) fn start_node(
    api_url: &str,
    url: &str,
    dir: &Path,
    name: &str,
    lease_ms: u64,
) -> anyhow::Result<NodeProc> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let admin = format!("127.0.0.1:{}", free_port()?);
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .context("node log")?;
    let child = Command::new(exe)
        .arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "warn")
        .env("DISCORD_TOKEN", "bench-token")
        .env("SWITCHYARD_BROKER_URL", url)
        .env("SWITCHYARD_GATEWAY_API_URL", api_url)
        .env("SWITCHYARD_GATEWAY_POOL", "true")
        .env("SWITCHYARD_GATEWAY_POOL_LEASE_MS", lease_ms.to_string())
        .env("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "50")
        .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.join(name))
        .env("SWITCHYARD_ADMIN_BIND", &admin)
        .env("SWITCHYARD_GATEWAY_INTENTS", "[\"ALL\"]")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .context("cannot start switchyard run")?;
    Ok(NodeProc {
        child,
        admin,
        id: String::new(),
        stopped: false,
    })
}

/// Learns the pool ids of the nodes that have none yet.
pub(crate) async fn name_nodes(nodes: &mut [NodeProc]) -> anyhow::Result<()> {
    for node in nodes.iter_mut().filter(|n| n.id.is_empty()) {
        node.id = wait_for(Duration::from_secs(60), "a node id", async || {
            status(&node.admin).await?["pool"]["node"]
                .as_str()
                .map(str::to_owned)
        })
        .await?;
    }
    Ok(())
}

/// The shards ready on the live nodes (those still running).
pub(crate) async fn running(nodes: &[NodeProc]) -> Option<BTreeSet<u32>> {
    let mut all = BTreeSet::new();
    for n in nodes.iter().filter(|n| !n.stopped) {
        all.extend(ready(&n.admin).await?);
    }
    Some(all)
}

/// Each live node's shards and their states (`127.0.0.1:4321: 0 active, 5 paused`), or
/// that it did not answer: what a failed wait for [`running`] reports.
pub(crate) async fn shard_states(nodes: &[NodeProc]) -> String {
    let mut lines = Vec::new();
    for n in nodes.iter().filter(|n| !n.stopped) {
        let shards = status(&n.admin).await.and_then(|doc| {
            let shards = doc["gateway"]["shards"]
                .as_array()?
                .iter()
                .map(|s| format!("{} {}", s["id"], s["state"].as_str().unwrap_or("?")));
            Some(shards.collect::<Vec<_>>().join(", "))
        });
        let shards = shards.unwrap_or_else(|| "no answer from /status".to_owned());
        lines.push(format!("{}: {shards}", n.admin));
    }
    lines.join("; ")
}

/// SIGTERM, and waits (at most 30 s) for the node to leave the pool and exit.
pub(crate) async fn terminate(child: &mut Child) -> anyhow::Result<()> {
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .context("kill -TERM")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().context("wait")?.is_none() {
        if Instant::now() > deadline {
            bail!("node {pid} did not exit within 30 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

pub(crate) async fn status(admin: &str) -> Option<Value> {
    let body = reqwest::get(format!("http://{admin}/status"))
        .await
        .ok()?
        .bytes()
        .await
        .ok()?;
    serde_json::from_slice(&body).ok()
}

/// The node's ready shards.
pub(crate) async fn ready(admin: &str) -> Option<BTreeSet<u32>> {
    let doc = status(admin).await?;
    Some(
        doc["gateway"]["shards"]
            .as_array()?
            .iter()
            .filter(|s| s["state"] == "active")
            .filter_map(|s| s["id"].as_u64().and_then(|id| u32::try_from(id).ok()))
            .collect(),
    )
}

/// POSTs to the pool API of the node at `admin` (`to`: the body's target node, if any).
pub(crate) async fn ask(
    http: &reqwest::Client,
    admin: &str,
    path: &str,
    to: &str,
) -> anyhow::Result<()> {
    let url = format!("http://{admin}/v1/pool/switchyard/{path}");
    let body = if to.is_empty() {
        String::new()
    } else {
        serde_json::json!({ "to": to }).to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let res = loop {
        let res = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        // 503: the shard still starts, or the coordinator settles
        if res.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if !res.status().is_success() {
        bail!(
            "POST {url}: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Polls `check` every 20 ms until it gives a value, or fails after `within`.
pub(crate) async fn wait_for<T>(
    within: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
