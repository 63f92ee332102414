//! The churn as a test-control operation: [`churn`] applies changes to the fake's live state
//! and dispatches each to the connected sessions by the usual delivery rules (the guild's
//! shard, the session's intents); [`state`] reads that state.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SimError;
use crate::churn::{Churn, ChurnEvent, LiveState};
use crate::state::{Event, MessageMeta, Shared, lock};
use crate::world::User;
use switchyard_core::gateway_proto::intents;

/// A churn to run: `steps` changes of the stream seeded with `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnSpec {
    /// The seed. The first run fixes it; later runs go on with the same stream, and a
    /// different seed is refused until `POST /_sim/reset`.
    pub seed: u64,
    /// How many changes to apply.
    pub steps: u64,
    /// Afterwards, end every outage and access loss (see [`Churn::settle`]), so that a
    /// client that followed the stream can know the whole state.
    #[serde(default)]
    pub settle: bool,
}

/// What a churn run did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ChurnReport {
    /// The stream's seed.
    pub seed: u64,
    /// Changes applied since the churn started.
    pub steps: u64,
    /// Dispatches this run produced (each counted once).
    pub events: u64,
    /// Dispatches delivered, summed over the sessions that got them.
    pub deliveries: u64,
}

/// The bot the churn renders its own GUILD_CREATEs for; the fake renders each session's
/// GUILD_CREATE for that session's bot instead.
fn placeholder_bot() -> User {
    User {
        id: 1,
        username: "churn".into(),
        global_name: None,
        avatar: None,
        bot: true,
    }
}

/// Runs `spec` against the fake: each change is applied and then dispatched, in order,
/// while no IDENTIFY can queue its GUILD_CREATEs.
pub fn churn(shared: &Shared, spec: &ChurnSpec) -> Result<ChurnReport, SimError> {
    let mut slot = lock(&shared.churn);
    if let Some(c) = slot.as_ref()
        && c.seed() != spec.seed
    {
        return Err(SimError::BadRequest(format!(
            "the churn runs with seed {}; POST /_sim/reset to start another",
            c.seed()
        )));
    }
    let churn = slot.get_or_insert_with(|| Churn::new(&shared.world, placeholder_bot(), spec.seed));
    let (mut events, mut deliveries) = (0, 0);
    for _ in 0..spec.steps {
        for ev in churn.step() {
            deliveries += deliver(shared, churn.state(), &ev) as u64;
            events += 1;
        }
    }
    if spec.settle {
        for ev in churn.settle() {
            deliveries += deliver(shared, churn.state(), &ev) as u64;
            events += 1;
        }
    }
    Ok(ChurnReport {
        seed: churn.seed(),
        steps: churn.steps(),
        events,
        deliveries,
    })
}

/// Dispatches one churn event; returns how many sessions got it.
fn deliver(shared: &Shared, state: &LiveState, ev: &ChurnEvent) -> usize {
    if ev.name == "GUILD_CREATE" {
        return crate::gateway::dispatch_rendered(shared, ev.name, ev.guild_id, |s| {
            let presences = s.intents & intents::GUILD_PRESENCES != 0;
            let d = state.guild_create(ev.guild_id, &s.bot.user(), 250, presences)?;
            Some(d.to_string())
        });
    }
    let mut event = Event::new(ev.name, ev.d.clone(), Some(ev.guild_id));
    if matches!(ev.name, "MESSAGE_CREATE" | "MESSAGE_UPDATE") {
        let id = |v: &Value| v.as_str().and_then(|s| s.parse().ok());
        event.message = Some(MessageMeta {
            author_id: id(&ev.d["author"]["id"]).unwrap_or(0),
            mentions: ev.d["mentions"]
                .as_array()
                .map(|m| m.iter().filter_map(|u| id(&u["id"])).collect())
                .unwrap_or_default(),
        });
    }
    crate::gateway::dispatch(shared, &event)
}

/// The live state as JSON (see [`LiveState::to_json`]), or `None` before any churn.
pub fn state(shared: &Shared) -> Option<Value> {
    lock(&shared.churn)
        .as_ref()
        .map(|c| c.state().to_json(c.bot()))
}

/// `f` on the live state, or `None` before any churn.
pub fn with_state<T>(shared: &Shared, f: impl FnOnce(&LiveState) -> T) -> Option<T> {
    lock(&shared.churn).as_ref().map(|c| f(c.state()))
}
