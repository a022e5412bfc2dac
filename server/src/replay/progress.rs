//! The progress bar of a replay, on standard error: share done, events per second, and the time
//! left, from the bytes read of the files' total. On a terminal it redraws one line; otherwise it
//! writes a line every few seconds, so a log file gets progress without a flood.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    what: &'static str,
    total: u64,
    started: Instant,
    last: Option<Instant>,
    terminal: bool,
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Progress {
        Progress { what, total: total.max(1), started: Instant::now(), last: None, terminal: std::io::stderr().is_terminal() }
    }

    pub fn tick(&mut self, bytes: u64, events: u64) {
        let every = if self.terminal { Duration::from_millis(200) } else { Duration::from_secs(5) };
        if self.last.is_some_and(|l| l.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        self.draw(bytes, events, false);
    }

    pub fn finish(&mut self, bytes: u64, events: u64) {
        self.draw(bytes.max(self.total), events, true);
    }

    fn draw(&self, bytes: u64, events: u64, done: bool) {
        let share = (bytes as f64 / self.total as f64).min(1.0);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = events as f64 / secs;
        let left = if share > 0.0 && !done { secs * (1.0 - share) / share } else { 0.0 };
        let width = 30;
        let filled = (share * width as f64).round() as usize;
        let line = format!(
            "{:<8} [{}{}] {:>3.0}%  {} events  {:.0} events/s  {}",
            self.what,
            "#".repeat(filled),
            "-".repeat(width - filled),
            share * 100.0,
            events,
            rate,
            if done { format!("took {secs:.1} s") } else { format!("ETA {left:.0} s") }
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r{line}\x1b[K{}", if done { "\n" } else { "" });
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}
