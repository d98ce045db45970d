//! The schedules, as pure functions of the (possibly fractional) epoch `t` (contract §2, §3).
//!
//! A [`Curve`] is built once per phase from the fitted rates and then only evaluated, so the
//! derived constants (`warmup_total`, `decay_rate`, …) are computed exactly once, in the
//! contract's order of operations, and the value at `t` never depends on what was evaluated
//! before it.

use core::f64::consts::PI;

use crate::crmath;
use crate::plan::DecayKind;

/// The ratios that shape the warm-up and the tail, and the step count of `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub warmup_iters_ratio: f64,
    pub warmup_lr_ratio: f64,
    pub no_aug_iter_ratio: f64,
    pub step_num: u32,
}

/// A learning-rate schedule over `total` epochs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Curve {
    /// Quadratic warm-up, cosine decay, constant tail at `min_lr` (YOLOX's `warm_cos_lr`).
    Cos(Warm),
    /// The same warm-up and tail with a straight line between them.
    Linear(Warm),
    /// `lr * decay_rate ^ floor(t / step_size)`: `step_num` geometric steps to `min_lr`.
    Step {
        lr: f64,
        decay_rate: f64,
        step_size: f64,
    },
    /// The fitted initial rate throughout.
    Constant { lr: f64 },
}

/// The constants shared by the schedules with a warm-up and a constant tail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warm {
    pub lr: f64,
    pub min_lr: f64,
    pub total: f64,
    /// Length of the warm-up in epochs: `min(max(ratio * total, 1), 3)`.
    pub warmup_total: f64,
    /// The value at `t = 0`: `max(warmup_lr_ratio * lr, 1e-6)`.
    pub warmup_start: f64,
    /// Length of the constant tail in epochs: `min(max(ratio * total, 1), 15)`.
    pub no_aug: f64,
}

impl Warm {
    fn new(lr: f64, min_lr: f64, total: f64, shape: &Shape) -> Warm {
        Warm {
            lr,
            min_lr,
            total,
            warmup_total: py_min(py_max(shape.warmup_iters_ratio * total, 1.0), 3.0),
            warmup_start: py_max(shape.warmup_lr_ratio * lr, 1e-6),
            no_aug: py_min(py_max(shape.no_aug_iter_ratio * total, 1.0), 15.0),
        }
    }

    /// The quadratic warm-up: `(lr - start) * (t / warmup_total)^2 + start`.
    fn warmup(&self, t: f64) -> f64 {
        let x = t / self.warmup_total;
        (self.lr - self.warmup_start) * (x * x) + self.warmup_start
    }

    /// First epoch of the constant tail.
    pub fn tail_start(&self) -> f64 {
        self.total - self.no_aug
    }
}

impl Curve {
    /// Builds the schedule of `kind` from the fitted rates over `total` epochs. The caller has
    /// validated the plan, so `lr`, `min_lr` are positive and finite and `step_num >= 2`.
    pub fn new(kind: DecayKind, lr: f64, min_lr: f64, total: u32, shape: &Shape) -> Curve {
        let total = total as f64;
        match kind {
            DecayKind::Cos => Curve::Cos(Warm::new(lr, min_lr, total, shape)),
            DecayKind::Linear => Curve::Linear(Warm::new(lr, min_lr, total, shape)),
            DecayKind::Step => Curve::Step {
                lr,
                decay_rate: crmath::pow(min_lr / lr, 1.0 / (shape.step_num as f64 - 1.0)),
                step_size: total / shape.step_num as f64,
            },
            DecayKind::Constant => Curve::Constant { lr },
        }
    }

    /// The learning rate at epoch `t` (fractional between epochs when updating per iteration).
    pub fn at(&self, t: f64) -> f64 {
        match self {
            Curve::Cos(w) => {
                if t <= w.warmup_total {
                    w.warmup(t)
                } else if t >= w.total - w.no_aug {
                    w.min_lr
                } else {
                    w.min_lr
                        + 0.5
                            * (w.lr - w.min_lr)
                            * (1.0
                                + crmath::cos(
                                    PI * (t - w.warmup_total)
                                        / (w.total - w.warmup_total - w.no_aug),
                                ))
                }
            }
            Curve::Linear(w) => {
                if t <= w.warmup_total {
                    w.warmup(t)
                } else if t >= w.total - w.no_aug {
                    w.min_lr
                } else {
                    w.lr - (w.lr - w.min_lr) * (t - w.warmup_total)
                        / (w.total - w.warmup_total - w.no_aug)
                }
            }
            Curve::Step {
                lr,
                decay_rate,
                step_size,
            } => lr * crmath::pow(*decay_rate, libm::floor(t / step_size)),
            Curve::Constant { lr } => *lr,
        }
    }

    /// The warm-up and tail constants, for schedules that have them.
    pub fn warm(&self) -> Option<&Warm> {
        match self {
            Curve::Cos(w) | Curve::Linear(w) => Some(w),
            _ => None,
        }
    }

    /// Epochs at which the curve changes direction or jumps, in increasing order: between two
    /// of them it is monotone. The chart envelope relies on this to find a column's extremes
    /// from a handful of evaluations instead of every step.
    pub fn breakpoints(&self) -> [f64; 2] {
        match self {
            Curve::Cos(w) | Curve::Linear(w) => [w.warmup_total, w.tail_start()],
            // Non-increasing throughout: no interior extremes.
            Curve::Step { .. } | Curve::Constant { .. } => [f64::INFINITY; 2],
        }
    }
}

/// Python's `max(a, b)`: `a` unless `b` is strictly greater.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Python's `min(a, b)`: `a` unless `b` is strictly smaller.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}
