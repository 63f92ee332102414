//! [`Replay`]: a session's numbered frames, kept for a RESUME within a count and an age.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;

/// One dispatch as the client gets it.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) seq: u64,
    pub(crate) text: Utf8Bytes,
}

/// The frames a connection asked for are gone from the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overrun;

#[derive(Debug)]
pub(crate) struct Replay {
    seq: u64,
    frames: VecDeque<(Instant, Frame)>,
    max: usize,
    window: Duration,
}

impl Replay {
    pub(crate) fn new(max: usize, window: Duration) -> Self {
        Replay {
            seq: 0,
            frames: VecDeque::new(),
            max: max.max(1),
            window,
        }
    }

    /// The last sequence given out.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Numbers and keeps one dispatch; returns its sequence.
    pub(crate) fn push(&mut self, name: &str, d: &str) -> u64 {
        self.seq += 1;
        let mut text = String::with_capacity(d.len() + name.len() + 40);
        text.push_str(r#"{"t":""#);
        text.push_str(name);
        text.push_str(r#"","s":"#);
        text.push_str(itoa::Buffer::new().format(self.seq));
        text.push_str(r#","op":0,"d":"#);
        text.push_str(d);
        text.push('}');
        let now = Instant::now();
        self.frames.push_back((
            now,
            Frame {
                seq: self.seq,
                text: text.into(),
            },
        ));
        while self.frames.len() > self.max
            || self
                .frames
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > self.window)
        {
            self.frames.pop_front();
        }
        self.seq
    }

    /// Whether every frame after `seq` is still kept.
    pub(crate) fn covers(&self, seq: u64) -> bool {
        seq == self.seq
            || self
                .frames
                .front()
                .is_some_and(|(_, f)| f.seq <= seq.saturating_add(1))
    }

    /// Up to `max` frames after `seq`.
    pub(crate) fn after(&self, seq: u64, max: usize) -> Result<Vec<Frame>, Overrun> {
        if seq >= self.seq {
            return Ok(Vec::new());
        }
        if !self.covers(seq) {
            return Err(Overrun);
        }
        let first = self.frames.front().map_or(0, |(_, f)| f.seq);
        let skip = (seq + 1).saturating_sub(first) as usize;
        Ok(self
            .frames
            .iter()
            .skip(skip)
            .take(max)
            .map(|(_, f)| f.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_numbered_kept_and_trimmed() {
        let mut r = Replay::new(3, Duration::from_secs(60));
        for i in 0..5 {
            r.push("TYPING_START", &format!("{{\"n\":{i}}}"));
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
