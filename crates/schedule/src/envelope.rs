//! What a chart can show of millions of steps: per pixel column, the lowest and highest lr.
//!
//! A per-iteration plan of 300 epochs × 10,000 iterations has 3 million steps; a canvas is a
//! thousand pixels wide. Evaluating every step for each redraw is too slow and drawing every
//! point is slower still. Each phase's curve is monotone between its breakpoints (end of
//! warm-up, start of the tail), so a column's extremes lie at the column's first and last steps
//! or next to a breakpoint or the phase boundary: a handful of evaluations per column, exact,
//! and the warm-up, the steps and the jump keep their shape.

use alloc::vec::Vec;

use crate::schedule::Schedule;

/// The steps whose `t` falls in one column, and their lr range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column {
    /// First run index in the column.
    pub first: u64,
    /// One past the last run index in the column.
    pub end: u64,
    /// `t` of the first and last step in the column.
    pub t_first: f64,
    pub t_last: f64,
    /// Smallest and largest lr among the column's steps.
    pub lo: f64,
    pub hi: f64,
}

impl Schedule {
    /// Run index of the first step whose `t` is at least `t` (the run's length past the end).
    pub fn first_step_at_or_after(&self, t: f64) -> u64 {
        let start = self.plan().epochs.start;
        let total = self.plan().epochs.total;
        if t.is_nan() || t <= start as f64 {
            return 0;
        }
        if t >= total as f64 {
            return self.total_steps();
        }
        let epoch = libm::floor(t) as u32;
        let p = self.phase_at(epoch);
        let base = self.first_step_of_epoch(epoch).unwrap_or(0);
        let iters = p.iters_per_epoch;
        let mut i = libm::ceil((t - epoch as f64) * iters as f64) as u64;
        // The product above can round across an integer; settle on the exact first step.
        while i > 0 && self.t(epoch, i - 1) >= t {
            i -= 1;
        }
        while i < iters && self.t(epoch, i) < t {
            i += 1;
        }
        base + i
    }

    /// Splits the run into `columns` equal spans of `t` and returns, for each span with at
    /// least one step, the steps it holds and their lr range. When the run has fewer steps than
    /// columns, every step is its own column.
    pub fn envelope(&self, columns: usize) -> Vec<Column> {
        let total_steps = self.total_steps();
        let columns = columns.max(1);
        if total_steps <= columns as u64 {
            return (0..total_steps)
                .filter_map(|i| self.step(i))
                .map(|s| Column {
                    first: s.index,
                    end: s.index + 1,
                    t_first: s.t,
                    t_last: s.t,
                    lo: s.lr,
                    hi: s.lr,
                })
                .collect();
        }
        let start = self.plan().epochs.start as f64;
        let width = (self.plan().epochs.total as f64 - start) / columns as f64;
        let marks = self.breakpoint_steps();
        let mut out = Vec::with_capacity(columns);
        let mut first = 0;
        for c in 1..=columns {
            let end = if c == columns {
                total_steps
            } else {
                self.first_step_at_or_after(start + width * c as f64)
            };
            if end > first {
                out.push(self.column(first, end, &marks));
                first = end;
            }
        }
        out
    }

    /// Run indices next to which a phase's curve may change direction or jump.
    fn breakpoint_steps(&self) -> Vec<u64> {
        let mut marks = Vec::new();
        for p in self.phases() {
            marks.push(p.first_step);
            for bp in p.curve.breakpoints() {
                if bp.is_finite() && bp >= p.first_epoch as f64 && bp < p.end_epoch as f64 {
                    marks.push(self.first_step_at_or_after(bp));
                }
            }
        }
        marks
    }

    fn column(&self, first: u64, end: u64, marks: &[u64]) -> Column {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut visit = |i: u64| {
            if let Some(s) = self.step(i) {
                lo = lo.min(s.lr);
                hi = hi.max(s.lr);
            }
        };
        visit(first);
        visit(end - 1);
        for &m in marks {
            for i in [m.saturating_sub(1), m, m + 1] {
                if (first..end).contains(&i) {
                    visit(i);
                }
            }
        }
        let t_of = |i| self.step(i).map_or(0.0, |s| s.t);
        Column {
            first,
            end,
            t_first: t_of(first),
            t_last: t_of(end - 1),
            lo,
            hi,
        }
    }
}
