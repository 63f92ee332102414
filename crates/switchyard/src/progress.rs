//! Shard startup progress for `switchyard run` (plain or pool node): on a terminal, one line
//! under the logs, redrawn in place (`shards ready 37/100 [#######       ]  37 %`); anywhere
//! else, plain log lines at every tenth of the shards and one when all are ready. This module
//! owns the terminal's status line: the log writer ([`LogWriter`]) and [`say`] (for stdout)
//! clear it before each line and draw it again after, so that they never garble each other.

use std::io::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The line shown under the logs on a terminal; `None` while nothing is shown.
static LINE: Mutex<Option<String>> = Mutex::new(None);

/// Erases the current terminal line: back to its start, clear it.
const ERASE: &[u8] = b"\r\x1b[2K";

/// How often the shards are counted.
const EVERY: Duration = Duration::from_millis(200);

/// Width of the bar between its brackets.
const BAR: usize = 24;

/// `shards ready 37/100 [#########               ]  37 %`.
pub fn bar_line(ready: u32, total: u32) -> String {
    let ready = ready.min(total);
    let filled = match total {
        0 => 0,
        _ => (u64::from(ready) * BAR as u64 / u64::from(total)) as usize,
    };
    format!(
        "shards ready {ready}/{total} [{}{}] {:>3} %",
        "#".repeat(filled),
        " ".repeat(BAR - filled),
        percent(ready, total)
    )
}

fn percent(ready: u32, total: u32) -> u64 {
    match total {
        0 => 0,
        _ => u64::from(ready) * 100 / u64::from(total),
    }
}

/// The final line.
pub fn done_line(total: u32, took: Duration) -> String {
    let noun = if total == 1 { "shard" } else { "shards" };
    format!(
        "all {total} {noun} ready ({total}/{total}) in {:.1} s",
        took.as_secs_f64()
    )
}

/// Decides which counts deserve a plain line: the first, each new tenth, and the end.
#[derive(Debug, Default)]
pub struct Milestones {
    /// The tenth last reported.
    last: Option<u64>,
}

impl Milestones {
    /// The line to print for `ready` of `total` after `took`, if any.
    pub fn step(&mut self, ready: u32, total: u32, took: Duration) -> Option<String> {
        if total == 0 {
            return None;
        }
        if ready >= total {
            self.last = Some(10);
            return Some(done_line(total, took));
        }
        let tenth = u64::from(ready) * 10 / u64::from(total);
        if self.last.is_some_and(|last| tenth <= last) {
            return None;
        }
        self.last = Some(tenth);
        Some(format!(
            "shards ready {ready}/{total} ({} %)",
            percent(ready, total)
        ))
    }
}

/// Shows `line` under the logs (or removes it, with `None`).
fn show(line: Option<String>) {
    let mut shown = LINE.lock().unwrap_or_else(PoisonError::into_inner);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(ERASE);
    if let Some(l) = &line {
        let _ = err.write_all(l.as_bytes());
    }
    let _ = err.flush();
    *shown = line;
}

/// Prints `line` on stdout: on a terminal, where stdout and stderr share the screen, the
/// status line is erased first and drawn again after it.
pub fn say(line: std::fmt::Arguments<'_>) {
    let shown = LINE.lock().unwrap_or_else(PoisonError::into_inner);
    if shown.is_some() {
        let _ = std::io::stderr().lock().write_all(ERASE);
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
    if let Some(l) = &*shown {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(l.as_bytes()).and_then(|()| err.flush());
    }
}

/// Removes the terminal's status line, if one is shown (before the process stops).
pub fn clear() {
    let shown = LINE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some();
    if shown {
        show(None);
    }
}

/// Follows the shards counted by `count` (`(ready, total)` over every bot of this process)
/// until all are ready: a redrawn line on a terminal, else plain log lines. A node that holds
/// no shard yet (a pool node waiting for its share) shows nothing until it gets some.
pub async fn follow(count: impl Fn() -> (u32, u32), terminal: bool) {
    let started = Instant::now();
    let mut plain = Milestones::default();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (ready, total) = count();
        if total == 0 {
            continue;
        }
        if ready >= total {
            if terminal {
                show(None);
            }
            tracing::info!("{}", done_line(total, started.elapsed()));
            return;
        }
        if terminal {
            show(Some(bar_line(ready, total)));
        } else if let Some(line) = plain.step(ready, total, started.elapsed()) {
            tracing::info!("{line}");
        }
    }
}

/// Makes the log writers for a terminal: each log line is written at once, with the status
/// line erased before it and drawn again after it.
pub struct LogWriter;

/// One log event's bytes, written when dropped.
pub struct LogLine(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::with_capacity(256))
    }
}

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let shown = LINE.lock().unwrap_or_else(PoisonError::into_inner);
        let mut err = std::io::stderr().lock();
        let _ = match &*shown {
            Some(line) => err
                .write_all(ERASE)
                .and_then(|()| err.write_all(&self.0))
                .and_then(|()| err.write_all(line.as_bytes())),
            None => err.write_all(&self.0),
        };
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_ready_shards() {
        assert_eq!(
            bar_line(0, 100),
            format!("shards ready 0/100 [{}]   0 %", " ".repeat(BAR))
        );
        assert_eq!(
            bar_line(50, 100),
            format!(
                "shards ready 50/100 [{}{}]  50 %",
                "#".repeat(12),
                " ".repeat(12)
            )
        );
        assert_eq!(
            bar_line(3, 3),
            format!("shards ready 3/3 [{}] 100 %", "#".repeat(BAR))
        );
        assert!(bar_line(5, 3).starts_with("shards ready 3/3 "), "capped");
        assert!(
            bar_line(0, 0).ends_with("]   0 %"),
            "no shard: no division by 0"
        );
    }

    #[test]
    fn plain_lines_come_at_each_tenth_and_at_the_end() {
        let mut m = Milestones::default();
        let took = Duration::from_millis(12_340);
        let lines: Vec<String> = (0..=1000)
            .filter_map(|ready| m.step(ready, 1000, took))
            .collect();
        assert_eq!(lines.len(), 11, "{lines:#?}");
        assert_eq!(lines[0], "shards ready 0/1000 (0 %)");
        assert_eq!(lines[1], "shards ready 100/1000 (10 %)");
        assert_eq!(lines[9], "shards ready 900/1000 (90 %)");
        assert_eq!(lines[10], "all 1000 shards ready (1000/1000) in 12.3 s");
    }

    #[test]
    fn jumps_and_small_bots_stay_short() {
        let mut m = Milestones::default();
        let took = Duration::ZERO;
        assert_eq!(m.step(0, 0, took), None, "no shard yet: nothing to say");
        assert_eq!(
            m.step(35, 100, took).as_deref(),
            Some("shards ready 35/100 (35 %)")
        );
        assert_eq!(m.step(38, 100, took), None, "same tenth");
        assert_eq!(
            m.step(71, 100, took).as_deref(),
            Some("shards ready 71/100 (71 %)")
        );
        let mut one = Milestones::default();
        assert_eq!(
            one.step(0, 1, took).as_deref(),
            Some("shards ready 0/1 (0 %)")
        );
        assert_eq!(
            one.step(1, 1, took).as_deref(),
            Some("all 1 shard ready (1/1) in 0.0 s")
        );
    }

    #[test]
    fn a_log_line_is_written_whole() {
        use std::io::Write as _;
        let mut line = LogLine(Vec::new());
        line.write_all(b"part one, ").expect("buffered");
        line.write_all(b"part two\n").expect("buffered");
        assert_eq!(line.0, b"part one, part two\n");
        std::mem::forget(line);
    }
}
