//! `switchyard dlq list|show|replay|purge`: the dead letters of durable mode, read and
//! settled through [`switchyard_broker::dead_letters`] on Redis Streams or JetStream.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use switchyard_broker::dead_letters::{self, DeadLetter, DeadLetterFilter, DeadLetterQueue};
use switchyard_core::Envelope;

use super::client;
use crate::cli::{BrokerClientArgs, DlqArgs, DlqOp, DlqSelect};
use crate::config::Config;
use crate::redact::redact_url;

/// Letters `show` prints without `--limit`.
const SHOW_DEFAULT: usize = 20;
/// Characters of a payload `show` prints.
const EXCERPT: usize = 240;

pub async fn run(config: Config, args: DlqArgs) -> anyhow::Result<ExitCode> {
    if args.broker.is_none() && config.broker.process.url == "embedded" {
        anyhow::bail!(
            "broker.url is `embedded`, and the embedded broker keeps no dead letters (it delivers at most once, without acknowledgements); dead letters exist in durable mode on Redis Streams or JetStream: pass --broker redis://… or nats://…"
        );
    }
    let client_args = BrokerClientArgs {
        broker: args.broker.clone(),
        durable: true,
    };
    let url = client::broker_url(&config, &client_args)?;
    let broker = client::connect(&config, &client_args, &url).await?;
    let shown = redact_url(&url);
    let dead = broker
        .dead_letters()
        .map_err(anyhow::Error::new)
        .with_context(|| format!("no dead letters at {shown}"))?;
    match args.op {
        DlqOp::List { json } => {
            let queues = dead.queues().await?;
            print_queues(&queues, json, &shown);
        }
        DlqOp::Show { select, json } => {
            let mut filter = filter(&select);
            filter.limit.get_or_insert(SHOW_DEFAULT);
            let letters = dead.read(&filter).await?;
            if letters.is_empty() {
                eprintln!("no dead letters{} at {shown}", described(&select));
            }
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for letter in &letters {
                let text = if json {
                    json_line(letter)
                } else {
                    block(letter)
                };
                if writeln!(out, "{text}").is_err() {
                    break;
                }
            }
        }
        DlqOp::Replay { select } => {
            let n = dead_letters::replay(broker.as_ref(), &filter(&select))
                .await
                .context("replay stopped; the letters not yet replayed are still dead letters")?;
            println!("replayed {n} dead letter(s) on their topics");
        }
        DlqOp::Purge { select, yes } => {
            let filter = filter(&select);
            if !yes {
                let n = dead.read(&filter).await?.len();
                anyhow::bail!(
                    "this would delete {n} dead letter(s){} for good; run again with --yes",
                    described(&select)
                );
            }
            let n = dead.purge(&filter).await?;
            println!("purged {n} dead letter(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn filter(select: &DlqSelect) -> DeadLetterFilter {
    DeadLetterFilter {
        ids: select.id.clone(),
        group: select.group.clone(),
        limit: select.limit,
    }
}

/// ` of group g` / ` with those ids`, for messages.
fn described(select: &DlqSelect) -> String {
    let mut out = String::new();
    if let Some(g) = &select.group {
        out.push_str(&format!(" of group {g}"));
    }
    if !select.id.is_empty() {
        out.push_str(" with those ids");
    }
    out
}

fn print_queues(queues: &[DeadLetterQueue], json: bool, shown: &str) {
    if json {
        for q in queues {
            let groups: serde_json::Map<String, serde_json::Value> = q
                .groups
                .iter()
                .map(|(g, n)| (g.clone(), (*n).into()))
                .collect();
            println!(
                "{}",
                serde_json::json!({"stream": q.name, "count": q.count, "groups": groups})
            );
        }
        return;
    }
    if queues.iter().all(|q| q.count == 0) {
        println!("no dead letters at {shown}");
    }
    for q in queues.iter().filter(|q| q.count > 0) {
        let groups: Vec<String> = q.groups.iter().map(|(g, n)| format!("{g}: {n}")).collect();
        println!("{}  {} letter(s)  ({})", q.name, q.count, groups.join(", "));
    }
}

/// The envelope's id and event name, when the payload is an envelope.
fn envelope(payload: &[u8]) -> Option<(String, String)> {
    Envelope::decode(payload)
        .ok()
        .map(|e| (e.id.into_owned(), e.t.into_owned()))
}

/// A readable block for one letter.
fn block(letter: &DeadLetter) -> String {
    let mut out = format!("── {}  on {}\n", letter.id, letter.topic);
    out.push_str(&format!(
        "   group {}, {} deliveries: {}\n",
        letter.group.as_deref().unwrap_or("?"),
        letter
            .deliveries
            .map_or_else(|| "?".to_owned(), |n| n.to_string()),
        letter.reason
    ));
    if let Some((id, event)) = envelope(&letter.payload) {
        out.push_str(&format!("   envelope {id} ({event})\n"));
    }
    out.push_str(&format!(
        "   payload ({} bytes): {}",
        letter.payload.len(),
        excerpt(&letter.payload)
    ));
    out
}

/// The payload on one line, cut after [`EXCERPT`] characters.
fn excerpt(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// One letter as a JSON object.
fn json_line(letter: &DeadLetter) -> String {
    let payload =
        serde_json::from_slice::<serde_json::Value>(&letter.payload).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&letter.payload).into_owned())
        });
    let env = envelope(&letter.payload);
    serde_json::json!({
        "id": letter.id,
        "stream": letter.queue,
        "topic": letter.topic.as_str(),
        "group": letter.group,
        "deliveries": letter.deliveries,
        "reason": letter.reason,
        "envelope_id": env.as_ref().map(|(id, _)| id),
        "event": env.as_ref().map(|(_, t)| t),
        "payload_bytes": letter.payload.len(),
        "payload": payload,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_long_payloads_on_one_line() {
        assert_eq!(excerpt(b"a\nb"), "a b");
        let long = "é".repeat(EXCERPT + 5);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT + 1);
        assert!(cut.ends_with('…'));
    }
}
