//! SGD (Nesterov), Adam and AdamW written over tch tensors, because tch's optimizer cannot
//! export its state and a resumed run must continue with the same buffers.
//!
//! The updates follow torch.optim's operation for operation, with the same scalars (Python
//! floats, here f64 kernel arguments): on the parameters of a group as lists, through the
//! shim's `_foreach_*` ops ([`Kernels::Foreach`], torch.optim's multi-tensor path and its
//! default on CUDA: a few kernels per step instead of several per tensor), or tensor by tensor
//! ([`Kernels::PerTensor`], its `foreach=False` path). On CPU the two give the same bits, and
//! the same bits as torch.optim's two paths (`tests/library.rs`). Every update is in place
//! under `no_grad`, with no copy to the device and no host wait.

use std::collections::BTreeMap;

use lrplan_schedule::OptimizerKind;
use lrplan_schedule::plan::OptimizerSettings;
use tch::Tensor;

use crate::error::{Error, Result};
use crate::groups::GroupSpec;
use crate::model::Registry;
pub use crate::shim::Kernels;
use crate::shim::foreach;

/// Adam's second-moment decay, fixed as in the original.
pub const BETA2: f64 = 0.999;
/// Adam's epsilon.
pub const EPS: f64 = 1e-8;

/// One parameter and its optimizer state.
#[derive(Debug)]
pub struct Slot {
    pub name: String,
    pub param: Tensor,
    pub decay: bool,
    /// SGD momentum buffer (created from the first gradient, as torch).
    pub momentum_buffer: Option<Tensor>,
    pub exp_avg: Option<Tensor>,
    pub exp_avg_sq: Option<Tensor>,
    /// Adam steps taken by this parameter (torch keeps it per parameter).
    pub step: u64,
}

#[derive(Debug)]
pub struct Group {
    pub slots: Vec<Slot>,
    /// The lr this group applies: the schedule's value times `lr_mult`.
    pub lr: f64,
    pub lr_mult: f64,
}

/// One group for [`Optimizer::new`]: its lr multiplier and its `(name, parameter, decays)`.
pub type GroupParams = (f64, Vec<(String, Tensor, bool)>);

#[derive(Debug)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    /// SGD momentum / Adam beta1.
    pub momentum: f64,
    pub weight_decay: f64,
    pub groups: Vec<Group>,
    /// How the update's list ops run (foreach unless a test asks otherwise).
    pub kernels: Kernels,
}

impl Optimizer {
    /// `groups`: per group, (lr multiplier, [(name, parameter, decays)]).
    pub fn new(
        kind: OptimizerKind,
        momentum: f64,
        weight_decay: f64,
        groups: Vec<GroupParams>,
    ) -> Optimizer {
        let groups = groups
            .into_iter()
            .map(|(lr_mult, params)| Group {
                lr: 0.0,
                lr_mult,
                slots: params
                    .into_iter()
                    .map(|(name, param, decay)| Slot {
                        name,
                        param,
                        decay,
                        momentum_buffer: None,
                        exp_avg: None,
                        exp_avg_sq: None,
                        step: 0,
                    })
                    .collect(),
            })
            .collect();
        Optimizer {
            kind,
            momentum,
            weight_decay,
            groups,
            kernels: Kernels::Foreach,
        }
    }

    /// The plan's optimizer over `groups` of `registry`'s tensors.
    pub fn for_groups(
        settings: &OptimizerSettings,
        registry: &Registry,
        groups: &[GroupSpec],
    ) -> Optimizer {
        let params = groups
            .iter()
            .map(|g| {
                let members = g.members.iter().zip(&g.decays).map(|(&i, &decay)| {
                    let e = &registry.entries[i];
                    (e.name.clone(), e.tensor.shallow_clone(), decay)
                });
                (g.lr_mult, members.collect())
            })
            .collect();
        Optimizer::new(
            settings.kind,
            settings.momentum,
            settings.weight_decay,
            params,
        )
    }

    /// Writes the schedule's lr into every group (times the group's multiplier).
    pub fn set_lr(&mut self, lr: f64) {
        for g in &mut self.groups {
            g.lr = lr * g.lr_mult;
        }
    }

    /// The lr group 0 applies, read back for the log.
    pub fn lr(&self) -> f64 {
        self.groups.first().map_or(0.0, |g| g.lr)
    }

    /// Clears every gradient (set to undefined, like `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&mut self) {
        for g in &mut self.groups {
            for s in &mut g.slots {
                let grad = s.param.grad();
                if grad.defined() {
                    let mut grad = grad;
                    let _ = grad.f_detach_();
                    let _ = grad.f_zero_();
                }
            }
        }
    }

    /// Every parameter, in slot order (the order [`Optimizer::step_with`] expects).
    pub fn params(&self) -> Vec<Tensor> {
        self.groups
            .iter()
            .flat_map(|g| g.slots.iter().map(|s| s.param.shallow_clone()))
            .collect()
    }

    /// One update from the gradients accumulated in `.grad()` (after `backward`).
    pub fn step(&mut self) -> Result<()> {
        let grads: Vec<Tensor> = self
            .groups
            .iter()
            .flat_map(|g| g.slots.iter().map(|s| s.param.grad()))
            .collect();
        self.step_with(grads)
    }

    /// One update from explicit gradients, one per parameter in [`Optimizer::params`] order
    /// (as `Tensor::run_backward` returns them). The gradient tensors are consumed: updated
    /// in place where torch.optim makes a new tensor of the same values. An undefined gradient
    /// (a parameter the loss does not reach, e.g. the frozen backbone) means no update and no
    /// state, as in torch.
    ///
    /// Taking gradients from `run_backward` instead of `.grad()` saves two passes over every
    /// parameter per step: no zeroing and no accumulation into the old buffer. Every scalar
    /// (lr, decay, bias corrections) is an argument of the kernels, as torch.optim passes
    /// Python floats: nothing is copied to the device and the host never waits.
    pub fn step_with(&mut self, grads: Vec<Tensor>) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let total: usize = self.groups.iter().map(|g| g.slots.len()).sum();
        if grads.len() < total {
            return Err(Error::flag("optimizer", "fewer gradients than parameters"));
        }
        let (kind, m, k) = (self.kind, self.momentum, self.kernels);
        let mut grads = grads.into_iter();
        for group in &mut self.groups {
            let lr = group.lr;
            let mut parts = [Part::default(), Part::default()];
            for s in &mut group.slots {
                let grad = grads.next().expect("counted above");
                if grad.defined() {
                    parts[usize::from(s.decay)].push(s, grad);
                }
            }
            for (part, wd) in parts.into_iter().zip([0.0, self.weight_decay]) {
                if part.slots.is_empty() {
                    continue;
                }
                match kind {
                    OptimizerKind::Sgd => sgd(k, part, lr, m, wd)?,
                    OptimizerKind::Adam => adam(k, part, lr, m, wd, false)?,
                    OptimizerKind::AdamW => adam(k, part, lr, m, wd, true)?,
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors `opt.<group>.<param>.<buffer>`; the Adam step count is
    /// stored as a float scalar `opt.<group>.<param>.step`, as torch keeps it.
    pub fn export(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            for s in &g.slots {
                let key = |b: &str| format!("opt.{gi}.{}.{b}", s.name);
                if let Some(t) = &s.momentum_buffer {
                    out.push((key("momentum_buffer"), t.shallow_clone()));
                }
                if let Some(t) = &s.exp_avg {
                    out.push((key("exp_avg"), t.shallow_clone()));
                }
                if let Some(t) = &s.exp_avg_sq {
                    out.push((key("exp_avg_sq"), t.shallow_clone()));
                }
                if s.step > 0 {
                    out.push((key("step"), Tensor::from(s.step as f32)));
                }
            }
        }
        out
    }

    /// Restores state exported by [`Optimizer::export`]; every tensor must belong to a slot
    /// with the same shape, so a checkpoint of another model is refused, not half-applied.
    pub fn import(
        &mut self,
        state: BTreeMap<String, Tensor>,
        source: &std::path::Path,
    ) -> Result<()> {
        let bad = |reason: String| Error::Checkpoint {
            path: source.to_path_buf(),
            reason,
        };
        let mut used = 0;
        let _guard = tch::no_grad_guard();
        for (gi, g) in self.groups.iter_mut().enumerate() {
            for s in &mut g.slots {
                let mut take = |b: &str| -> Result<Option<Tensor>> {
                    let key = format!("opt.{gi}.{}.{b}", s.name);
                    match state.get(&key) {
                        None => Ok(None),
                        Some(t) => {
                            used += 1;
                            if b != "step" && t.size() != s.param.size() {
                                return Err(bad(format!(
                                    "{key} has shape {:?}, the parameter {:?}",
                                    t.size(),
                                    s.param.size()
                                )));
                            }
                            if b == "step" {
                                return Ok(Some(t.shallow_clone()));
                            }
                            // As the parameter: its device, dtype and memory format.
                            let mut buf = s.param.f_empty_like()?;
                            buf.f_copy_(t)?;
                            Ok(Some(buf))
                        }
                    }
                };
                s.momentum_buffer = take("momentum_buffer")?;
                s.exp_avg = take("exp_avg")?;
                s.exp_avg_sq = take("exp_avg_sq")?;
                s.step = match take("step")? {
                    Some(t) => t.f_double_value(&[])? as u64,
                    None => 0,
                };
            }
        }
        if used != state.len() {
            return Err(bad(format!(
                "{} optimizer tensors do not belong to any parameter of this model",
                state.len() - used
            )));
        }
        Ok(())
    }
}

/// The slots of a group that decay alike and have a gradient this step, with their
/// gradients and their parameters, as torch.optim's lists of one (device, dtype) group.
#[derive(Default)]
struct Part<'s> {
    slots: Vec<&'s mut Slot>,
    grads: Vec<Tensor>,
}

impl<'s> Part<'s> {
    fn push(&mut self, slot: &'s mut Slot, grad: Tensor) {
        self.slots.push(slot);
        self.grads.push(grad);
    }

    fn params(&self) -> Vec<&Tensor> {
        self.slots.iter().map(|s| &s.param).collect()
    }
}

/// torch.optim.SGD (`_multi_tensor_sgd`, and `_single_tensor_sgd` op for op), dampening 0,
/// Nesterov when momentum > 0. Weight decay and the Nesterov term go into the gradients in
/// place (torch makes new tensors of the same values): they are not read again.
fn sgd(k: Kernels, mut part: Part, lr: f64, momentum: f64, wd: f64) -> Result<()> {
    let grads = std::mem::take(&mut part.grads);
    if wd != 0.0 {
        foreach::add_(k, &grads, &part.params(), wd)?;
    }
    if momentum != 0.0 {
        // A buffer starts as a copy of its first (decayed) gradient; later ones decay and add.
        let (old, new): (Vec<usize>, Vec<usize>) =
            (0..grads.len()).partition(|&i| part.slots[i].momentum_buffer.is_some());
        let bufs: Vec<&Tensor> = old
            .iter()
            .filter_map(|&i| part.slots[i].momentum_buffer.as_ref())
            .collect();
        let old_grads: Vec<&Tensor> = old.iter().map(|&i| &grads[i]).collect();
        foreach::mul_(k, &bufs, momentum)?;
        foreach::add_(k, &bufs, &old_grads, 1.0)?;
        let new_grads: Vec<&Tensor> = new.iter().map(|&i| &grads[i]).collect();
        for (i, buf) in new.iter().zip(foreach::clone(&new_grads)?) {
            part.slots[*i].momentum_buffer = Some(buf);
        }
        let bufs: Vec<&Tensor> = part
            .slots
            .iter()
            .filter_map(|s| s.momentum_buffer.as_ref())
            .collect();
        foreach::add_(k, &grads, &bufs, momentum)?;
    }
    foreach::add_(k, &part.params(), &grads, -lr)
}

/// torch.optim.Adam / AdamW (`_multi_tensor_adam` with `capturable=False`, and
/// `_single_tensor_adam` op for op), amsgrad off. Step counts and bias corrections are host
/// numbers, as torch keeps them for a non-capturable optimizer.
fn adam(k: Kernels, mut part: Part, lr: f64, beta1: f64, wd: f64, decoupled: bool) -> Result<()> {
    let grads = std::mem::take(&mut part.grads);
    for s in &mut part.slots {
        s.step += 1;
        if s.exp_avg.is_none() {
            s.exp_avg = Some(s.param.f_zeros_like()?);
            s.exp_avg_sq = Some(s.param.f_zeros_like()?);
        }
    }
    if wd != 0.0 && decoupled {
        foreach::mul_(k, &part.params(), 1.0 - lr * wd)?;
    }
    if wd != 0.0 && !decoupled {
        foreach::add_(k, &grads, &part.params(), wd)?;
    }
    let exp_avgs: Vec<&Tensor> = part
        .slots
        .iter()
        .filter_map(|s| s.exp_avg.as_ref())
        .collect();
    let exp_avg_sqs: Vec<&Tensor> = part
        .slots
        .iter()
        .filter_map(|s| s.exp_avg_sq.as_ref())
        .collect();
    foreach::lerp_(k, &exp_avgs, &grads, 1.0 - beta1)?;
    foreach::mul_(k, &exp_avg_sqs, BETA2)?;
    foreach::addcmul_(k, &exp_avg_sqs, &grads, &grads, 1.0 - BETA2)?;
    let steps: Vec<f64> = part.slots.iter().map(|s| s.step as f64).collect();
    // Python's `1 - beta ** step`, `(lr / bc) * -1` (a negation: exact) and `bc ** 0.5`:
    // the same libm calls.
    let step_size: Vec<f64> = steps
        .iter()
        .map(|&t| -(lr / (1.0 - beta1.powf(t))))
        .collect();
    let bias_correction2_sqrt: Vec<f64> = steps
        .iter()
        .map(|&t| (1.0 - BETA2.powf(t)).powf(0.5))
        .collect();
    let denom = foreach::sqrt(k, &exp_avg_sqs)?;
    foreach::div_(k, &denom, &bias_correction2_sqrt)?;
    foreach::add_scalar_(k, &denom, EPS)?;
    foreach::addcdiv_(k, &part.params(), &exp_avgs, &denom, &step_size)
}
