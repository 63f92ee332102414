//! `switchyard status`: asks a running gateway's admin listener for `/status` and shows each
//! shard (state, latency, sequence) and the services that have identified; `--watch` asks
//! again every few seconds.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

use crate::cli::StatusArgs;
use crate::config::Config;

pub async fn run(config: Config, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let addr = args.admin.unwrap_or(config.admin.bind);
    let url = format!("http://{addr}/status");
    let client = reqwest::Client::new();
    let token = config.admin.token.as_deref();
    let Some(every) = args.watch else {
        let doc = fetch(&client, &url, addr, token).await?;
        print!("{}", shown(&doc, args.json)?);
        return Ok(ExitCode::SUCCESS);
    };
    // Redrawn in place on a terminal; one block after another (with the time) otherwise,
    // so that a log or a pipe keeps every reading.
    let terminal = std::io::stdout().is_terminal();
    let every = std::time::Duration::from_secs(every.max(1));
    loop {
        let text = match fetch(&client, &url, addr, token).await {
            Ok(doc) => shown(&doc, args.json)?,
            // the gateway may be restarting: say so and ask again
            Err(e) => format!("{e:#}\n"),
        };
        let mut out = std::io::stdout().lock();
        let written = match terminal {
            true => write!(out, "\x1b[H\x1b[2J{text}"),
            false => write!(out, "--- {}\n{text}", now_utc()),
        };
        if written.and_then(|()| out.flush()).is_err() {
            return Ok(ExitCode::SUCCESS); // the reader went away
        }
        drop(out);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// The `/status` document at `url`.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    addr: std::net::SocketAddr,
    token: Option<&str>,
) -> anyhow::Result<Value> {
    let mut req = client.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.with_context(|| {
        format!("cannot reach {url}: is `switchyard run` running with admin.bind = {addr}?")
    })?;
    if res.status() == reqwest::StatusCode::UNAUTHORIZED {
        anyhow::bail!("{url} wants a token: set admin.token or SWITCHYARD_ADMIN_TOKEN");
    }
    if !res.status().is_success() {
        anyhow::bail!("{url} answered {}", res.status());
    }
    let body = res
        .bytes()
        .await
        .with_context(|| format!("reading {url}"))?;
    serde_json::from_slice(&body).with_context(|| format!("{url} did not answer JSON"))
}

/// The document as printed: pretty JSON with `--json`, else the readable form.
fn shown(doc: &Value, json: bool) -> anyhow::Result<String> {
    Ok(match json {
        true => format!("{}\n", serde_json::to_string_pretty(doc)?),
        false => render(doc),
    })
}

/// `HH:MM:SS UTC` now, for the blocks of a watch that is not on a terminal.
fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// The readable form of a `/status` document.
fn render(doc: &Value) -> String {
    let mut out = String::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let _ = writeln!(
        out,
        "{} {} ({}), up {} s",
        text(&doc["service"]),
        text(&doc["version"]),
        text(&doc["command"]),
        text(&doc["uptime_s"])
    );
    let single = [doc["gateway"].clone()];
    let gateways = match doc["gateways"].as_array() {
        Some(list) => list.as_slice(),
        None => &single[..],
    };
    for gw in gateways.iter().filter(|g| g.is_object()) {
        let _ = writeln!(
            out,
            "bot {}: shards ready {}/{}, identifies left {}",
            text(&gw["bot"]),
            text(&gw["ready"]),
            text(&gw["total"]),
            text(&gw["identifies_remaining"])
        );
        let _ = writeln!(
            out,
            "  {:>5}  {:<12} {:>10} {:>10}",
            "shard", "state", "latency", "sequence"
        );
        for s in gw["shards"].as_array().into_iter().flatten() {
            if let Some(e) = s["error"].as_str() {
                let _ = writeln!(out, "  shard {} stopped: {e}", text(&s["id"]));
            }
            let latency = s["latency_ms"]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms"));
            let _ = writeln!(
                out,
                "  {:>5}  {:<12} {:>10} {:>10}",
                text(&s["id"]),
                text(&s["state"]),
                latency,
                text(&s["seq"])
            );
        }
    }
    let services = doc["services"].as_array().map_or(&[][..], Vec::as_slice);
    let _ = writeln!(out, "services: {}", services.len());
    for s in services {
        let _ = writeln!(
            out,
            "  {} {} (version {}), last heard {} s ago",
            text(&s["name"]),
            text(&s["instance"]),
            text(&s["version"]),
            text(&s["last_seen_s"])
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_shards_and_services() {
        let doc = json!({
            "service": "switchyard", "version": "0.1.0", "command": "run", "uptime_s": 5,
            "gateway": {"bot": "echo", "ready": 2, "total": 3, "identifies_remaining": 998,
                "shards": [{"id": 0, "state": "active", "latency_ms": 41.2, "seq": 12},
                           {"id": 1, "state": "resuming", "latency_ms": null, "seq": 3},
                           {"id": 2, "state": "fatal", "latency_ms": null, "seq": 0,
                            "error": "close 4014 disallowed intents"}]},
            "services": [{"name": "echo", "instance": "echo-1", "version": "1.0", "last_seen_s": 2}]
        });
        let text = render(&doc);
        assert!(text.contains("bot echo: shards ready 2/3"), "{text}");
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|cols| cols.first().is_some_and(|c| c.parse::<u32>().is_ok()))
            .collect();
        assert_eq!(
            rows,
            [
                vec!["0", "active", "41", "ms", "12"],
                vec!["1", "resuming", "-", "3"],
                vec!["2", "fatal", "-", "0"],
            ],
            "{text}"
        );
        assert!(
            text.contains("shard 2 stopped: close 4014 disallowed intents"),
            "{text}"
        );
        assert!(
            text.contains("echo echo-1 (version 1.0), last heard 2 s ago"),
            "{text}"
        );
    }
}
