//! Batch-size fitting of the learning rates (contract §1).
//!
//! The original scales the configured rates linearly with `bs / nbs` and then clamps them into
//! limits that depend on the optimizer, so that a small batch does not starve and a large one
//! does not explode. The clamp often decides the result (the worked example: adam, 1e-3, bs 16
//! gives 2.5e-4, clamped up to 3e-4), so the fit also says which bound won.

use core::fmt;

use crate::plan::OptimizerKind;

/// The clamp bounds for the initial learning rate; the minimum learning rate uses the same
/// bounds times 1e-2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max: f64,
    pub min: f64,
}

impl Limits {
    /// The original's defaults: SGD 5e-2 / 5e-4, Adam and AdamW 1e-3 / 3e-4.
    pub fn default_for(kind: OptimizerKind) -> Limits {
        match kind {
            OptimizerKind::Sgd => Limits {
                max: 5e-2,
                min: 5e-4,
            },
            OptimizerKind::Adam | OptimizerKind::AdamW => Limits {
                max: 1e-3,
                min: 3e-4,
            },
        }
    }
}

/// Which side of the clamp, if any, decided a fitted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clamp {
    /// The scaled value was inside the limits and is used as is.
    None,
    /// The scaled value was below the lower limit and was raised to it.
    Up,
    /// The scaled value was above the upper limit and was lowered to it.
    Down,
}

/// The fitted learning rates for one batch size, with what it took to get them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub batch_size: u32,
    pub nbs: u32,
    pub limits: Limits,
    /// `bs / nbs * init_lr`, before clamping.
    pub init_scaled: f64,
    /// `bs / nbs * min_lr`, before clamping.
    pub min_scaled: f64,
    /// The learning rate the schedule starts from (`Init_lr_fit`).
    pub init: f64,
    /// The learning rate the schedule ends at (`Min_lr_fit`).
    pub min: f64,
    pub init_clamp: Clamp,
    pub min_clamp: Clamp,
}

impl Fit {
    /// Fits `init_lr` and `min_lr` to a batch size. The expressions are the contract's, in its
    /// order of operations: `min(max(bs / nbs * lr, lo), hi)`.
    pub fn new(init_lr: f64, min_lr: f64, batch_size: u32, nbs: u32, limits: Limits) -> Fit {
        let ratio = batch_size as f64 / nbs as f64;
        let init_scaled = ratio * init_lr;
        let min_scaled = ratio * min_lr;
        let (init, init_clamp) = clamp(init_scaled, limits.min, limits.max);
        let (min, min_clamp) = clamp(min_scaled, limits.min * 1e-2, limits.max * 1e-2);
        Fit {
            batch_size,
            nbs,
            limits,
            init_scaled,
            min_scaled,
            init,
            min,
            init_clamp,
            min_clamp,
        }
    }
}

/// `min(max(x, lo), hi)` as Python evaluates it, with which bound applied.
fn clamp(x: f64, lo: f64, hi: f64) -> (f64, Clamp) {
    let raised = if lo > x { lo } else { x };
    let v = if hi < raised { hi } else { raised };
    let how = if v == x {
        Clamp::None
    } else if v == lo {
        Clamp::Up
    } else {
        Clamp::Down
    };
    (v, how)
}

impl fmt::Display for Fit {
    /// One line a person can check by hand, e.g.
    /// `bs 16 / nbs 64: init 1e-3 -> 2.5e-4, clamped up to lr_limit_min 3e-4; min ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bs {} / nbs {}: init_lr -> {:e}",
            self.batch_size, self.nbs, self.init_scaled
        )?;
        match self.init_clamp {
            Clamp::None => write!(f, " (within limits)")?,
            Clamp::Up => write!(f, ", clamped up to lr_limit_min {:e}", self.init)?,
            Clamp::Down => write!(f, ", clamped down to lr_limit_max {:e}", self.init)?,
        }
        write!(f, "; min_lr -> {:e}", self.min_scaled)?;
        match self.min_clamp {
            Clamp::None => write!(f, " (within limits)"),
            Clamp::Up => write!(f, ", clamped up to lr_limit_min*1e-2 {:e}", self.min),
            Clamp::Down => write!(f, ", clamped down to lr_limit_max*1e-2 {:e}", self.min),
        }
    }
}
