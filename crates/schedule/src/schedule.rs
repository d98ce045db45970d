//! A validated plan compiled into its phases: the answer to "what is the lr at this step".
//!
//! The original rebuilds its scheduler when the backbone unfreezes: the fit is recomputed for
//! the new batch size and the curve rebuilt over the same total length, so the warm-up is not
//! repeated but the value can jump. Each [`PhaseSchedule`] is exactly one such rebuilt
//! scheduler; [`Schedule::lr`] picks the phase by epoch and evaluates it.

use crate::curve::{Curve, Shape};
use crate::error::PlanError;
use crate::fit::Fit;
use crate::plan::{Plan, UpdateUnit};
use crate::table::{Step, Steps};

/// Which part of a two-phase run a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Backbone frozen, `phases.freeze_batch_size`.
    Freeze,
    /// Everything trains, `phases.unfreeze_batch_size` (the only phase without freezing).
    Unfreeze,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Freeze => "freeze",
            Phase::Unfreeze => "unfreeze",
        }
    }
}

/// One phase: its epochs, its batch size, its fit and the curve rebuilt from that fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseSchedule {
    pub phase: Phase,
    /// First epoch of the phase (inclusive).
    pub first_epoch: u32,
    /// One past the last epoch of the phase.
    pub end_epoch: u32,
    pub batch_size: u32,
    /// Learning-rate updates per epoch: 1 for per-epoch plans.
    pub iters_per_epoch: u64,
    pub fit: Fit,
    pub curve: Curve,
    /// Index (in the run's step numbering) of the phase's first step.
    pub first_step: u64,
}

impl PhaseSchedule {
    /// Steps in this phase.
    pub fn steps(&self) -> u64 {
        (self.end_epoch - self.first_epoch) as u64 * self.iters_per_epoch
    }
}

/// A compiled plan. Cheap to evaluate at any step, in any order.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    plan: Plan,
    /// The phases that cover `epochs.start..epochs.total`, in order; one or two.
    phases: [Option<PhaseSchedule>; 2],
    per_iteration: bool,
}

impl Schedule {
    /// Validates and compiles a plan.
    pub fn new(plan: &Plan) -> Result<Schedule, PlanError> {
        plan.validate()?;
        let start = plan.epochs.start;
        let total = plan.epochs.total;
        let boundary = if plan.has_freeze_phase() {
            plan.phases.freeze_epochs
        } else {
            0
        };
        let shape = Shape {
            warmup_iters_ratio: plan.decay.warmup_iters_ratio,
            warmup_lr_ratio: plan.decay.warmup_lr_ratio,
            no_aug_iter_ratio: plan.decay.no_aug_iter_ratio,
            step_num: plan.decay.step_num,
        };
        let build = |phase, first_epoch: u32, end_epoch: u32, batch_size, first_step| {
            let fit = Fit::new(
                plan.lr.init,
                plan.lr.min,
                batch_size,
                plan.lr.nbs,
                plan.limits(),
            );
            PhaseSchedule {
                phase,
                first_epoch,
                end_epoch,
                batch_size,
                iters_per_epoch: plan.iters_per_epoch(batch_size).unwrap_or(1),
                curve: Curve::new(plan.decay.kind, fit.init, fit.min, total, &shape),
                fit,
                first_step,
            }
        };
        let mut phases = [None, None];
        let mut next = 0;
        let mut first_step = 0;
        if start < boundary {
            let p = build(
                Phase::Freeze,
                start,
                boundary,
                plan.phases.freeze_batch_size,
                0,
            );
            first_step = p.steps();
            phases[0] = Some(p);
            next = 1;
        }
        if boundary < total {
            phases[next] = Some(build(
                Phase::Unfreeze,
                start.max(boundary),
                total,
                plan.phases.unfreeze_batch_size,
                first_step,
            ));
        }
        Ok(Schedule {
            plan: *plan,
            phases,
            per_iteration: plan.updates.per == UpdateUnit::Iteration,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The phases in order.
    pub fn phases(&self) -> impl Iterator<Item = &PhaseSchedule> {
        self.phases.iter().flatten()
    }

    /// The phase that trains `epoch`; epochs outside the run get the nearest phase.
    pub fn phase_at(&self, epoch: u32) -> &PhaseSchedule {
        let mut chosen = None;
        for p in self.phases() {
            if chosen.is_none() || epoch >= p.first_epoch {
                chosen = Some(p);
            }
        }
        // `new` always builds at least one phase: epochs.start < epochs.total.
        chosen.expect("a compiled schedule has a phase")
    }

    /// Whether the lr is updated every iteration rather than every epoch.
    pub fn per_iteration(&self) -> bool {
        self.per_iteration
    }

    /// Steps in the whole run, from `epochs.start`.
    pub fn total_steps(&self) -> u64 {
        self.phases().map(PhaseSchedule::steps).sum()
    }

    /// Where on the curve step `(epoch, iteration)` sits: `epoch` per epoch, else
    /// `epoch + iteration / iters_per_epoch`, exactly as written here on every platform.
    pub fn t(&self, epoch: u32, iteration: u64) -> f64 {
        if self.per_iteration {
            let iters = self.phase_at(epoch).iters_per_epoch;
            epoch as f64 + iteration as f64 / iters as f64
        } else {
            epoch as f64
        }
    }

    /// The learning rate of iteration `iteration` of `epoch` (iteration 0 for per-epoch plans).
    /// This is the value both the page and the trainer use.
    pub fn lr(&self, epoch: u32, iteration: u64) -> f64 {
        self.phase_at(epoch).curve.at(self.t(epoch, iteration))
    }

    /// The step with run index `index` (0 = first iteration of `epochs.start`), or `None` past
    /// the end.
    pub fn step(&self, index: u64) -> Option<Step> {
        let p = self.phases().find(|p| index < p.first_step + p.steps())?;
        let within = index - p.first_step;
        let epoch = p.first_epoch + (within / p.iters_per_epoch) as u32;
        let iteration = within % p.iters_per_epoch;
        Some(self.step_at(p, index, epoch, iteration))
    }

    pub(crate) fn step_at(
        &self,
        p: &PhaseSchedule,
        index: u64,
        epoch: u32,
        iteration: u64,
    ) -> Step {
        let t = self.t(epoch, iteration);
        Step {
            index,
            epoch,
            iteration,
            phase: p.phase,
            batch_size: p.batch_size,
            t,
            lr: p.curve.at(t),
        }
    }

    /// Every step of the run in order, lazily: millions of steps cost no memory.
    pub fn steps(&self) -> Steps<'_> {
        Steps::new(self, 0)
    }

    /// The steps from run index `from` on (resuming).
    pub fn steps_from(&self, from: u64) -> Steps<'_> {
        Steps::new(self, from)
    }

    /// Run index of the first step of `epoch`, or `None` outside the run.
    pub fn first_step_of_epoch(&self, epoch: u32) -> Option<u64> {
        let p = self
            .phases()
            .find(|p| (p.first_epoch..p.end_epoch).contains(&epoch))?;
        Some(p.first_step + (epoch - p.first_epoch) as u64 * p.iters_per_epoch)
    }
}
