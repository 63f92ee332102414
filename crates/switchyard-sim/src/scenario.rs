//! Scenario files (TOML or JSON) that script events and faults on a timeline.
//!
//! ```toml
//! [[step]]
//! at_ms = 0
//! wait_for_sessions = 1            # wait until one session is identified
//!
//! [[step]]
//! at_ms = 100
//! inject = { type = "message", channel_id = "1234567890123456789", content = "hello" }
//!
//! [[step]]
//! at_ms = 500
//! fault = { type = "drop" }
//! ```
//!
//! Times are relative to the start of the run; the world is deterministic for a seed, so
//! scenario files can name its channels (see `GET /_sim/world`). A file is TOML or JSON by
//! its extension (`.toml`, `.json`). [`Scenario::run_when_ready`] plays one once the first
//! session has received READY and its GUILD_CREATEs (what `switchyard sim --scenario` does).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::sim_api::{self, Fault, Inject};
use crate::state::session::Session;
use crate::state::{Shared, lock};

/// How often the waits of a scenario look at the sessions.
const POLL: Duration = Duration::from_millis(10);

/// The format of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioFormat {
    /// TOML (`.toml`, `application/toml`).
    Toml,
    /// JSON (`.json`, `application/json`).
    Json,
}

impl ScenarioFormat {
    /// The format named by a file's extension, if it is `.toml` or `.json`.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Self::Toml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioStep {
    /// When to run it, in milliseconds after the start.
    #[serde(default)]
    pub at_ms: u64,
    /// Wait (up to 30 s) until at least this many sessions are connected.
    #[serde(default)]
    pub wait_for_sessions: Option<usize>,
    /// An event to inject.
    #[serde(default)]
    pub inject: Option<Inject>,
    /// A fault to inject.
    #[serde(default)]
    pub fault: Option<Fault>,
}

/// A scripted timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The steps, run in order of `at_ms` (ties keep file order).
    #[serde(default, rename = "step", alias = "steps")]
    pub steps: Vec<ScenarioStep>,
}

impl Scenario {
    /// Parses TOML, or JSON when `path` ends in `.json`.
    pub fn parse(text: &str, path: &str) -> Result<Self, SimError> {
        let format = if path.ends_with(".json") {
            ScenarioFormat::Json
        } else {
            ScenarioFormat::Toml
        };
        Self::parse_as(text, format, path)
    }

    /// Parses a scenario in the given format; `name` (a path, or "request body") names it
    /// in the error.
    pub(crate) fn parse_as(
        text: &str,
        format: ScenarioFormat,
        name: &str,
    ) -> Result<Self, SimError> {
        let parsed = match format {
            ScenarioFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
            ScenarioFormat::Toml => toml::from_str(text).map_err(|e| e.to_string()),
        };
        parsed.map_err(|message| SimError::ScenarioParse {
            path: name.to_owned(),
            message: message.trim_end().to_owned(),
        })
    }

    /// Reads and parses a scenario file: TOML for `.toml`, JSON for `.json`; any other
    /// extension is refused.
    pub fn from_path(path: &std::path::Path) -> Result<Self, SimError> {
        let name = path.display().to_string();
        let format = ScenarioFormat::from_path(path).ok_or_else(|| SimError::ScenarioParse {
            path: name.clone(),
            message: "unknown format: the file name must end in .toml or .json".into(),
        })?;
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ScenarioRead {
            path: name.clone(),
            source,
        })?;
        Self::parse_as(&text, format, &name)
    }

    /// Waits until the first session is ready (see [`first_session_ready`]), then runs the
    /// steps, their times counted from then.
    pub(crate) async fn run_when_ready(&self, shared: &Shared) -> Result<usize, SimError> {
        while !first_session_ready(shared) {
            tokio::time::sleep(POLL).await;
        }
        self.run(shared).await
    }

    /// Runs the steps against a sim; stops at the first step that fails, naming it (by its
    /// position in the file, from 1).
    pub(crate) async fn run(&self, shared: &Shared) -> Result<usize, SimError> {
        let start = Instant::now();
        let mut steps: Vec<(usize, &ScenarioStep)> = self.steps.iter().enumerate().collect();
        steps.sort_by_key(|(_, s)| s.at_ms);
        for (i, step) in &steps {
            run_step(shared, start, step).await.map_err(|e| {
                SimError::BadRequest(format!(
                    "scenario step {} (at_ms {}): {e}",
                    i + 1,
                    step.at_ms
                ))
            })?;
        }
        Ok(steps.len())
    }
}

/// Whether a connected session has been sent READY and the GUILD_CREATE of each of its
/// guilds.
pub fn first_session_ready(shared: &Shared) -> bool {
    let sessions: Vec<std::sync::Arc<Session>> = lock(&shared.sessions).values().cloned().collect();
    sessions.iter().any(|s| {
        let startup = 1 + shared.world.shard_guilds(s.shard[0], s.shard[1]).count() as u64;
        let inner = s.lock();
        !inner.ended && inner.conn.is_some() && inner.sent_seq >= startup
    })
}

async fn run_step(shared: &Shared, start: Instant, step: &ScenarioStep) -> Result<(), SimError> {
    let at = start
        .checked_add(Duration::from_millis(step.at_ms))
        .ok_or_else(|| SimError::BadRequest("at_ms is too far away".into()))?;
    tokio::time::sleep_until(at.into()).await;
    if let Some(n) = step.wait_for_sessions {
        let give_up = Instant::now() + Duration::from_secs(30);
        while crate::counters::counters(shared)
            .sessions
            .iter()
            .filter(|s| s.connected)
            .count()
            < n
        {
            if Instant::now() >= give_up {
                return Err(SimError::BadRequest(format!(
                    "fewer than {n} sessions after 30 s"
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
    if let Some(inject) = &step.inject {
        sim_api::inject(shared, inject)?;
    }
    if let Some(fault) = &step.fault {
        sim_api::fault(shared, fault)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_scenarios_parse() {
        let toml = r#"
            [[step]]
            at_ms = 10
            inject = { type = "message", channel_id = "123", content = "hi" }
            [[step]]
            fault = { type = "close", code = 4000 }
        "#;
        let s = Scenario::parse(toml, "s.toml").expect("toml");
        assert_eq!(s.steps.len(), 2);
        assert!(matches!(
            s.steps[1].fault,
            Some(Fault::Close { code: 4000, .. })
        ));
        let json = r#"{"steps":[{"at_ms":5,"fault":{"type":"drop"}}]}"#;
        assert_eq!(
            Scenario::parse(json, "s.json").expect("json").steps[0].at_ms,
            5
        );
        assert!(matches!(
            Scenario::parse("[[step]]\nbogus = 1", "x.toml"),
            Err(SimError::ScenarioParse { .. })
        ));
    }
}
