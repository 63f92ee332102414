//! `switchyard shards move` and `switchyard node drain|undrain`: ask a shard pool's
//! coordinator, through any node's admin listener, to move shards (see `admin::pool`).

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::cli::{NodeArgs, NodeOp, PoolTarget, ShardsArgs, ShardsOp};
use crate::config::Config;

/// How long a request refused for now (503) is tried again.
const RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(15);

pub async fn shards(config: Config, args: ShardsArgs) -> anyhow::Result<ExitCode> {
    match args.op {
        ShardsOp::Move { shard, to, target } => {
            let body = json!({ "to": to });
            let path = format!("shards/{shard}/move");
            let done =
                format!("shard {shard} is moving to {to}; `switchyard status` shows where it runs");
            ask(&config, &target, &path, Some(body), &done).await
        }
    }
}

pub async fn node(config: Config, args: NodeArgs) -> anyhow::Result<ExitCode> {
    let (node, target, verb, done) = match args.op {
        NodeOp::Drain { node, target } => {
            let done = format!(
                "node {node} is draining: its shards move to the other nodes, a few at a time"
            );
            (node, target, "drain", done)
        }
        NodeOp::Undrain { node, target } => {
            let done = format!("node {node} takes shards again");
            (node, target, "undrain", done)
        }
    };
    ask(
        &config,
        &target,
        &format!("nodes/{node}/{verb}"),
        None,
        &done,
    )
    .await
}

async fn ask(
    config: &Config,
    target: &PoolTarget,
    path: &str,
    body: Option<Value>,
    done: &str,
) -> anyhow::Result<ExitCode> {
    let addr = target.admin.unwrap_or(config.admin.bind);
    let bot = target
        .bot
        .clone()
        .unwrap_or_else(|| config.gateway.bot.bot.clone());
    let url = format!("http://{addr}/v1/pool/{bot}/{path}");
    let client = reqwest::Client::new();
    // 503: the coordinator settles, the shard is still starting, or the coordinator is
    // between two nodes; such a pause is short, so wait it out.
    let deadline = std::time::Instant::now() + RETRY_FOR;
    let res = loop {
        let mut req = client.post(&url);
        if let Some(body) = &body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        if let Some(token) = &config.admin.token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.with_context(|| {
            format!(
                "cannot reach {url}: is a `switchyard run` of the pool listening there (--admin)?"
            )
        })?;
        if res.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE
            || std::time::Instant::now() > deadline
        {
            break res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let status = res.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        anyhow::bail!("{url} wants a token: set admin.token or SWITCHYARD_ADMIN_TOKEN");
    }
    let text = res.text().await.unwrap_or_default();
    if status.is_success() {
        println!("{done}");
        return Ok(ExitCode::SUCCESS);
    }
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or(text);
    anyhow::bail!("refused ({status}): {message}")
}
