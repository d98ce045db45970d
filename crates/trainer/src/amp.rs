//! Mixed precision: `--precision`, autocast around the forward pass, and fp16's dynamic loss
//! scaler with PyTorch GradScaler's rules.
//!
//! bf16 has fp32's range, so its gradients neither overflow nor underflow and need no
//! scaling; fp16's five exponent bits do, hence the scaler. Weights, optimizer state and the
//! loss stay fp32 in every precision: autocast only runs the ops it lists (convolutions,
//! matrix products) in the low precision.

use tch::{Device, Kind, Tensor};

use crate::error::Result;
use crate::shim::amp::{self, Autocast};

/// `--precision`: what the forward pass computes in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in float32.
    #[default]
    Fp32,
    /// Autocast to bfloat16 (fp32's range, 8 bits of mantissa): no loss scaling.
    Bf16,
    /// Autocast to float16 with a dynamic loss scaler.
    Fp16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        }
    }

    pub fn is_default(&self) -> bool {
        *self == Precision::Fp32
    }

    /// Autocast for `device` while the guard lives (`torch.autocast(device.type, dtype)`);
    /// nothing in fp32.
    pub fn autocast(self, device: Device) -> Result<Option<Autocast>> {
        let kind = match self {
            Precision::Fp32 => return Ok(None),
            Precision::Bf16 => Kind::BFloat16,
            Precision::Fp16 => Kind::Half,
        };
        Ok(Some(Autocast::enter(device, kind)?))
    }
}

/// GradScaler's defaults: the scale starts at 2^16, doubles after this many steps in a row
/// with finite gradients, halves at a step without.
pub const INIT_SCALE: f64 = 65536.0;
pub const GROWTH_FACTOR: f64 = 2.0;
pub const BACKOFF_FACTOR: f64 = 0.5;
pub const GROWTH_INTERVAL: u32 = 2000;

/// The scaler's state in a checkpoint record: the scale (an f32, exact as f64), the good
/// steps since it last changed, and the steps skipped so far in the run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScalerState {
    pub scale: f64,
    pub growth_tracker: i32,
    pub skipped_steps: u64,
}

impl Default for ScalerState {
    fn default() -> Self {
        ScalerState {
            scale: INIT_SCALE,
            growth_tracker: 0,
            skipped_steps: 0,
        }
    }
}

/// What [`LossScaler::unscale`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// Finite gradients, now unscaled: the optimizer steps.
    Finite,
    /// Some gradient is inf or NaN at this loss scale: the step is skipped, the scale halves.
    Skip { scale: f32 },
    /// Not finite even at scale 1 or below: the gradients themselves overflow fp16, or the
    /// forward pass did, and no smaller scale can help. The run has diverged.
    GiveUp { scale: f32 },
}

/// `torch.amp.GradScaler` (growth 2, backoff 0.5, `growth_interval` steps), op for op: the
/// loss times the scale before backward; gradients times its f32 reciprocal and checked by
/// `_amp_foreach_non_finite_check_and_unscale_`; `_amp_update_scale_` after each step. Scale
/// and tracker live on the device, as torch keeps them.
pub struct LossScaler {
    scale: Tensor,
    growth_tracker: Tensor,
    growth_interval: u32,
    skipped_steps: u64,
}

impl LossScaler {
    /// A scaler on `device` in `state` (a fresh run's is [`ScalerState::default`]).
    pub fn new(device: Device, growth_interval: u32, state: ScalerState) -> Result<LossScaler> {
        Ok(LossScaler {
            scale: Tensor::f_full([], state.scale, (Kind::Float, device))?,
            growth_tracker: Tensor::f_full([], state.growth_tracker as i64, (Kind::Int, device))?,
            growth_interval,
            skipped_steps: state.skipped_steps,
        })
    }

    /// `scaler.scale(loss)`.
    pub fn scale(&self, loss: &Tensor) -> Result<Tensor> {
        Ok(loss.f_mul(&self.scale)?)
    }

    /// `scaler.unscale_` and the check `scaler.step` makes: every defined gradient divided
    /// by the scale in place, and whether all were finite. Reads one number back from the
    /// device, as torch's `found_inf.item()` does.
    pub fn unscale(&mut self, grads: &[Tensor]) -> Result<Check> {
        let _guard = tch::no_grad_guard();
        let found_inf = Tensor::f_zeros([], (Kind::Float, self.scale.device()))?;
        let inv_scale = self
            .scale
            .f_to_kind(Kind::Double)?
            .f_reciprocal()?
            .f_to_kind(Kind::Float)?;
        let defined: Vec<Tensor> = grads
            .iter()
            .filter(|g| g.defined())
            .map(Tensor::shallow_clone)
            .collect();
        amp::unscale_(&defined, &found_inf, &inv_scale)?;
        let check = match found_inf.f_double_value(&[])? {
            0.0 => Check::Finite,
            _ => {
                let scale = self.scale.f_double_value(&[])? as f32;
                self.skipped_steps += 1;
                match scale <= 1.0 {
                    true => Check::GiveUp { scale },
                    false => Check::Skip { scale },
                }
            }
        };
        self.update(&found_inf)?;
        Ok(check)
    }

    /// `scaler.update()`: halve after a skipped step, double after `growth_interval` good
    /// ones in a row (on the device, no host wait).
    fn update(&mut self, found_inf: &Tensor) -> Result<()> {
        // Updates scale and tracker in place; the returned handle is the scale again.
        let _scale = self.scale.f_internal_amp_update_scale_(
            &self.growth_tracker,
            found_inf,
            GROWTH_FACTOR,
            BACKOFF_FACTOR,
            i64::from(self.growth_interval),
        )?;
        Ok(())
    }

    /// The scale the next step multiplies its loss by.
    pub fn current_scale(&self) -> Result<f32> {
        Ok(self.scale.f_double_value(&[])? as f32)
    }

    /// The state to checkpoint.
    pub fn state(&self) -> Result<ScalerState> {
        Ok(ScalerState {
            scale: self.scale.f_double_value(&[])?,
            growth_tracker: self.growth_tracker.f_int64_value(&[])? as i32,
            skipped_steps: self.skipped_steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product_kind() -> Kind {
        let x = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
        x.matmul(&x.transpose(0, 1)).kind()
    }

    #[test]
    fn autocast_holds_inside_its_guard_and_nested_guards_restore_the_outer() {
        assert!(!Autocast::enabled(Device::Cpu));
        assert!(Precision::Fp32.autocast(Device::Cpu).unwrap().is_none());
        {
            let _outer = Precision::Bf16.autocast(Device::Cpu).unwrap();
            assert!(Autocast::enabled(Device::Cpu));
            assert_eq!(product_kind(), Kind::BFloat16);
            {
                let _inner = Precision::Fp16.autocast(Device::Cpu).unwrap();
                assert_eq!(product_kind(), Kind::Half);
            }
            assert_eq!(product_kind(), Kind::BFloat16);
        }
        assert!(!Autocast::enabled(Device::Cpu));
        assert_eq!(product_kind(), Kind::Float);
    }
}
