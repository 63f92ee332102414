//! `switchyard demo`: the whole system in one command. It starts the fake Discord, the
//! embedded broker with its RESP port, the gateway and an echo bot written directly against
//! the broker; sends a few user messages and shows each round trip; then lets the person type
//! messages as a Discord user. `--once` runs the script and exits 0 only if every reply came.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::embedded::resp::{RespConfig, RespServer};
use switchyard_broker::{Broker, Pattern, Subscription, Topic};
use switchyard_core::Envelope;
use switchyard_gateway::{FileSessionStore, GatewayConfig, GatewayDeps, Secret};
use switchyard_rest::{RestClient, RestConfig};
use switchyard_sim::{Inject, Sim, SimConfig, SimHandle, Snowflake};

use crate::admin;
use crate::cli::DemoArgs;
use crate::config::Config;

const SCRIPT: [&str; 3] = ["hello, switchyard!", "is anybody there?", "ping"];
const REPLY_WAIT: Duration = Duration::from_secs(10);

pub async fn run(mut config: Config, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(addr) = args.admin {
        config.admin.bind = addr;
    }
    let metrics = admin::install_metrics()?;
    let sim = Sim::start(SimConfig::fast())
        .await
        .context("cannot start the fake Discord")?;
    let broker = EmbeddedBroker::new(config.broker.embedded());
    let resp = RespServer::bind(&broker, RespConfig::on_port(args.resp_port.unwrap_or(0)))
        .await
        .context("cannot start the RESP listener (--resp-port)")?
        .spawn();
    let rest = RestClient::new(RestConfig {
        upstream: sim.http_url().to_owned(),
        ..RestConfig::default()
    })
    .await
    .context("REST client")?;
    let dir = std::env::temp_dir().join(format!("switchyard-demo-{}", std::process::id()));
    let sessions = FileSessionStore::new(&dir).context("demo session directory")?;
    let mut gw_config = GatewayConfig::new("demo", Secret::new("demo-token"));
    gw_config.identify_window = Duration::from_millis(50);
    let deps = GatewayDeps {
        broker: Arc::new(broker.clone()),
        rest,
        sessions: Arc::new(sessions),
        shared: None,
    };
    let gw = switchyard_gateway::start(gw_config, deps)
        .await
        .context("cannot start the gateway")?;
    let gw_status = gw.status_fn();
    let status: admin::StatusFn = Arc::new(move || serde_json::json!({ "gateway": gw_status() }));
    let admin_addr = admin::serve(
        &config.admin,
        "demo",
        metrics,
        status,
        admin::Parts::default(),
    )
    .await?;
    if !gw.wait_ready(Duration::from_secs(10)).await {
        anyhow::bail!(
            "the gateway's shards did not become ready: {:?}",
            gw.status()
        );
    }
    // Subscribed before the first message is sent: pub/sub keeps nothing for a subscriber
    // that comes later.
    let inbound = broker
        .subscribe(&Pattern::new("inbound.discord.>").context("the echo bot's pattern")?)
        .await
        .context("the echo bot cannot subscribe")?;
    let bot = tokio::spawn(echo_bot(broker.clone(), inbound));

    let resp_addr = resp.local_addr();
    let channel = sim.world().guilds[0]
        .channels
        .iter()
        .find(|c| c.kind == 0)
        .context("the fake world has no text channel")?
        .clone();
    println!("switchyard demo");
    println!(
        "  fake Discord   {} (REST {})",
        sim.gateway_url(),
        sim.api_url()
    );
    println!(
        "  broker         embedded; RESP on redis://{resp_addr}  (try: redis-cli -p {} PSUBSCRIBE 'inbound.*')",
        resp_addr.port()
    );
    println!("  admin          http://{admin_addr}/status");
    println!(
        "  echo bot       subscribed to inbound.discord.>, answers on outbound.discord.{{guild}}.{{channel}}.{{user}}"
    );
    println!();
    let mut ok = 0;
    for text in SCRIPT {
        if round_trip(&sim, channel.id, &channel.name, text).await {
            ok += 1;
        }
    }
    println!();
    println!("{ok}/{} replies arrived", SCRIPT.len());
    let all = ok == SCRIPT.len();
    if !args.once && all {
        println!(
            "Type a message as a Discord user in #{} (Ctrl-D or Ctrl-C to quit):",
            channel.name
        );
        let mut lines = stdin_lines();
        loop {
            let line = tokio::select! {
                _ = crate::cmd::broker::shutdown_signal() => break,
                line = lines.recv() => line,
            };
            match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => {
                    round_trip(&sim, channel.id, &channel.name, line.trim()).await;
                }
                None => break,
            }
        }
    }
    bot.abort();
    gw.shutdown().await;
    resp.shutdown().await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Lines typed on standard input, read on a blocking thread.
fn stdin_lines() -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Sends `text` as a user and waits for the bot's reply to reach the fake's REST API.
async fn round_trip(sim: &SimHandle, channel: u64, name: &str, text: &str) -> bool {
    let expected = format!("echo: {text}");
    let path = format!("/api/v10/channels/{channel}/messages");
    let before = count_replies(sim, &path, &expected);
    println!("you      → #{name}: {text}");
    let started = Instant::now();
    if let Err(e) = sim.inject(&Inject::Message {
        channel_id: Snowflake(channel),
        content: text.to_owned(),
        author_id: None,
    }) {
        println!("         ✗ the fake Discord refused the message: {e}");
        return false;
    }
    while started.elapsed() < REPLY_WAIT {
        if count_replies(sim, &path, &expected) > before {
            println!(
                "discord  ← POST {path} {expected:?}  (round trip {} ms)",
                started.elapsed().as_millis()
            );
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("         ✗ no reply within {} s", REPLY_WAIT.as_secs());
    false
}

fn count_replies(sim: &SimHandle, path: &str, content: &str) -> usize {
    sim.counters()
        .rest_calls
        .iter()
        .filter(|c| c.method == "POST" && c.path == path && c.status < 300)
        .filter(|c| {
            serde_json::from_str::<serde_json::Value>(&c.body)
                .is_ok_and(|b| b["content"] == content)
        })
        .count()
}

/// The example bot: echoes every user message back to its channel.
async fn echo_bot(broker: EmbeddedBroker, mut sub: Subscription) {
    while let Some(msg) = sub.recv().await {
        let Ok(env) = Envelope::decode(&msg.payload) else {
            continue;
        };
        if env.t != "MESSAGE_CREATE" {
            continue;
        }
        let Ok(d) = env.data::<serde_json::Value>() else {
            continue;
        };
        if d["author"]["bot"] == true {
            continue;
        }
        let content = d["content"].as_str().unwrap_or_default();
        println!(
            "gateway  → {}  (MESSAGE_CREATE seq {})",
            msg.topic,
            env.seq.unwrap_or(0)
        );
        let out = msg.topic.as_str().replacen("inbound.", "outbound.", 1);
        let Ok(out) = Topic::new(&out) else { continue };
        let reply = serde_json::Value::String(format!("echo: {content}")).to_string();
        println!("bot      → {out}  {reply}");
        if let Err(e) = broker.publish(&out, reply.into()).await {
            eprintln!("echo bot: publish failed: {e}");
        }
    }
}
