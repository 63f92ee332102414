//! The one owner of the interactions that came over HTTP: while a request is open, a bot's
//! callback becomes its HTTP response; after the endpoint answered Discord itself (with a
//! deferral), a late callback is turned into the webhook call that does the same, or refused
//! with the reason when Discord allows no late answer (autocomplete results, a modal).
//!
//! The outbound path asks [`OpenInteractions::claim`] before sending a callback to REST;
//! the endpoint opens an entry per request and settles it when it answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::status::lock;

/// How long an interaction's token lives on Discord, and so how long an entry is kept.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The most entries kept; beyond it the oldest answered ones go first.
const MAX_ENTRIES: usize = 100_000;

/// The interaction types the endpoint handles beyond PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// 2 APPLICATION_COMMAND.
    Command,
    /// 3 MESSAGE_COMPONENT.
    Component,
    /// 4 APPLICATION_COMMAND_AUTOCOMPLETE.
    Autocomplete,
    /// 5 MODAL_SUBMIT.
    ModalSubmit,
}

impl Kind {
    /// The kind of interaction type `t`; `None` for PING and unknown types.
    pub(crate) fn of(t: u64) -> Option<Kind> {
        Some(match t {
            2 => Kind::Command,
            3 => Kind::Component,
            4 => Kind::Autocomplete,
            5 => Kind::ModalSubmit,
            _ => return None,
        })
    }

    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Command => "command",
            Kind::Component => "component",
            Kind::Autocomplete => "autocomplete",
            Kind::ModalSubmit => "modal_submit",
        }
    }

    /// What the endpoint answers when the bot has not within the time: type 5 (deferred
    /// message) for commands and modal submits, 6 (deferred update) for components, and for
    /// autocomplete, which cannot be deferred, no choices.
    pub(crate) fn fallback(self) -> Value {
        match self {
            Kind::Command | Kind::ModalSubmit => json!({"type": 5}),
            Kind::Component => json!({"type": 6}),
            Kind::Autocomplete => json!({"type": 8, "data": {"choices": []}}),
        }
    }
}

/// One interaction's state.
enum State {
    /// The HTTP request waits; a callback goes here.
    Open(oneshot::Sender<Value>),
    /// Answered over HTTP: by the bot, or by the endpoint's fallback (`fallback: true`).
    Answered { fallback: bool, after: Duration },
    /// The request went away unanswered (Discord hung up): callbacks go to REST.
    Gone,
}

struct Entry {
    kind: Kind,
    application: u64,
    opened: Instant,
    state: State,
}

/// What the outbound path does with a callback.
#[derive(Debug, PartialEq)]
pub(crate) enum Claim {
    /// Not an interaction of the endpoint's, or one whose request is gone: send it to REST.
    Rest,
    /// It became the HTTP response.
    Answered,
    /// The endpoint deferred already and the callback asks for the same: nothing to send.
    AlreadyDeferred,
    /// Send this instead (a webhook call doing what the late callback asked).
    Instead {
        /// The method.
        method: http::Method,
        /// The path (relative to `/api/v10`).
        path: String,
        /// The body.
        body: Value,
    },
    /// Discord cannot take this answer any more; the reason says why.
    TooLate(String),
}

/// The endpoint's interactions, by id.
#[derive(Default)]
pub(crate) struct OpenInteractions {
    entries: Mutex<HashMap<u64, Entry>>,
}

/// Why an interaction cannot be opened.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("interaction {0} was delivered before: a replayed request")]
pub(crate) struct Replayed(pub u64);

impl OpenInteractions {
    /// Opens interaction `id` of `application`; the receiver gets the bot's callback body.
    pub(crate) fn open(
        &self,
        id: u64,
        application: u64,
        kind: Kind,
    ) -> Result<oneshot::Receiver<Value>, Replayed> {
        let mut entries = lock(&self.entries);
        if entries.contains_key(&id) {
            return Err(Replayed(id));
        }
        let now = Instant::now();
        entries.retain(|_, e| now.duration_since(e.opened) < TOKEN_LIFETIME);
        if entries.len() >= MAX_ENTRIES {
            let oldest = entries
                .iter()
                .filter(|(_, e)| !matches!(e.state, State::Open(_)))
                .min_by_key(|(_, e)| e.opened)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        let (tx, rx) = oneshot::channel();
        entries.insert(
            id,
            Entry {
                kind,
                application,
                opened: now,
                state: State::Open(tx),
            },
        );
        Ok(rx)
    }

    /// Records how the endpoint answered interaction `id`: with the bot's answer, or with its
    /// fallback (`fallback`). Returns false when a callback came in between (it is then in the
    /// receiver, and the endpoint answers with it instead).
    pub(crate) fn settle(&self, id: u64, fallback: bool) -> bool {
        let mut entries = lock(&self.entries);
        let Some(entry) = entries.get_mut(&id) else {
            return true;
        };
        match &entry.state {
            State::Open(_) => {
                let after = entry.opened.elapsed();
                entry.state = State::Answered { fallback, after };
                true
            }
            // the bot's answer came while the endpoint was giving up: it answers with that
            State::Answered {
                fallback: false, ..
            } => !fallback,
            _ => true,
        }
    }

    /// The request of interaction `id` went away unanswered.
    pub(crate) fn gone(&self, id: u64) {
        if let Some(entry) = lock(&self.entries).get_mut(&id)
            && matches!(entry.state, State::Open(_))
        {
            entry.state = State::Gone;
        }
    }

    /// What to do with a REST call the outbound path is about to send: only a callback
    /// (`POST /interactions/{id}/{token}/callback`) of one of the endpoint's interactions
    /// is not [`Claim::Rest`].
    pub(crate) fn claim(&self, method: &http::Method, path: &str, body: Option<&Value>) -> Claim {
        let Some((id, token)) = callback_route(method, path) else {
            return Claim::Rest;
        };
        let mut entries = lock(&self.entries);
        let Some(entry) = entries.get_mut(&id) else {
            return Claim::Rest;
        };
        let body = body.cloned().unwrap_or(Value::Null);
        let answer = body["type"].as_u64().unwrap_or(0);
        match &entry.state {
            State::Gone => Claim::Rest,
            State::Open(_) => {
                let State::Open(tx) = std::mem::replace(
                    &mut entry.state,
                    State::Answered {
                        fallback: false,
                        after: entry.opened.elapsed(),
                    },
                ) else {
                    return Claim::Rest;
                };
                match tx.send(body) {
                    Ok(()) => Claim::Answered,
                    Err(_) => {
                        entry.state = State::Gone;
                        Claim::Rest
                    }
                }
            }
            State::Answered {
                fallback: false, ..
            } => Claim::TooLate(format!(
                "interaction {id} was answered already (the bot's first answer was its HTTP response); send follow-ups to POST /webhooks/{{application}}/{{token}}"
            )),
            State::Answered {
                fallback: true,
                after,
            } => late(entry.kind, entry.application, token, answer, &body, *after),
        }
    }
}

/// `(id, token)` of `POST /interactions/{id}/{token}/callback`.
fn callback_route<'p>(method: &http::Method, path: &'p str) -> Option<(u64, &'p str)> {
    if method != http::Method::POST {
        return None;
    }
    let rest = path.strip_prefix("/interactions/")?;
    let (rest, _query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut parts = rest.split('/');
    let (id, token, callback) = (parts.next()?, parts.next()?, parts.next()?);
    if callback != "callback" || parts.next().is_some() {
        return None;
    }
    Some((id.parse().ok()?, token))
}

/// A callback after the endpoint answered with its fallback `after` the request came.
fn late(kind: Kind, app: u64, token: &str, answer: u64, body: &Value, after: Duration) -> Claim {
    let ms = after.as_millis();
    let original = format!("/webhooks/{app}/{token}/messages/@original");
    let data = || body.get("data").cloned().unwrap_or_else(|| json!({}));
    match (kind, answer) {
        (Kind::Autocomplete, _) => Claim::TooLate(format!(
            "autocomplete results must answer the request itself, within Discord's 3 s, and cannot be deferred; none came in {ms} ms, so the endpoint answered with no choices"
        )),
        (_, 9) => Claim::TooLate(format!(
            "a modal (type 9) must be the first response to an interaction; none came in {ms} ms, so the endpoint deferred it (type {}) and Discord can no longer show a modal",
            kind.fallback()["type"]
        )),
        // the deferral the endpoint sent already
        (Kind::Command | Kind::ModalSubmit, 5) | (Kind::Component, 6) => Claim::AlreadyDeferred,
        // a message now (4) after a deferred message: the deferred message becomes it
        (Kind::Command | Kind::ModalSubmit, 4) | (Kind::Component, 7) => Claim::Instead {
            method: http::Method::PATCH,
            path: original,
            body: data(),
        },
        // a new message (4) after a deferred update: a follow-up
        (Kind::Component, 4) => Claim::Instead {
            method: http::Method::POST,
            path: format!("/webhooks/{app}/{token}"),
            body: data(),
        },
        (_, other) => Claim::TooLate(format!(
            "a response of type {other} cannot follow the deferral (type {}) the endpoint sent after {ms} ms; edit the response through PATCH /webhooks/{{application}}/{{token}}/messages/@original",
            kind.fallback()["type"]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callback(table: &OpenInteractions, id: u64, body: Value) -> Claim {
        let path = format!("/interactions/{id}/tok/callback");
        table.claim(&http::Method::POST, &path, Some(&body))
    }

    #[tokio::test]
    async fn a_callback_in_time_is_the_answer_once() {
        let table = OpenInteractions::default();
        let rx = table.open(1, 9, Kind::Command).expect("new");
        let claim = callback(&table, 1, json!({"type": 4, "data": {"content": "hi"}}));
        assert_eq!(claim, Claim::Answered);
        assert_eq!(rx.await.expect("answer")["data"]["content"], "hi");
        assert!(table.settle(1, false));
        let again = callback(&table, 1, json!({"type": 4}));
        assert!(matches!(again, Claim::TooLate(_)), "{again:?}");
        assert_eq!(table.open(1, 9, Kind::Command).err(), Some(Replayed(1)));
    }

    #[test]
    fn other_routes_and_unknown_interactions_go_to_rest() {
        let table = OpenInteractions::default();
        let _rx = table.open(1, 9, Kind::Command).expect("new");
        assert_eq!(callback(&table, 2, json!({"type": 4})), Claim::Rest);
        let get = table.claim(&http::Method::GET, "/interactions/1/t/callback", None);
        assert_eq!(get, Claim::Rest);
        let webhook = table.claim(&http::Method::POST, "/webhooks/9/t", None);
        assert_eq!(webhook, Claim::Rest);
        table.gone(1);
        assert_eq!(callback(&table, 1, json!({"type": 4})), Claim::Rest);
    }

    #[test]
    fn late_answers_become_webhook_calls_or_say_why_not() {
        let table = OpenInteractions::default();
        for (id, kind) in [
            (1, Kind::Command),
            (2, Kind::Component),
            (3, Kind::Autocomplete),
        ] {
            let _rx = table.open(id, 9, kind).expect("new");
            assert!(table.settle(id, true));
        }
        let edit = callback(&table, 1, json!({"type": 4, "data": {"content": "late"}}));
        assert_eq!(
            edit,
            Claim::Instead {
                method: http::Method::PATCH,
                path: "/webhooks/9/tok/messages/@original".into(),
                body: json!({"content": "late"}),
            }
        );
        assert_eq!(
            callback(&table, 1, json!({"type": 5})),
            Claim::AlreadyDeferred
        );
        let Claim::TooLate(modal) = callback(&table, 1, json!({"type": 9})) else {
            panic!("a late modal is refused");
        };
        assert!(modal.contains("first response"), "{modal}");
        let update = callback(&table, 2, json!({"type": 7, "data": {}}));
        assert!(matches!(update, Claim::Instead { method, .. } if method == http::Method::PATCH));
        let followup = callback(&table, 2, json!({"type": 4, "data": {}}));
        assert!(matches!(followup, Claim::Instead { method, .. } if method == http::Method::POST));
        let Claim::TooLate(choices) = callback(&table, 3, json!({"type": 8})) else {
            panic!("late choices are refused");
        };
        assert!(choices.contains("cannot be deferred"), "{choices}");
    }

    #[tokio::test]
    async fn an_answer_racing_the_deferral_wins() {
        let table = OpenInteractions::default();
        let rx = table.open(1, 9, Kind::Command).expect("new");
        assert_eq!(callback(&table, 1, json!({"type": 4})), Claim::Answered);
        assert!(!table.settle(1, true), "the endpoint must use the answer");
        assert_eq!(rx.await.expect("answer")["type"], 4);
    }
}
