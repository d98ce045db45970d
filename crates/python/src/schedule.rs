//! `lrplan.Schedule`: a compiled plan, with the facts a person checks (the fit per phase and
//! why, warm-up, tail, the phase boundary) and the lr of every step. Every number is the
//! schedule crate's; nothing here computes a learning rate.

use lrplan_schedule::{self as core, Clamp, PhaseSchedule, table};
use numpy::PyArray1;
use pyo3::prelude::*;

use crate::error::Error;
use crate::plan::Plan;
use crate::py_repr;
use crate::table::{Row, lrs, rows};

/// A compiled plan: what the lr is at each step. Build it with `Plan.schedule()`.
///
/// Steps are numbered from 0 at the first iteration of `epochs.start`; a per-epoch plan has one
/// step per epoch, a per-iteration plan one per iteration. Evaluating a step is a pure function
/// of it, so any step can be asked for in any order.
#[pyclass(frozen, module = "lrplan")]
pub struct Schedule {
    schedule: core::Schedule,
}

impl Schedule {
    pub fn new(plan: &core::Plan) -> Result<Schedule, Error> {
        Ok(Schedule {
            schedule: core::Schedule::new(plan)?,
        })
    }

    /// The run index `index` (negative counts from the end, as in a list), checked.
    fn index(&self, index: i64) -> Result<u64, Error> {
        let total = self.schedule.total_steps();
        let i = if index < 0 {
            total as i128 + index as i128
        } else {
            index as i128
        };
        if (0..total as i128).contains(&i) {
            Ok(i as u64)
        } else {
            Err(Error::NoStep {
                index: index as i128,
                total,
            })
        }
    }
}

#[pymethods]
impl Schedule {
    /// The plan this schedule was compiled from.
    #[getter]
    fn plan(&self) -> Plan {
        Plan {
            plan: *self.schedule.plan(),
        }
    }

    /// True when the lr changes every iteration, False when once per epoch.
    #[getter]
    fn per_iteration(&self) -> bool {
        self.schedule.per_iteration()
    }

    /// Steps in the whole run, from `epochs.start`.
    #[getter]
    fn total_steps(&self) -> u64 {
        self.schedule.total_steps()
    }

    fn __len__(&self) -> usize {
        self.schedule.total_steps() as usize
    }

    /// The learning rate at iteration `iteration` of `epoch` (0 for per-epoch plans): the value
    /// the page shows, the CSV holds and the trainer applies. Raises ValueError outside the run.
    #[pyo3(signature = (epoch, iteration = 0))]
    fn lr(&self, epoch: u32, iteration: u64) -> Result<f64, Error> {
        let p = self.phase_of(epoch)?;
        if iteration >= p.iters_per_epoch {
            return Err(Error::Outside(format!(
                "iteration {iteration} is outside epoch {epoch}: it has {} ({})",
                p.iters_per_epoch,
                if self.schedule.per_iteration() {
                    "iterations 0 to iters_per_epoch - 1"
                } else {
                    "a per-epoch plan: iteration 0 only"
                }
            )));
        }
        Ok(self.schedule.lr(epoch, iteration))
    }

    /// The step with run index `index` (negative counts from the end). Raises IndexError past
    /// either end.
    fn step(&self, index: i64) -> Result<Step, Error> {
        let i = self.index(index)?;
        Ok(Step::from(self.schedule.step(i).ok_or(Error::NoStep {
            index: index as i128,
            total: self.schedule.total_steps(),
        })?))
    }

    /// The steps in order from run index `start`: the rows of `lrplan --format csv`, lazily.
    #[pyo3(signature = (start = 0))]
    fn steps(slf: &Bound<'_, Self>, start: u64) -> Steps {
        Steps {
            schedule: slf.clone().unbind(),
            next: start,
            end: slf.get().schedule.total_steps(),
        }
    }

    /// Run index of the first step of `epoch`, or None outside the run.
    fn first_step_of_epoch(&self, epoch: u32) -> Option<u64> {
        self.schedule.first_step_of_epoch(epoch)
    }

    /// The whole table as CSV, header included: byte for byte what `lrplan --format csv` prints
    /// and the page downloads.
    fn csv(&self, py: Python<'_>) -> String {
        py.detach(|| table::to_csv(&self.schedule))
    }

    /// The whole table as a NumPy structured array, one row per step, filled in Rust: fields
    /// `step`, `epoch`, `iteration` (uint64/uint32), `phase` (uint8, an index into
    /// `lrplan.PHASES`), `batch_size` (uint32), `t` (the position on the curve in epochs) and
    /// `lr` (float64).
    fn table<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<Row>>> {
        rows(py, &self.schedule)
    }

    /// Every step's lr as a float64 array (the `lr` column of `table()`, contiguous).
    fn lrs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        lrs(py, &self.schedule)
    }

    /// The phases in order: one, or two when a frozen phase precedes the unfrozen one.
    #[getter]
    fn phases(&self) -> Vec<Phase> {
        self.schedule
            .phases()
            .map(|p| Phase { phase: *p })
            .collect()
    }

    /// The phase that trains `epoch`. Raises ValueError outside the run.
    fn phase_at(&self, epoch: u32) -> Result<Phase, Error> {
        Ok(Phase {
            phase: *self.phase_of(epoch)?,
        })
    }

    /// The quadratic warm-up (cos and linear decay), None for the others.
    #[getter]
    fn warmup(&self) -> Option<Warmup> {
        self.schedule
            .warmup()
            .map(|(epochs, start_lr)| Warmup { epochs, start_lr })
    }

    /// The constant tail at the fitted minimum (cos and linear decay), None for the others.
    #[getter]
    fn tail(&self) -> Option<Tail> {
        self.schedule.tail().map(|(epochs, start_epoch)| Tail {
            epochs,
            start_epoch,
        })
    }

    /// Where the backbone unfreezes and the lr jumps with the refit, None without a second
    /// phase in the run.
    #[getter]
    fn boundary(&self) -> Option<Boundary> {
        self.schedule
            .boundary()
            .map(|(epoch, lr_before, lr_after)| Boundary {
                epoch,
                lr_before,
                lr_after,
            })
    }

    /// The summary `lrplan PLAN` prints: fits and why, warm-up, tail, boundary, step count.
    fn summary(&self) -> String {
        self.schedule.summary().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "<lrplan.Schedule {} steps, per {}>",
            self.schedule.total_steps(),
            if self.schedule.per_iteration() {
                "iteration"
            } else {
                "epoch"
            }
        )
    }
}

impl Schedule {
    fn phase_of(&self, epoch: u32) -> Result<&PhaseSchedule, Error> {
        let plan = self.schedule.plan();
        if !(plan.epochs.start..plan.epochs.total).contains(&epoch) {
            return Err(Error::Outside(format!(
                "epoch {epoch} is outside the run: epochs {}..{} \
                 (epochs.start to epochs.total - 1)",
                plan.epochs.start,
                plan.epochs.total - 1
            )));
        }
        Ok(self.schedule.phase_at(epoch))
    }
}

/// One step of the run: a row of the CSV, with `t`, its position on the curve in epochs.
#[pyclass(frozen, eq, module = "lrplan", get_all)]
#[derive(Clone, PartialEq)]
pub struct Step {
    /// Run index, 0 at the first iteration of `epochs.start` (the CSV's `step`).
    pub step: u64,
    /// The epoch the step trains.
    pub epoch: u32,
    /// Iteration within the epoch; always 0 for per-epoch plans.
    pub iteration: u64,
    /// "freeze" or "unfreeze".
    pub phase: &'static str,
    /// The phase's batch size.
    pub batch_size: u32,
    /// Position on the curve in epochs: `epoch + iteration / iters_per_epoch`.
    pub t: f64,
    /// The learning rate of the step.
    pub lr: f64,
}

impl From<core::Step> for Step {
    fn from(s: core::Step) -> Self {
        Step {
            step: s.index,
            epoch: s.epoch,
            iteration: s.iteration,
            phase: s.phase.name(),
            batch_size: s.batch_size,
            t: s.t,
            lr: s.lr,
        }
    }
}

#[pymethods]
impl Step {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Step(step={}, epoch={}, iteration={}, phase={}, batch_size={}, t={}, lr={})",
            self.step,
            self.epoch,
            self.iteration,
            py_repr(py, self.phase)?,
            self.batch_size,
            py_repr(py, self.t)?,
            py_repr(py, self.lr)?
        ))
    }
}

/// Iterator over a schedule's steps (`Schedule.steps()`).
#[pyclass(module = "lrplan")]
pub struct Steps {
    schedule: Py<Schedule>,
    next: u64,
    end: u64,
}

#[pymethods]
impl Steps {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self) -> Option<Step> {
        if self.next >= self.end {
            return None;
        }
        let step = self.schedule.get().schedule.step(self.next)?;
        self.next += 1;
        Some(step.into())
    }

    /// Steps left.
    fn __length_hint__(&self) -> u64 {
        self.end.saturating_sub(self.next)
    }
}

/// One phase of the run: its epochs, batch size, steps and the fit of its learning rates.
#[pyclass(frozen, module = "lrplan")]
pub struct Phase {
    phase: PhaseSchedule,
}

#[pymethods]
impl Phase {
    /// "freeze" (backbone frozen) or "unfreeze".
    #[getter]
    fn name(&self) -> &'static str {
        self.phase.phase.name()
    }

    /// First epoch of the phase.
    #[getter]
    fn first_epoch(&self) -> u32 {
        self.phase.first_epoch
    }

    /// One past the phase's last epoch.
    #[getter]
    fn end_epoch(&self) -> u32 {
        self.phase.end_epoch
    }

    /// The batch size the phase trains at.
    #[getter]
    fn batch_size(&self) -> u32 {
        self.phase.batch_size
    }

    /// Learning-rate updates per epoch: 1 for per-epoch plans, else the loader's batches.
    #[getter]
    fn iters_per_epoch(&self) -> u64 {
        self.phase.iters_per_epoch
    }

    /// Run index of the phase's first step.
    #[getter]
    fn first_step(&self) -> u64 {
        self.phase.first_step
    }

    /// Steps in the phase.
    #[getter]
    fn steps(&self) -> u64 {
        self.phase.steps()
    }

    /// The learning rates fitted to this phase's batch size.
    #[getter]
    fn fit(&self) -> Fit {
        Fit {
            fit: self.phase.fit,
        }
    }

    /// Step decay only: `(decay_rate, step_size)`, the factor and its period in epochs.
    #[getter]
    fn step_decay(&self) -> Option<(f64, f64)> {
        match self.phase.curve {
            core::Curve::Step {
                decay_rate,
                step_size,
                ..
            } => Some((decay_rate, step_size)),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<lrplan.Phase {} epochs {}..{}, batch {}, {} step(s)/epoch>",
            self.name(),
            self.phase.first_epoch,
            self.phase.end_epoch,
            self.phase.batch_size,
            self.phase.iters_per_epoch
        )
    }
}

/// The learning rates fitted to a batch size: `min(max(bs / nbs * lr, limit_min), limit_max)`,
/// with which bound, if any, decided. `str(fit)` explains it in one line.
#[pyclass(frozen, module = "lrplan")]
pub struct Fit {
    fit: core::Fit,
}

#[pymethods]
impl Fit {
    /// The lr the schedule starts from (`Init_lr_fit`).
    #[getter]
    fn init(&self) -> f64 {
        self.fit.init
    }

    /// The lr the schedule ends at (`Min_lr_fit`).
    #[getter]
    fn min(&self) -> f64 {
        self.fit.min
    }

    /// `bs / nbs * lr.init`, before clamping.
    #[getter]
    fn init_scaled(&self) -> f64 {
        self.fit.init_scaled
    }

    /// `bs / nbs * lr.min`, before clamping.
    #[getter]
    fn min_scaled(&self) -> f64 {
        self.fit.min_scaled
    }

    /// How the clamp changed `init`: "none", "up" (to limit_min) or "down" (to limit_max).
    #[getter]
    fn init_clamp(&self) -> &'static str {
        clamp_name(self.fit.init_clamp)
    }

    /// How the clamp changed `min`: "none", "up" or "down" (to the limits times 1e-2).
    #[getter]
    fn min_clamp(&self) -> &'static str {
        clamp_name(self.fit.min_clamp)
    }

    /// The upper clamp of `init` (`min` uses it times 1e-2).
    #[getter]
    fn limit_max(&self) -> f64 {
        self.fit.limits.max
    }

    /// The lower clamp of `init` (`min` uses it times 1e-2).
    #[getter]
    fn limit_min(&self) -> f64 {
        self.fit.limits.min
    }

    /// The batch size fitted to.
    #[getter]
    fn batch_size(&self) -> u32 {
        self.fit.batch_size
    }

    /// The nominal batch size `lr.init` and `lr.min` are given for.
    #[getter]
    fn nbs(&self) -> u32 {
        self.fit.nbs
    }

    /// The explanation, e.g. `bs 16 / nbs 64: init_lr -> 2.5e-3 (within limits); ...`.
    fn __str__(&self) -> String {
        self.fit.to_string()
    }

    fn __repr__(&self) -> String {
        format!("<lrplan.Fit {}>", self.fit)
    }
}

fn clamp_name(c: Clamp) -> &'static str {
    match c {
        Clamp::None => "none",
        Clamp::Up => "up",
        Clamp::Down => "down",
    }
}

/// The quadratic warm-up: its length in epochs and the lr it starts from.
#[pyclass(frozen, module = "lrplan", get_all)]
pub struct Warmup {
    /// Length in epochs: `min(max(warmup_iters_ratio * total, 1), 3)`.
    pub epochs: f64,
    /// The lr at step 0: `max(warmup_lr_ratio * init, 1e-6)`.
    pub start_lr: f64,
}

/// The constant tail at the fitted minimum: its length in epochs and where it starts.
#[pyclass(frozen, module = "lrplan", get_all)]
pub struct Tail {
    /// Length in epochs: `min(max(no_aug_iter_ratio * total, 1), 15)`.
    pub epochs: f64,
    /// The epoch from which the lr is the fitted minimum: `total - epochs`.
    pub start_epoch: f64,
}

/// The unfreeze epoch, with the lr of the last step before it and of the first at it (the
/// refit's jump).
#[pyclass(frozen, module = "lrplan", get_all)]
pub struct Boundary {
    /// The first epoch of the unfrozen phase.
    pub epoch: u32,
    /// The lr of the frozen phase's last step (a per-iteration plan's last iteration).
    pub lr_before: f64,
    /// The lr of the unfrozen phase's first step, from the refitted rates.
    pub lr_after: f64,
}

#[pymethods]
impl Warmup {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Warmup(epochs={}, start_lr={})",
            py_repr(py, self.epochs)?,
            py_repr(py, self.start_lr)?
        ))
    }
}

#[pymethods]
impl Tail {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Tail(epochs={}, start_epoch={})",
            py_repr(py, self.epochs)?,
            py_repr(py, self.start_epoch)?
        ))
    }
}

#[pymethods]
impl Boundary {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Boundary(epoch={}, lr_before={}, lr_after={})",
            self.epoch,
            py_repr(py, self.lr_before)?,
            py_repr(py, self.lr_after)?
        ))
    }
}
