//! SGD (Nesterov), Adam and AdamW written over tch tensors, because tch's optimizer cannot
//! export its state and a resumed run must continue with the same buffers.
//!
//! The update formulas follow `torch.optim`'s single-tensor implementations (what PyTorch
//! uses on CPU) operation for operation, so a test can hold them to 1e-6 of PyTorch's. Every
//! update is an in-place op under `no_grad`; tch exposes no `_foreach` ops, so the loop is
//! per tensor, with no copies and no host syncs.

use std::collections::BTreeMap;

use lrplan_schedule::OptimizerKind;
use lrplan_schedule::plan::OptimizerSettings;
use tch::Tensor;

use crate::error::{Error, Result};
use crate::groups::GroupSpec;
use crate::model::Registry;

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
    /// in place where that saves a pass. An undefined gradient (a parameter the loss does not
    /// reach, e.g. the frozen backbone) means no update and no state, as in torch.
    ///
    /// Taking gradients from `run_backward` instead of `.grad()` saves two passes over every
    /// parameter per step: no zeroing and no accumulation into the old buffer.
    pub fn step_with(&mut self, grads: Vec<Tensor>) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let (kind, m, wd_all) = (self.kind, self.momentum, self.weight_decay);
        let mut grads = grads.into_iter();
        for group in &mut self.groups {
            let lr = group.lr;
            let Some(first) = group.slots.first() else {
                continue;
            };
            // The step's scalars, once per group, on the parameters' device.
            let dev = first.param.device();
            let k = Scalars {
                wd: scalar(wd_all, dev)?,
                momentum: scalar(m, dev)?,
                neg_lr: scalar(-lr, dev)?,
            };
            for s in &mut group.slots {
                let Some(grad) = grads.next() else {
                    return Err(Error::flag("optimizer", "fewer gradients than parameters"));
                };
                if !grad.defined() {
                    continue;
                }
                let wd = if s.decay { wd_all } else { 0.0 };
                match kind {
                    OptimizerKind::Sgd => sgd(s, &grad, m, wd, &k)?,
                    OptimizerKind::Adam => adam(s, &grad, lr, m, wd, false, &k)?,
                    OptimizerKind::AdamW => adam(s, &grad, lr, m, wd, true, &k)?,
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
                let device = s.param.device();
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
                            Ok(Some(t.f_to_device(device)?))
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

/// A 0-dim f32 tensor: multiplying by it inside `addcmul_` gives `p += t * x` in one pass
/// with no temporary (tch exposes no `alpha` argument), rounding the scalar to f32 exactly as
/// torch rounds `alpha` for f32 tensors.
fn scalar(x: f64, device: tch::Device) -> Result<Tensor> {
    Ok(Tensor::from(x as f32).f_to_device(device)?)
}

/// Per-group scalars of one step as 0-dim tensors.
struct Scalars {
    wd: Tensor,
    momentum: Tensor,
    neg_lr: Tensor,
}

/// torch.optim.SGD, single-tensor path, dampening 0, Nesterov when momentum > 0.
///
/// The gradient tensor is updated in place (weight decay, Nesterov term) instead of into
/// temporaries: it is not read again before the next `zero_grad`. Five passes over the
/// parameter, as torch.
fn sgd(s: &mut Slot, grad: &Tensor, momentum: f64, wd: f64, k: &Scalars) -> Result<()> {
    let mut d_p = grad.shallow_clone();
    if wd != 0.0 {
        let _ = d_p.f_addcmul_(&s.param, &k.wd)?;
    }
    if momentum != 0.0 {
        let buf = match s.momentum_buffer.take() {
            None => d_p.f_detach_copy()?,
            Some(mut buf) => {
                let _ = buf.f_mul_scalar_(momentum)?;
                let _ = buf.f_add_(&d_p)?;
                buf
            }
        };
        let _ = d_p.f_addcmul_(&buf, &k.momentum)?;
        s.momentum_buffer = Some(buf);
    }
    let _ = s.param.f_addcmul_(&d_p, &k.neg_lr)?;
    Ok(())
}

/// torch.optim.Adam / AdamW, single-tensor path (amsgrad off).
fn adam(
    s: &mut Slot,
    grad: &Tensor,
    lr: f64,
    beta1: f64,
    wd: f64,
    decoupled: bool,
    k: &Scalars,
) -> Result<()> {
    s.step += 1;
    let mut grad = grad.shallow_clone();
    if wd != 0.0 && !decoupled {
        let _ = grad.f_addcmul_(&s.param, &k.wd)?;
    }
    if wd != 0.0 && decoupled {
        let _ = s.param.f_mul_scalar_(1.0 - lr * wd)?;
    }
    let exp_avg = match &mut s.exp_avg {
        Some(t) => t,
        slot => slot.insert(s.param.f_zeros_like()?),
    };
    let _ = exp_avg.f_lerp_(&grad, 1.0 - beta1)?;
    let exp_avg_sq = match &mut s.exp_avg_sq {
        Some(t) => t,
        slot => slot.insert(s.param.f_zeros_like()?),
    };
    let _ = exp_avg_sq.f_mul_scalar_(BETA2)?;
    let _ = exp_avg_sq.f_addcmul_(&grad.f_mul_scalar(1.0 - BETA2)?, &grad)?;
    let step = s.step as f64;
    let bias_correction1 = 1.0 - beta1.powf(step);
    let bias_correction2 = 1.0 - BETA2.powf(step);
    let step_size = lr / bias_correction1;
    let bias_correction2_sqrt = bias_correction2.sqrt();
    let mut denom = exp_avg_sq.f_sqrt()?.f_div_scalar(bias_correction2_sqrt)?;
    let _ = denom.f_add_scalar_(EPS)?;
    let exp_avg = s.exp_avg.as_ref().expect("set above");
    let _ = s
        .param
        .f_addcdiv_(&exp_avg.f_mul_scalar(-step_size)?, &denom)?;
    Ok(())
}
