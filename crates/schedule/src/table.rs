//! The table: every step of the run with its epoch, iteration, phase, batch size and lr, and
//! its CSV form, the one format the page exports and the trainer logs so that the two can be
//! compared line for line.

use alloc::string::String;
use core::fmt::Write;

use crate::schedule::{Phase, Schedule};

/// One learning-rate update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Run index, 0 at the first iteration of `epochs.start`.
    pub index: u64,
    pub epoch: u32,
    /// Iteration within the epoch; always 0 for per-epoch plans.
    pub iteration: u64,
    pub phase: Phase,
    pub batch_size: u32,
    /// Position on the curve in epochs.
    pub t: f64,
    pub lr: f64,
}

/// The CSV header matching [`Step::write_csv`].
pub const CSV_HEADER: &str = "step,epoch,iteration,phase,batch_size,lr";

impl Step {
    /// Appends one CSV line (with a newline). The lr is written with Rust's shortest
    /// round-trip formatting, so parsing it back gives the same bits.
    pub fn write_csv(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:e}",
            self.index,
            self.epoch,
            self.iteration,
            self.phase.name(),
            self.batch_size,
            self.lr
        );
    }
}

/// Iterator over a run's steps, walking phase by phase without division per step.
pub struct Steps<'a> {
    schedule: &'a Schedule,
    next: u64,
    end: u64,
}

impl<'a> Steps<'a> {
    pub(crate) fn new(schedule: &'a Schedule, from: u64) -> Self {
        Steps {
            schedule,
            next: from,
            end: schedule.total_steps(),
        }
    }
}

impl Iterator for Steps<'_> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        if self.next >= self.end {
            return None;
        }
        let s = self.schedule.step(self.next);
        self.next += 1;
        s
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next.min(self.end)) as usize;
        (n, Some(n))
    }
}

/// The whole table as CSV (header included).
pub fn to_csv(schedule: &Schedule) -> String {
    let mut out = String::with_capacity(32 * schedule.total_steps().min(1 << 24) as usize);
    out.push_str(CSV_HEADER);
    out.push('\n');
    for s in schedule.steps() {
        s.write_csv(&mut out);
    }
    out
}
