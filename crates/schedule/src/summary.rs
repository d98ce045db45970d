//! The few numbers a person checks before training: fitted rates and why, warm-up and tail
//! lengths, the phase boundary and the size of the run.

use core::fmt;

use crate::curve::Curve;
use crate::number::Number;
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

    /// The unfreeze epoch with the lr of the last step of the frozen phase and of the first
    /// step after it: the jump the refit makes. In a per-iteration plan the last frozen step
    /// is the last iteration of epoch `b - 1`, not its first (whose lr is an epoch's decay
    /// away from the boundary, a jump that is not there).
    pub fn boundary(&self) -> Option<(u32, f64, f64)> {
        let mut phases = self.phases();
        let _frozen = phases.next()?;
        let first = phases.next()?.first_step;
        // The frozen phase has at least one step, so `first >= 1`.
        let (before, after) = (self.step(first - 1)?, self.step(first)?);
        Some((after.epoch, before.lr, after.lr))
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
            Number(plan.optimizer.momentum),
            Number(plan.optimizer.weight_decay),
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

#[cfg(test)]
mod tests {
    use crate::plan::{Plan, UpdateUnit};
    use crate::schedule::{Phase, Schedule};

    /// The default plan (50 frozen epochs of 300, cos) updated every one of 37 iterations.
    fn per_iteration() -> Schedule {
        let mut plan = Plan::default();
        plan.updates.per = UpdateUnit::Iteration;
        plan.updates.iters_per_epoch = Some(37);
        Schedule::new(&plan).unwrap()
    }

    #[test]
    fn the_boundary_jump_is_from_the_last_frozen_step_to_the_first_unfrozen_one() {
        let s = per_iteration();
        let (b, before, after) = s.boundary().unwrap();
        assert_eq!(b, 50);
        let mut steps = s.steps().skip_while(|x| x.phase == Phase::Freeze);
        let first = steps.next().unwrap();
        let last = s.step(first.index - 1).unwrap();
        assert_eq!(
            (last.epoch, last.iteration, last.phase),
            (49, 36, Phase::Freeze)
        );
        assert_eq!((first.epoch, first.iteration), (50, 0));
        // Each value straight from its phase's curve, at t = 49 + 36/37 and t = 50.
        let phases: [_; 2] = core::array::from_fn(|i| s.phases().nth(i).unwrap().curve);
        assert_eq!(before.to_bits(), phases[0].at(49.0 + 36.0 / 37.0).to_bits());
        assert_eq!(after.to_bits(), phases[1].at(50.0).to_bits());
        // Iteration 0 of epoch 49 is a whole epoch of decay before the boundary.
        assert_ne!(before.to_bits(), s.lr(49, 0).to_bits());
    }

    #[test]
    fn per_epoch_and_single_phase_boundaries() {
        let s = Schedule::new(&Plan::default()).unwrap();
        assert_eq!(s.boundary(), Some((50, s.lr(49, 0), s.lr(50, 0))));
        let mut plan = Plan::default();
        plan.epochs.start = 50;
        assert_eq!(Schedule::new(&plan).unwrap().boundary(), None);
    }
}
