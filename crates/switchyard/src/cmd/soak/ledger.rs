//! What the soak's consumers received, read from their record files (`tail --json` lines),
//! and the judgement against the fake's sessions: every sequence of every session must have
//! reached the group, except those after a gap the gateway reported, and every reported gap
//! must follow a fault that ends a session.
//!
//! A gap covers the shard's events from its old session's `lost_from` until its new session
//! identified. When a node identified a session and died (or lost the shard) before it could
//! save it, its successor resumed the older saved session, failed, and reported that gap:
//! the unsaved session's events fall inside it, though nothing names that session. They are
//! found through the fake, which records which IDENTIFY superseded each session.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;

use serde::Deserialize;
use switchyard_core::envelope::{Source, event_id};
use switchyard_sim::SessionCounters;

/// A gap the gateway reported on `control.gateway.gap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Gap {
    pub old_session: String,
    pub lost_from: u64,
    pub reason: String,
}

/// Everything read so far.
#[derive(Default)]
pub(super) struct Ledger {
    /// Record files and how far each has been read.
    files: Vec<(PathBuf, u64)>,
    /// Deliveries of each envelope id.
    received: HashMap<u128, u32>,
    /// The bot's configured name, from the envelopes (the event ids hash it).
    pub bot: Option<String>,
    /// Gaps by old session.
    pub gaps: BTreeMap<String, Gap>,
    /// The old session of each gap, by the new session its report names.
    successors: HashMap<String, String>,
    /// Lines that were neither an envelope nor a gap report.
    pub unreadable: u64,
}

#[derive(Deserialize)]
struct Line {
    payload: Payload,
}

/// The fields read of an envelope or of a gap report (the rest is skipped).
#[derive(Deserialize)]
struct Payload {
    id: Option<String>,
    bot: Option<String>,
    old_session: Option<String>,
    new_session: Option<String>,
    lost_from: Option<u64>,
    reason: Option<String>,
}

impl Ledger {
    /// Reads `path` too, from its start.
    pub(super) fn watch(&mut self, path: PathBuf) {
        if !self.files.iter().any(|(p, _)| *p == path) {
            self.files.push((path, 0));
        }
    }

    /// Reads the complete lines written since the last call (a line a killed consumer left
    /// half-written was never acknowledged, so it comes again elsewhere).
    pub(super) fn read_new(&mut self) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for (path, offset) in &mut self.files {
            let mut file = match std::fs::File::open(&*path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            file.seek(SeekFrom::Start(*offset))?;
            let mut buf = Vec::new();
            file.read_to_end(&mut buf)?;
            let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            *offset += end as u64 + 1;
            buf.truncate(end);
            lines.push(buf);
        }
        for chunk in lines {
            for line in chunk.split(|&b| b == b'\n') {
                self.note(line);
            }
        }
        Ok(())
    }

    fn note(&mut self, line: &[u8]) {
        let Ok(Line { payload }) = serde_json::from_slice::<Line>(line) else {
            self.unreadable += 1;
            return;
        };
        match payload {
            Payload {
                old_session: Some(old_session),
                lost_from: Some(lost_from),
                new_session,
                reason,
                ..
            } => {
                let reason = reason.unwrap_or_default();
                if let Some(new) = new_session {
                    self.successors.insert(new, old_session.clone());
                }
                // Two reports may name one old session (the runner's, from the last event it
                // received, and a restarted node's, from the last one saved): both hold, so
                // the gap runs from the earlier.
                let gap = self.gaps.entry(old_session.clone()).or_insert(Gap {
                    old_session,
                    lost_from,
                    reason: reason.clone(),
                });
                if lost_from < gap.lost_from {
                    gap.lost_from = lost_from;
                    gap.reason = reason;
                }
            }
            Payload {
                id: Some(id), bot, ..
            } => match u128::from_str_radix(&id, 16) {
                Ok(id) => {
                    *self.received.entry(id).or_default() += 1;
                    if self.bot.is_none() {
                        self.bot = bot;
                    }
                }
                Err(_) => self.unreadable += 1,
            },
            _ => self.unreadable += 1,
        }
    }

    /// (distinct envelopes, deliveries).
    pub(super) fn totals(&self) -> (u64, u64) {
        let deliveries = self.received.values().map(|&n| u64::from(n)).sum();
        (self.received.len() as u64, deliveries)
    }

    /// Whether `id` reached the group.
    pub(super) fn has(&self, id: u128) -> bool {
        self.received.contains_key(&id)
    }
}

/// The id of sequence `seq` of `session`, as the gateway of bot `bot` gives it.
pub(super) fn expected_id(bot: &str, session: &SessionCounters, seq: u64) -> u128 {
    let source = Source {
        platform: "discord",
        bot,
        shard: session.shard[0],
        session: &session.session_id,
        epoch: None,
    };
    let hex = event_id(&source, seq);
    // 32 hex digits by construction
    std::str::from_utf8(&hex)
        .ok()
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .unwrap_or_default()
}

/// The judgement of one soak.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Verdict {
    /// Sequences the fake assigned, over every session.
    pub events: u64,
    pub sessions: u64,
    /// Events that reached the group.
    pub delivered: u64,
    /// Events the group gave up on, in the dead-letter stream (not lost, not delivered).
    pub dead_lettered: u64,
    /// Events after a reported gap, never sent by the fake (the session ended first), or
    /// inside one (see [`Verdict::unsaved`]).
    pub in_gaps: u64,
    /// Of those, the events of a session that was never saved, followed on its shard by the
    /// new session of a reported gap (superseded by it, or ended before it identified): they
    /// came between the gap's start and its end.
    pub unsaved: u64,
    /// Events of a session left behind (a newer session of its shard had identified) that
    /// the fake also dispatched to the newer one, whose own events are checked.
    pub superseded: u64,
    /// Events that did not reach the group and are in no reported gap: must be 0.
    pub lost: u64,
    /// Where they are, for the first sessions that lost any: `session:first..last (n, shard)`.
    pub lost_sample: Vec<String>,
    /// Gaps reported.
    pub gaps: u64,
    /// Gaps reported for a session no injected fault ended: must be none.
    pub unexplained_gaps: Vec<String>,
}

impl Verdict {
    pub(super) fn clean(&self) -> bool {
        self.lost == 0 && self.unexplained_gaps.is_empty()
    }
}

/// Judges `ledger` against the fake's `sessions`: `ended_by_fault` are the sessions an
/// injected fault ended, `dead` the ids found in the dead-letter stream.
pub(super) fn judge(
    ledger: &Ledger,
    sessions: &[SessionCounters],
    ended_by_fault: &HashSet<String>,
    dead: &HashSet<u128>,
) -> Verdict {
    let mut v = Verdict {
        sessions: sessions.len() as u64,
        gaps: ledger.gaps.len() as u64,
        ..Verdict::default()
    };
    let bot = ledger.bot.as_deref().unwrap_or("switchyard");
    for session in sessions {
        let gap = ledger.gaps.get(&session.session_id);
        // the gap whose new session was the next to identify on this one's shard (superseding
        // it, or after it ended), if an injected fault caused it (a gap from this very
        // session covers only what came after its `lost_from`)
        let inside = session
            .superseded_by
            .as_ref()
            .and_then(|by| ledger.successors.get(by))
            .is_some_and(|old| *old != session.session_id && ended_by_fault.contains(old));
        let mut lost_here: Option<(u64, u64, u64)> = None;
        for seq in session.seqs() {
            v.events += 1;
            let id = expected_id(bot, session, seq);
            if ledger.has(id) {
                v.delivered += 1;
            } else if dead.contains(&id) {
                v.dead_lettered += 1;
            } else if gap.is_some_and(|g| seq >= g.lost_from) {
                v.in_gaps += 1;
            } else if session.superseded_at.is_some_and(|at| seq > at) {
                v.superseded += 1;
            } else if inside {
                v.in_gaps += 1;
                v.unsaved += 1;
            } else {
                v.lost += 1;
                let here = lost_here.get_or_insert((seq, seq, 0));
                here.1 = seq;
                here.2 += 1;
            }
        }
        if let Some((first, last, n)) = lost_here
            && v.lost_sample.len() < 10
        {
            v.lost_sample.push(format!(
                "{}:{first}..{last} ({n} lost, shard {}, superseded at {:?}, ended {})",
                session.session_id, session.shard[0], session.superseded_at, session.ended
            ));
        }
    }
    for gap in ledger.gaps.values() {
        if !ended_by_fault.contains(&gap.old_session) {
            v.unexplained_gaps.push(format!(
                "{} from seq {}: {}",
                gap.old_session, gap.lost_from, gap.reason
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, shard: u32, last_seq: u64) -> SessionCounters {
        serde_json::from_value(serde_json::json!({
            "session_id": id, "bot_id": "1", "shard": [shard, 2], "last_seq": last_seq,
            "seqs": [[1, last_seq]], "buffered_while_disconnected": 0, "sent": 0, "buffered": 0,
            "replayed": 0, "resumes": 0, "connected": true, "ended": false, "presence": null,
        }))
        .expect("session counters")
    }

    fn envelope_line(bot: &str, s: &SessionCounters, seq: u64) -> String {
        let id = format!("{:032x}", expected_id(bot, s, seq));
        format!(
            r#"{{"topic":"inbound.discord.1.2.3","payload":{{"v":1,"id":"{id}","bot":"{bot}","d":{{"x":[1,2]}}}}}}"#
        )
    }

    fn ledger_of(lines: &[String]) -> Ledger {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-1.jsonl");
        // the last line half-written, as a killed consumer leaves it
        std::fs::write(&path, format!("{}\n{{\"topic\":\"inbo", lines.join("\n"))).expect("write");
        let mut ledger = Ledger::default();
        ledger.watch(path);
        ledger.read_new().expect("read");
        ledger
    }

    #[test]
    fn everything_received_once_or_again_is_clean() {
        let a = session("a", 0, 3);
        let mut lines: Vec<String> = (1..=3).map(|q| envelope_line("bot", &a, q)).collect();
        lines.push(envelope_line("bot", &a, 2));
        let ledger = ledger_of(&lines);
        assert_eq!(ledger.totals(), (3, 4));
        assert_eq!(
            ledger.unreadable, 0,
            "the half-written line is not read yet"
        );
        let v = judge(&ledger, &[a], &HashSet::new(), &HashSet::new());
        assert_eq!((v.events, v.delivered, v.lost), (3, 3, 0));
        assert!(v.clean());
    }

    #[test]
    fn a_missing_event_is_lost_unless_dead_lettered_or_after_a_reported_gap() {
        let (a, b) = (session("a", 0, 4), session("b", 1, 2));
        let mut lines = vec![envelope_line("bot", &a, 1), envelope_line("bot", &a, 2)];
        lines.push(envelope_line("bot", &b, 2));
        lines.push(
            r#"{"topic":"control.gateway.gap","payload":{"bot":"bot","shard":0,"old_session":"a","last_seq":2,"lost_from":3,"new_session":"c","reason":"INVALID_SESSION"}}"#.into(),
        );
        let ledger = ledger_of(&lines);
        let sessions = [a, b.clone()];
        let ended: HashSet<String> = ["a".to_owned()].into();
        // b's first event is neither received nor in a gap: lost
        let v = judge(&ledger, &sessions, &ended, &HashSet::new());
        assert_eq!((v.delivered, v.in_gaps, v.lost, v.gaps), (3, 2, 1, 1));
        assert_eq!(
            v.lost_sample,
            ["b:1..1 (1 lost, shard 1, superseded at None, ended false)"]
        );
        assert!(!v.clean());
        // in the dead-letter stream, it is accounted for
        let dead: HashSet<u128> = [expected_id("bot", &b, 1)].into();
        let v = judge(&ledger, &sessions, &ended, &dead);
        assert_eq!((v.dead_lettered, v.lost), (1, 0));
        assert!(v.clean());
        // a gap no injected fault explains is not clean
        let v = judge(&ledger, &sessions, &HashSet::new(), &dead);
        assert_eq!(v.unexplained_gaps.len(), 1, "{v:?}");
        assert!(!v.clean());
        // a second report of a's gap, from an earlier sequence (a restarted node's, from the
        // last save), covers a's second event too, whichever came first
        let earlier = r#"{"topic":"control.gateway.gap","payload":{"bot":"bot","shard":0,"old_session":"a","last_seq":1,"lost_from":2,"new_session":"d","reason":"the saved session could not be resumed"}}"#;
        let a = &sessions[..1];
        let mut lines = vec![envelope_line("bot", &a[0], 1)];
        lines.push(gap_after(2));
        lines.push(earlier.into());
        let v = judge(&ledger_of(&lines), a, &ended, &HashSet::new());
        assert_eq!((v.delivered, v.in_gaps, v.lost), (1, 3, 0), "{v:?}");
        lines.swap(1, 2);
        let v = judge(&ledger_of(&lines), a, &ended, &HashSet::new());
        assert_eq!((v.delivered, v.in_gaps, v.lost), (1, 3, 0), "{v:?}");
    }

    /// The runner's report of session "a"'s gap: events after `last_seq` lost.
    fn gap_after(last_seq: u64) -> String {
        format!(
            r#"{{"topic":"control.gateway.gap","payload":{{"bot":"bot","shard":0,"old_session":"a","last_seq":{last_seq},"lost_from":{},"new_session":"c","reason":"INVALID_SESSION"}}}}"#,
            last_seq + 1
        )
    }

    #[test]
    fn a_session_left_behind_owes_only_what_came_before_its_successor() {
        let mut a = session("a", 0, 5);
        a.superseded_at = Some(2);
        let lines = vec![envelope_line("bot", &a, 1)];
        let ledger = ledger_of(&lines);
        let v = judge(&ledger, &[a.clone()], &HashSet::new(), &HashSet::new());
        // 2 came before the newer session and is lost; 3 to 5 went to it too
        assert_eq!((v.delivered, v.superseded, v.lost), (1, 3, 1));
        assert_eq!(
            v.lost_sample,
            ["a:2..2 (1 lost, shard 0, superseded at Some(2), ended false)"]
        );
    }

    #[test]
    fn an_unsaved_session_falls_inside_the_gap_its_successor_reported() {
        // "a" ended by a fault; "x" identified and died unsaved; "c" resumed "a", failed and
        // identified, superseding "x", and reported the gap from "a"
        let a = session("a", 0, 2);
        let mut x = session("x", 0, 4);
        x.superseded_at = Some(3);
        x.superseded_by = Some("c".into());
        let mut lines = vec![envelope_line("bot", &a, 1), envelope_line("bot", &a, 2)];
        lines.push(envelope_line("bot", &x, 1));
        let gap = r#"{"topic":"control.gateway.gap","payload":{"bot":"bot","shard":0,"old_session":"a","last_seq":2,"lost_from":3,"new_session":"c","reason":"INVALID_SESSION"}}"#.to_owned();
        lines.push(gap.clone());
        let ledger = ledger_of(&lines);
        let sessions = [a, x];
        let ended: HashSet<String> = ["a".to_owned()].into();
        let v = judge(&ledger, &sessions, &ended, &HashSet::new());
        assert_eq!(
            (v.delivered, v.in_gaps, v.unsaved, v.superseded, v.lost),
            (3, 2, 2, 1, 0)
        );
        assert!(v.clean(), "{v:?}");
        // a gap no injected fault explains covers nothing
        let v = judge(&ledger, &sessions, &HashSet::new(), &HashSet::new());
        assert_eq!((v.unsaved, v.lost), (0, 2));
        // nor does a gap whose new session is not the one that superseded it
        let mut other = sessions.clone();
        other[1].superseded_by = Some("d".into());
        let v = judge(&ledger, &other, &ended, &HashSet::new());
        assert_eq!((v.unsaved, v.lost), (0, 2));
        // nor, before its `lost_from`, one whose gap starts from the session itself
        let mut own = sessions.clone();
        own[0].last_seq = 3;
        own[0].superseded_at = Some(3);
        own[0].superseded_by = Some("c".into());
        let lines = vec![envelope_line("bot", &own[0], 1), gap.clone()];
        let ledger = ledger_of(&lines);
        let v = judge(&ledger, &own[..1], &ended, &HashSet::new());
        assert_eq!((v.delivered, v.in_gaps, v.unsaved, v.lost), (1, 1, 0, 1));
    }

    #[test]
    fn an_unsaved_session_that_ended_before_the_gaps_new_session_falls_inside_it() {
        // "a" ended by a fault; "x" identified, was never saved and was closed for good
        // before "c" identified (so "x" was not superseded, only followed, by "c"); "c"
        // resumed "a", failed and reported the gap from "a"
        let a = session("a", 0, 2);
        let mut x = session("x", 0, 3);
        x.ended = true;
        x.superseded_by = Some("c".into());
        let lines = vec![
            envelope_line("bot", &a, 1),
            envelope_line("bot", &a, 2),
            r#"{"topic":"control.gateway.gap","payload":{"bot":"bot","shard":0,"old_session":"a","last_seq":2,"lost_from":3,"new_session":"c","reason":"INVALID_SESSION"}}"#.to_owned(),
        ];
        let ledger = ledger_of(&lines);
        let ended: HashSet<String> = ["a".to_owned()].into();
        let v = judge(&ledger, &[a, x], &ended, &HashSet::new());
        assert_eq!((v.delivered, v.in_gaps, v.unsaved, v.lost), (2, 3, 3, 0));
        assert!(v.clean(), "{v:?}");
    }

    #[test]
    fn reading_goes_on_where_it_stopped() {
        let a = session("a", 0, 2);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-1.jsonl");
        let first = envelope_line("bot", &a, 1);
        std::fs::write(&path, format!("{first}\n{}", &first[..10])).expect("write");
        let mut ledger = Ledger::default();
        ledger.watch(path.clone());
        ledger.read_new().expect("read");
        assert_eq!(ledger.totals(), (1, 1));
        let second = envelope_line("bot", &a, 2);
        std::fs::write(&path, format!("{first}\n{second}\n")).expect("write");
        ledger.read_new().expect("read");
        assert_eq!(ledger.totals(), (2, 2));
        assert_eq!(ledger.bot.as_deref(), Some("bot"));
    }
}
