//! `switchyard publish TOPIC PAYLOAD`: publish one message and report what the broker said.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use switchyard_core::Topic;

use super::client;
use crate::cli::PublishArgs;
use crate::config::Config;

pub async fn run(config: Config, args: PublishArgs) -> anyhow::Result<ExitCode> {
    let topic = Topic::new(&args.topic)?;
    let payload = if args.payload == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read the payload from standard input")?;
        buf
    } else {
        args.payload.into_bytes()
    };
    let url = client::broker_url(&config, &args.client)?;
    let broker = client::connect(&config, &args.client, &url).await?;
    let published = match &args.id {
        Some(id) => broker.publish_with_id(&topic, payload.into(), id).await,
        None => broker.publish_confirmed(&topic, payload.into()).await,
    }
    .with_context(|| format!("publish on {topic} failed"))?;
    let mut line = format!("published on {topic}");
    if let Some(n) = published.receivers {
        line.push_str(&format!("; {n} receiver(s)"));
    }
    if published.duplicate {
        line.push_str("; duplicate id, dropped by the broker");
    }
    eprintln!("{line}");
    Ok(ExitCode::SUCCESS)
}
