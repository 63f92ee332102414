//! [`Replay`]: a session's numbered dispatches, kept for a RESUME within a count and an age.
//! An event of the bot is kept as a reference to the one copy every session shares, and
//! rendered with the session's sequence when a connection writes it, so that a replay
//! buffer costs a few dozen bytes per event, not a copy of each payload per client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;

use crate::event::FaceEvent;

/// One dispatch as the client gets it.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) seq: u64,
    pub(crate) text: Utf8Bytes,
}

/// What a kept dispatch carries.
#[derive(Debug)]
pub(crate) enum Payload {
    /// An event of the bot, shared with every session; `stripped` for its
    /// MESSAGE_CONTENT-less form.
    Event(Arc<FaceEvent>, bool),
    /// A dispatch of this session's own (READY, GUILD_CREATE, a member chunk…).
    Own(&'static str, Box<str>),
}

impl Payload {
    fn render(&self, seq: u64) -> String {
        let (name, d) = match self {
            Payload::Event(event, stripped) => (&*event.name, event.data(*stripped)),
            Payload::Own(name, d) => (*name, &**d),
        };
        let mut text = String::with_capacity(d.len() + name.len() + 40);
        text.push_str(r#"{"t":""#);
        text.push_str(name);
        text.push_str(r#"","s":"#);
        text.push_str(itoa::Buffer::new().format(seq));
        text.push_str(r#","op":0,"d":"#);
        text.push_str(d);
        text.push('}');
        text
    }
}

/// The frames a connection asked for are gone from the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overrun;

#[derive(Debug)]
pub(crate) struct Replay {
    seq: u64,
    kept: VecDeque<(Instant, Payload)>,
    max: usize,
    window: Duration,
}

impl Replay {
    pub(crate) fn new(max: usize, window: Duration) -> Self {
        Replay {
            seq: 0,
            kept: VecDeque::new(),
            max: max.max(1),
            window,
        }
    }

    /// The last sequence given out.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The sequence of the oldest dispatch kept.
    fn first(&self) -> u64 {
        self.seq + 1 - self.kept.len() as u64
    }

    /// Numbers and keeps one dispatch; returns its sequence.
    pub(crate) fn push(&mut self, payload: Payload) -> u64 {
        self.seq += 1;
        let now = Instant::now();
        self.kept.push_back((now, payload));
        while self.kept.len() > self.max
            || self
                .kept
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > self.window)
        {
            self.kept.pop_front();
        }
        self.seq
    }

    /// Whether every dispatch after `seq` is still kept.
    pub(crate) fn covers(&self, seq: u64) -> bool {
        seq >= self.seq || self.first() <= seq.saturating_add(1)
    }

    /// Up to `max` frames after `seq`, rendered.
    pub(crate) fn after(&self, seq: u64, max: usize) -> Result<Vec<Frame>, Overrun> {
        if seq >= self.seq {
            return Ok(Vec::new());
        }
        if !self.covers(seq) {
            return Err(Overrun);
        }
        let first = self.first();
        let skip = (seq + 1 - first) as usize;
        Ok(self
            .kept
            .iter()
            .skip(skip)
            .take(max)
            .enumerate()
            .map(|(i, (_, p))| {
                let seq = seq + 1 + i as u64;
                Frame {
                    seq,
                    text: p.render(seq).into(),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(n: u32) -> Payload {
        Payload::Own("TYPING_START", format!("{{\"n\":{n}}}").into())
    }

    #[test]
    fn frames_are_numbered_kept_and_trimmed() {
        let mut r = Replay::new(3, Duration::from_secs(60));
        for i in 0..5 {
            r.push(own(i));
        }
        assert_eq!(r.seq(), 5);
        assert!(!r.covers(1));
        assert!(r.covers(2));
        assert_eq!(r.after(1, 10).err(), Some(Overrun));
        let frames = r.after(3, 10).expect("kept");
        assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(
            frames[0].text.as_str(),
            r#"{"t":"TYPING_START","s":4,"op":0,"d":{"n":3}}"#
        );
        assert!(r.after(5, 10).expect("nothing").is_empty());
    }
}
