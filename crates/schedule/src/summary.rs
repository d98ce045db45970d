//! The few numbers a person checks before training: fitted rates and why, warm-up and tail
//! lengths, the phase boundary and the size of the run.

use core::fmt;

use crate::curve::Curve;
use crate::schedule::Schedule;

/// A human-readable digest of a compiled schedule; `Display` prints it.
pub struct Summary<'a> {
    schedule: &'a Schedule,
}

impl Schedule {
    pub fn summary(&self) -> Summary<'_> {
        Summary { schedule: self }
    }

    /// Warm-up length in epochs and the lr it starts from, for schedules with a warm-up.
    pub fn warmup(&self) -> Option<(f64, f64)> {
        let curve = &self.phases().next()?.curve;
        curve.warm().map(|w| (w.warmup_total, curve.at(0.0)))
    }

    /// Length of the constant tail in epochs, and the epoch it starts at.
    pub fn tail(&self) -> Option<(f64, f64)> {
        self.phases()
            .next()?
            .curve
            .warm()
            .map(|w| (w.no_aug, w.tail_start()))
    }

    /// The epoch at which the backbone unfreezes, when the run crosses it.
    pub fn boundary_epoch(&self) -> Option<u32> {
        let mut phases = self.phases();
        let _first = phases.next()?;
        phases.next().map(|p| p.first_epoch)
    }

    /// The unfreeze epoch with the lr just before it and at it: the jump the refit makes.
    pub fn boundary(&self) -> Option<(u32, f64, f64)> {
        let b = self.boundary_epoch()?;
        Some((b, self.lr(b - 1, 0), self.lr(b, 0)))
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.schedule;
        let plan = s.plan();
        writeln!(
            f,
            "optimizer {} (momentum {}, weight decay {}), decay {}, epochs {}..{}, lr updated per {}",
            plan.optimizer.kind.name(),
            plan.optimizer.momentum,
            plan.optimizer.weight_decay,
            plan.decay.kind.name(),
            plan.epochs.start,
            plan.epochs.total,
            if s.per_iteration() {
                "iteration"
            } else {
                "epoch"
            },
        )?;
        for p in s.phases() {
            writeln!(
                f,
                "{:<8} epochs {}..{}, batch {}, {} step(s)/epoch: init_lr_fit {:e}, min_lr_fit {:e}",
                p.phase.name(),
                p.first_epoch,
                p.end_epoch,
                p.batch_size,
                p.iters_per_epoch,
                p.fit.init,
                p.fit.min,
            )?;
            writeln!(f, "         {}", p.fit)?;
            if let Curve::Step {
                decay_rate,
                step_size,
                ..
            } = p.curve
            {
                writeln!(
                    f,
                    "         step decay: x{decay_rate:e} every {step_size} epochs"
                )?;
            }
        }
        if let Some((w, start)) = s.warmup() {
            writeln!(f, "warm-up: {w} epochs (quadratic, from {start:e})")?;
        }
        if let Some((len, from)) = s.tail() {
            writeln!(f, "tail: {len} epochs at min_lr_fit, from epoch {from}")?;
        }
        match s.boundary() {
            Some((b, before, after)) => {
                writeln!(f, "phase boundary: epoch {b} (lr {before:e} -> {after:e})")?
            }
            None => writeln!(f, "phase boundary: none")?,
        }
        write!(f, "total: {} steps", s.total_steps())
    }
}
