//! The user's whole configuration: what the page edits, the plan file holds and the trainer
//! reads. Defaults are the original's (bubbliiiing's YOLO training scripts): SGD at 1e-2 with
//! momentum 0.937 and weight decay 5e-4, cosine decay over 300 epochs, a 50-epoch frozen
//! backbone phase at batch size 16, then batch size 8, one update of the lr per epoch.

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use crate::error::{PlanError, Violation};
use crate::fit::Limits;
use crate::number::Number;

/// The plan-file names of a kind, and the conversions both ways. Variants are listed in
/// declaration order, so `ALL[i] as usize == i` and a kind's index is its position in `NAMES`
/// (the field table stores kinds by index).
macro_rules! named {
    ($kind:ident: $($variant:ident = $name:literal),+) => {
        impl $kind {
            pub const ALL: [$kind; [$($name),+].len()] = [$($kind::$variant),+];
            /// How the plan file and the page spell each kind, in the order of `ALL`.
            pub const NAMES: [&'static str; [$($name),+].len()] = [$($name),+];

            pub fn name(self) -> &'static str {
                Self::NAMES[self as usize]
            }

            pub fn from_name(name: &str) -> Option<Self> {
                Self::NAMES.iter().position(|n| *n == name).map(|i| Self::ALL[i])
            }
        }
    };
}

/// The optimizer the plan is for. It picks the default fitting limits; the trainer also builds
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum OptimizerKind {
    /// SGD with Nesterov momentum.
    #[default]
    Sgd,
    /// Adam with betas (momentum, 0.999), L2 weight decay.
    Adam,
    /// AdamW, decoupled weight decay.
    AdamW,
}

named!(OptimizerKind: Sgd = "sgd", Adam = "adam", AdamW = "adamw");

/// Which schedule the learning rate follows after fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum DecayKind {
    #[default]
    Cos,
    Step,
    Linear,
    Constant,
}

named!(DecayKind: Cos = "cos", Step = "step", Linear = "linear", Constant = "constant");

/// How often the learning rate is written into the optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum UpdateUnit {
    /// Once before each epoch, at `t = epoch` (the original).
    #[default]
    Epoch,
    /// Before every iteration, at `t = epoch + i / iters_per_epoch`.
    Iteration,
}

named!(UpdateUnit: Epoch = "epoch", Iteration = "iteration");

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct OptimizerSettings {
    pub kind: OptimizerKind,
    /// SGD momentum, or Adam's beta1.
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        OptimizerSettings {
            kind: OptimizerKind::Sgd,
            momentum: 0.937,
            weight_decay: 5e-4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct LrSettings {
    /// `Init_lr`, the rate for a batch of `nbs` before clamping.
    pub init: f64,
    /// `Min_lr`, conventionally `init * 0.01`.
    pub min: f64,
    /// The nominal batch size the rates are given for.
    pub nbs: u32,
    /// Overrides the optimizer's default `lr_limit_max`; `None` means the default.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub limit_max: Option<f64>,
    /// Overrides the optimizer's default `lr_limit_min`; `None` means the default.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub limit_min: Option<f64>,
}

impl Default for LrSettings {
    fn default() -> Self {
        LrSettings {
            init: 1e-2,
            min: 1e-4,
            nbs: 64,
            limit_max: None,
            limit_min: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct DecaySettings {
    pub kind: DecayKind,
    pub warmup_iters_ratio: f64,
    pub warmup_lr_ratio: f64,
    pub no_aug_iter_ratio: f64,
    pub step_num: u32,
}

impl Default for DecaySettings {
    fn default() -> Self {
        DecaySettings {
            kind: DecayKind::Cos,
            warmup_iters_ratio: 0.05,
            warmup_lr_ratio: 0.1,
            no_aug_iter_ratio: 0.05,
            step_num: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct EpochSettings {
    /// Length of the whole run (`UnFreeze_Epoch`); the schedule spans it in both phases.
    pub total: u32,
    /// First epoch to train (`Init_Epoch`), e.g. when resuming by hand.
    pub start: u32,
}

impl Default for EpochSettings {
    fn default() -> Self {
        EpochSettings {
            total: 300,
            start: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct PhaseSettings {
    /// Train a frozen-backbone phase first (`Freeze_Train`).
    pub freeze: bool,
    /// Epochs of the frozen phase (`Freeze_Epoch`).
    pub freeze_epochs: u32,
    /// Batch size while frozen (`Freeze_batch_size`).
    pub freeze_batch_size: u32,
    /// Batch size once unfrozen, and of the whole run without a frozen phase.
    pub unfreeze_batch_size: u32,
}

impl Default for PhaseSettings {
    fn default() -> Self {
        PhaseSettings {
            freeze: true,
            freeze_epochs: 50,
            freeze_batch_size: 16,
            unfreeze_batch_size: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct UpdateSettings {
    pub per: UpdateUnit,
    /// Per-iteration updates: a fixed iteration count for every epoch of both phases.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub iters_per_epoch: Option<u32>,
    /// Per-iteration updates: the training set size, from which each phase's iteration count
    /// follows its batch size.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub dataset_size: Option<u64>,
    /// With `dataset_size`: drop the last partial batch (`floor`, the original's loader) or keep
    /// it (`ceil`).
    pub drop_last: bool,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        UpdateSettings {
            per: UpdateUnit::Epoch,
            iters_per_epoch: None,
            dataset_size: None,
            drop_last: true,
        }
    }
}

/// A complete learning-rate plan. Every field has the original's default, so a plan file only
/// needs the fields it changes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Plan {
    pub optimizer: OptimizerSettings,
    pub lr: LrSettings,
    pub decay: DecaySettings,
    pub epochs: EpochSettings,
    pub phases: PhaseSettings,
    pub updates: UpdateSettings,
}

/// Batches a loader yields from `samples` items at `batch_size`: `floor` when the last partial
/// batch is dropped (the original's loader), `ceil` when it is kept. The one definition of an
/// epoch's length, shared by the schedule and the trainer's loader, so the two cannot disagree
/// on how many iterations an epoch has. A batch size of 0 counts as 1.
pub fn batches_per_epoch(samples: u64, batch_size: u32, drop_last: bool) -> u64 {
    let bs = batch_size.max(1) as u64;
    if drop_last {
        samples / bs
    } else {
        samples.div_ceil(bs)
    }
}

/// Upper bounds that keep step counts and indices far from overflow and a browser responsive.
pub const MAX_EPOCHS: u32 = 100_000;
pub const MAX_ITERS_PER_EPOCH: u64 = 100_000_000;
pub const MAX_TOTAL_STEPS: u64 = 1 << 40;

impl Plan {
    /// The limits in force: the user's overrides, else the optimizer's defaults.
    pub fn limits(&self) -> Limits {
        let d = Limits::default_for(self.optimizer.kind);
        Limits {
            max: self.lr.limit_max.unwrap_or(d.max),
            min: self.lr.limit_min.unwrap_or(d.min),
        }
    }

    /// Whether the run has a frozen-backbone phase that actually covers epochs.
    pub fn has_freeze_phase(&self) -> bool {
        self.phases.freeze && self.phases.freeze_epochs > 0
    }

    /// Iterations in one epoch trained at `batch_size`; `None` for per-epoch updates.
    pub fn iters_per_epoch(&self, batch_size: u32) -> Option<u64> {
        if self.updates.per == UpdateUnit::Epoch {
            return None;
        }
        if let Some(n) = self.updates.iters_per_epoch {
            return Some(n as u64);
        }
        let size = self.updates.dataset_size?;
        Some(batches_per_epoch(size, batch_size, self.updates.drop_last))
    }

    /// Checks every field; all violations are returned, not just the first, in the order of
    /// the file's sections.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut v = Check::default();
        self.check_optimizer(&mut v);
        self.check_lr(&mut v);
        self.check_decay_and_epochs(&mut v);
        self.check_phases(&mut v);
        self.check_updates(&mut v);
        if v.0.is_empty() {
            let steps = self.total_steps_unchecked();
            v.rule(
                "epochs.total",
                steps <= MAX_TOTAL_STEPS,
                &format!("gives {steps} steps; at most {MAX_TOTAL_STEPS} are supported"),
                self.epochs.total,
            );
        }
        if v.0.is_empty() {
            Ok(())
        } else {
            Err(PlanError::Invalid(v.0))
        }
    }

    /// `optimizer.*`.
    fn check_optimizer(&self, v: &mut Check) {
        let o = &self.optimizer;
        v.rule(
            "optimizer.momentum",
            o.momentum.is_finite() && (0.0..1.0).contains(&o.momentum),
            "must be at least 0 and less than 1",
            Number(o.momentum),
        );
        v.rule(
            "optimizer.weight_decay",
            o.weight_decay.is_finite() && o.weight_decay >= 0.0,
            "must be a finite number of at least 0",
            Number(o.weight_decay),
        );
    }

    /// `lr.*`, the fit's limits included.
    fn check_lr(&self, v: &mut Check) {
        let lr = &self.lr;
        v.positive("lr.init", lr.init);
        v.positive("lr.min", lr.min);
        // Only compare two values that are each valid, so one typo gives one message.
        if lr.init.is_finite() && lr.init > 0.0 && lr.min.is_finite() && lr.min > 0.0 {
            v.rule(
                "lr.min",
                lr.min <= lr.init,
                &format!("must not exceed lr.init ({})", Number(lr.init)),
                Number(lr.min),
            );
        }
        v.rule("lr.nbs", lr.nbs >= 1, "must be at least 1", lr.nbs);
        if let Some(x) = lr.limit_max {
            v.positive("lr.limit_max", x);
        }
        if let Some(x) = lr.limit_min {
            v.positive("lr.limit_min", x);
        }
        let limits = self.limits();
        if limits.max.is_finite() && limits.min.is_finite() {
            v.rule(
                "lr.limit_min",
                limits.min <= limits.max,
                &format!("must not exceed lr.limit_max ({})", Number(limits.max)),
                Number(limits.min),
            );
        }
    }

    /// `decay.*` and `epochs.*` (a step decay's step size needs both).
    fn check_decay_and_epochs(&self, v: &mut Check) {
        let d = &self.decay;
        v.ratio("decay.warmup_iters_ratio", d.warmup_iters_ratio);
        v.ratio("decay.warmup_lr_ratio", d.warmup_lr_ratio);
        v.ratio("decay.no_aug_iter_ratio", d.no_aug_iter_ratio);

        let e = &self.epochs;
        v.rule(
            "epochs.total",
            (1..=MAX_EPOCHS).contains(&e.total),
            &format!("must be between 1 and {MAX_EPOCHS}"),
            e.total,
        );
        v.rule(
            "epochs.start",
            e.start < e.total.max(1),
            &format!("must be less than epochs.total ({})", e.total),
            e.start,
        );
        if d.kind == DecayKind::Step {
            v.rule(
                "decay.step_num",
                d.step_num >= 2,
                "must be at least 2 for step decay",
                d.step_num,
            );
            if d.step_num >= 1 && e.total >= 1 {
                let step_size = e.total as f64 / d.step_num as f64;
                v.rule(
                    "decay.step_num",
                    step_size >= 1.0,
                    &format!(
                        "gives a step of {} epochs (epochs.total / step_num); a step must be at least 1 epoch",
                        Number(step_size)
                    ),
                    d.step_num,
                );
            }
        }
    }

    /// `phases.*`.
    fn check_phases(&self, v: &mut Check) {
        let (p, e) = (&self.phases, &self.epochs);
        if p.freeze {
            v.rule(
                "phases.freeze_epochs",
                p.freeze_epochs <= e.total,
                &format!("must not exceed epochs.total ({})", e.total),
                p.freeze_epochs,
            );
            v.rule(
                "phases.freeze_batch_size",
                p.freeze_batch_size >= 1,
                "must be at least 1",
                p.freeze_batch_size,
            );
        }
        v.rule(
            "phases.unfreeze_batch_size",
            p.unfreeze_batch_size >= 1,
            "must be at least 1",
            p.unfreeze_batch_size,
        );
    }

    /// `updates.*`: per-iteration plans need exactly one way to count iterations.
    fn check_updates(&self, v: &mut Check) {
        let (u, p, e) = (&self.updates, &self.phases, &self.epochs);
        if u.per == UpdateUnit::Iteration {
            match (u.iters_per_epoch, u.dataset_size) {
                (None, None) => v.fail(
                    "updates.iters_per_epoch",
                    "or updates.dataset_size is needed for per-iteration updates",
                    "neither",
                ),
                (Some(_), Some(_)) => v.fail(
                    "updates.iters_per_epoch",
                    "and updates.dataset_size are exclusive: give one",
                    "both",
                ),
                (Some(n), None) => v.rule(
                    "updates.iters_per_epoch",
                    (1..=MAX_ITERS_PER_EPOCH).contains(&(n as u64)),
                    &format!("must be between 1 and {MAX_ITERS_PER_EPOCH}"),
                    n,
                ),
                (None, Some(size)) => {
                    let mut sizes = Vec::new();
                    if self.has_freeze_phase() && e.start < p.freeze_epochs {
                        sizes.push(p.freeze_batch_size);
                    }
                    if !self.has_freeze_phase() || p.freeze_epochs < e.total {
                        sizes.push(p.unfreeze_batch_size);
                    }
                    for bs in sizes.into_iter().filter(|&bs| bs >= 1) {
                        let iters = self.iters_per_epoch(bs).unwrap_or(0);
                        v.rule(
                            "updates.dataset_size",
                            iters >= 1,
                            &format!(
                                "gives no full batch of {bs} (drop_last drops a partial batch)"
                            ),
                            size,
                        );
                        v.rule(
                            "updates.dataset_size",
                            iters <= MAX_ITERS_PER_EPOCH,
                            &format!("gives more than {MAX_ITERS_PER_EPOCH} iterations per epoch"),
                            size,
                        );
                    }
                }
            }
        }
    }

    /// Steps from `epochs.start` to the end, assuming the iteration counts are valid.
    fn total_steps_unchecked(&self) -> u64 {
        (self.epochs.start..self.epochs.total)
            .map(|epoch| {
                let bs = if self.has_freeze_phase() && epoch < self.phases.freeze_epochs {
                    self.phases.freeze_batch_size
                } else {
                    self.phases.unfreeze_batch_size
                };
                self.iters_per_epoch(bs).unwrap_or(1)
            })
            .sum()
    }
}

/// Collects violations while validating.
#[derive(Default)]
struct Check(Vec<Violation>);

impl Check {
    fn fail(&mut self, field: &'static str, rule: &str, value: impl ToString) {
        self.0.push(Violation {
            field,
            rule: rule.to_string(),
            value: value.to_string(),
        });
    }

    fn rule(&mut self, field: &'static str, ok: bool, rule: &str, value: impl ToString) {
        if !ok {
            self.fail(field, rule, value);
        }
    }

    fn positive(&mut self, field: &'static str, x: f64) {
        self.rule(
            field,
            x.is_finite() && x > 0.0,
            "must be a finite number greater than 0",
            Number(x),
        );
    }

    fn ratio(&mut self, field: &'static str, x: f64) {
        self.rule(
            field,
            x.is_finite() && (0.0..=1.0).contains(&x),
            "must be between 0 and 1",
            Number(x),
        );
    }
}
