//! `switchyard tail PATTERN`: subscribe and print each message.
//!
//! The pattern has the Broker API's meaning (`*` one segment, `>` the rest) on every backend:
//! over the Redis protocol it becomes a PSUBSCRIBE glob and every delivery is re-checked
//! against it; on NATS it is the same wildcard subject. `--group` joins a worker group
//! (durable, with acks after printing, in durable mode); `--event` keeps only envelopes of
//! the events named.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use switchyard_broker::Message;
use switchyard_core::{Envelope, Pattern};

use super::client;
use crate::cli::TailArgs;
use crate::config::Config;
use crate::redact::redact_url;

pub async fn run(config: Config, args: TailArgs) -> anyhow::Result<ExitCode> {
    let pattern = Pattern::new(&args.pattern)?;
    let url = client::broker_url(&config, &args.client)?;
    let broker = client::connect(&config, &args.client, &url).await?;
    let durable = broker.capabilities().durable;
    let mut printer = Printer {
        json: args.json,
        count: args.count,
        seen: 0,
        events: args.event.iter().map(|e| e.to_uppercase()).collect(),
    };
    match &args.group {
        Some(group) if durable => {
            let mut sub = broker
                .subscribe_durable(&pattern, group)
                .await
                .with_context(|| format!("cannot join the durable group {group}"))?;
            eprintln!("tailing {pattern} in durable group {group} (Ctrl-C to stop)");
            while let Some(delivery) = sub.recv().await {
                let done = printer.print(&delivery.message);
                if let Err(e) = delivery.ack().await {
                    tracing::warn!("ack failed (the message will come again): {e}");
                }
                if done {
                    // Acks may still be on their way (JetStream sends them unanswered).
                    broker.flush().await.context("cannot flush the last acks")?;
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        group => {
            let mut sub = match group {
                Some(group) => broker.subscribe_group(&pattern, group).await,
                None => broker.subscribe(&pattern).await,
            }
            .with_context(|| format!("cannot subscribe to {pattern}"))?;
            match group {
                Some(group) => eprintln!("tailing {pattern} in group {group} (Ctrl-C to stop)"),
                None => eprintln!("tailing {pattern} (Ctrl-C to stop)"),
            }
            while let Some(msg) = sub.recv().await {
                if printer.print(&msg) {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }
    anyhow::bail!("the broker at {} closed the subscription", redact_url(&url))
}

/// Prints messages and counts them against `--count`.
struct Printer {
    json: bool,
    count: Option<u64>,
    seen: u64,
    /// `--event`, upper-cased: empty prints everything.
    events: Vec<String>,
}

impl Printer {
    /// Whether `payload` passes `--event`.
    fn wanted(&self, payload: &[u8]) -> bool {
        self.events.is_empty()
            || Envelope::decode(payload).is_ok_and(|env| self.events.iter().any(|e| *e == env.t))
    }

    /// Prints one message; true when tail should stop (the count is reached, or stdout closed).
    fn print(&mut self, msg: &Message) -> bool {
        if !self.wanted(&msg.payload) {
            return false;
        }
        let line = if self.json {
            json_line(msg.topic.as_str(), &msg.payload)
        } else {
            pretty(msg.topic.as_str(), &msg.payload)
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            // The reader went away (a closed pipe); stop quietly.
            return true;
        }
        self.seen += 1;
        self.count.is_some_and(|n| self.seen >= n)
    }
}

/// `{"topic": …, "payload": …}` on one line; the payload is embedded as JSON when it is JSON.
fn json_line(topic: &str, payload: &[u8]) -> String {
    let payload = match serde_json::from_slice::<&serde_json::value::RawValue>(payload) {
        Ok(raw) => raw.get().to_owned(),
        Err(_) => {
            serde_json::Value::String(String::from_utf8_lossy(payload).into_owned()).to_string()
        }
    };
    format!(
        "{{\"topic\":{},\"payload\":{}}}",
        serde_json::Value::String(topic.to_owned()),
        payload
    )
}

/// A readable block: the topic, a summary line for envelopes, then the payload indented.
fn pretty(topic: &str, payload: &[u8]) -> String {
    let mut out = format!("── {topic}\n");
    if let Ok(env) = Envelope::decode(payload) {
        out.push_str(&format!(
            "   {} seq={} from {} ({} bytes)\n",
            env.t,
            env.seq.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            env.s,
            payload.len()
        ));
        out.push_str(&indent(&pretty_json(env.d.get().as_bytes())));
    } else {
        out.push_str(&indent(&pretty_json(payload)));
    }
    out
}

fn pretty_json(payload: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_filter_keeps_only_the_envelopes_named() {
        let printer = |events: &[&str]| Printer {
            json: false,
            count: None,
            seen: 0,
            events: events.iter().map(|e| e.to_uppercase()).collect(),
        };
        let message = br#"{"v":1,"id":"x","s":"discord/echo/0","t":"MESSAGE_CREATE","seq":3,"shard":0,"bot":"echo","received_ms":1,"d":{"content":"hi"}}"#;
        let ready = br#"{"v":1,"id":"y","s":"discord/echo/0","t":"READY","seq":1,"shard":0,"bot":"echo","received_ms":1,"d":{}}"#;
        assert!(
            Envelope::decode(message).is_ok(),
            "the sample is an envelope"
        );
        assert!(printer(&[]).wanted(b"plain text"));
        let only = printer(&["message_create"]);
        assert!(only.wanted(message));
        assert!(!only.wanted(ready));
        assert!(!only.wanted(b"\"not an envelope\""));
        assert!(printer(&["READY", "MESSAGE_CREATE"]).wanted(ready));
    }

    #[test]
    fn json_lines_embed_json_and_quote_text() {
        assert_eq!(
            json_line("a.b", br#"{"x":1}"#),
            r#"{"topic":"a.b","payload":{"x":1}}"#
        );
        assert_eq!(
            json_line("a.b", b"hi \"you\""),
            r#"{"topic":"a.b","payload":"hi \"you\""}"#
        );
    }
}
