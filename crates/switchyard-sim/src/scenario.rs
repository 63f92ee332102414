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
//! scenario files can name its channels (see `GET /_sim/world`).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::control::{self, Fault, Inject};
use crate::error::SimError;
use crate::state::Shared;

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
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
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Parses TOML, or JSON when `path` ends in `.json`.
    pub fn parse(text: &str, path: &str) -> Result<Self, SimError> {
        let parsed = if path.ends_with(".json") {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            toml::from_str(text).map_err(|e| e.to_string())
        };
        parsed.map_err(|message| SimError::ScenarioParse {
            path: path.to_owned(),
            message,
        })
    }

    /// Reads and parses a scenario file.
    pub fn from_path(path: &std::path::Path) -> Result<Self, SimError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ScenarioRead {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text, &name)
    }

    /// Runs the steps against a sim; stops at the first step that fails.
    pub async fn run(&self, shared: &Shared) -> Result<usize, SimError> {
        let start = Instant::now();
        let mut steps: Vec<&Step> = self.steps.iter().collect();
        steps.sort_by_key(|s| s.at_ms);
        for step in &steps {
            let at = start
                .checked_add(Duration::from_millis(step.at_ms))
                .ok_or_else(|| {
                    SimError::BadRequest(format!("scenario: at_ms {} is too far away", step.at_ms))
                })?;
            tokio::time::sleep_until(at.into()).await;
            if let Some(n) = step.wait_for_sessions {
                let give_up = Instant::now() + Duration::from_secs(30);
                while control::counters(shared)
                    .sessions
                    .iter()
                    .filter(|s| s.connected)
                    .count()
                    < n
                {
                    if Instant::now() >= give_up {
                        return Err(SimError::BadRequest(format!(
                            "scenario: fewer than {n} sessions after 30 s"
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            if let Some(inject) = &step.inject {
                control::inject(shared, inject)?;
            }
            if let Some(fault) = &step.fault {
                control::fault(shared, fault)?;
            }
        }
        Ok(steps.len())
    }
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
