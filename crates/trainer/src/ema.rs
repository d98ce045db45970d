//! `--ema`: an exponential moving average of the weights, the original's `ModelEMA` (YOLOX):
//! after every training step `ema = d·ema + (1 − d)·weights` with
//! `d = decay·(1 − exp(−updates / tau))`, so the average follows the weights closely at
//! first and ever more slowly later. Buffers (batch-norm running statistics, counters) are
//! copied from the model, not averaged. Validation and the checkpoints' weights are the
//! average's ([`Ema::swap`]).
//!
//! The average is taken with `_foreach_lerp_` (`ema + (1 − d)·(weights − ema)`, one pass over
//! the tensors), as timm's `ModelEmaV3` takes it, rather than YOLOX's `ema *= d` then
//! `ema += (1 − d)·weights` (two): the same value up to float rounding.

use tch::Tensor;

use crate::error::Result;
use crate::model::Registry;
use crate::shim::foreach::{self, Kernels};

/// `--ema-decay` and `--ema-tau`'s defaults (YOLOX's).
pub const DECAY: f64 = 0.9999;
pub const TAU: f64 = 2000.0;

/// The average of a model's weights, one tensor per registry entry in its order.
pub struct Ema {
    tensors: Vec<Tensor>,
    /// Registry positions of the averaged (trainable) tensors and of the copied buffers.
    params: Vec<usize>,
    buffers: Vec<usize>,
    /// Updates so far (the run's training steps since the average began).
    pub updates: u64,
    decay: f64,
    tau: f64,
}

impl Ema {
    /// An average that starts at the model's current weights, `updates` steps in (0 for a
    /// fresh run; a resumed run's count, whose average is then loaded into it).
    pub fn new(registry: &Registry, decay: f64, tau: f64, updates: u64) -> Result<Ema> {
        let _guard = tch::no_grad_guard();
        let entries = &registry.entries;
        let tensors = foreach::clone(&entries.iter().map(|e| &e.tensor).collect::<Vec<_>>())?;
        let (params, buffers) = (0..entries.len()).partition(|&i| entries[i].kind.trainable());
        Ok(Ema {
            tensors,
            params,
            buffers,
            updates,
            decay,
            tau,
        })
    }

    /// The decay of update number `updates` (counted from 1).
    pub fn decay_at(&self, updates: u64) -> f64 {
        self.decay * (1.0 - (-(updates as f64) / self.tau).exp())
    }

    /// `ModelEMA.update(model)`: one more update towards the model's weights.
    pub fn update(&mut self, registry: &Registry) -> Result<()> {
        let _guard = tch::no_grad_guard();
        self.updates += 1;
        let d = self.decay_at(self.updates);
        let pick = |from: &[usize]| -> (Vec<&Tensor>, Vec<&Tensor>) {
            from.iter()
                .map(|&i| (&self.tensors[i], &registry.entries[i].tensor))
                .unzip()
        };
        let (ema, model) = pick(&self.params);
        foreach::lerp_(Kernels::Foreach, &ema, &model, 1.0 - d)?;
        let (ema, model) = pick(&self.buffers);
        for (e, m) in ema.into_iter().zip(model) {
            e.shallow_clone().f_copy_(m)?;
        }
        Ok(())
    }

    /// Exchanges the average with the model's weights: afterwards the model holds the
    /// average (to validate or save it) and this holds the training weights, until the next
    /// swap puts them back.
    pub fn swap(&mut self, registry: &Registry) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (ema, e) in self.tensors.iter_mut().zip(&registry.entries) {
            let mut training = e.tensor.f_empty_like()?;
            training.f_copy_(&e.tensor)?;
            e.tensor.shallow_clone().f_copy_(ema)?;
            *ema = training;
        }
        Ok(())
    }

    /// The tensors, in registry order (a data-parallel job broadcasts rank 0's).
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }

    /// The tensors named as the registry names them, after `prefix`.
    pub fn named(&self, registry: &Registry, prefix: &str) -> Vec<(String, Tensor)> {
        (registry.entries.iter().zip(&self.tensors))
            .map(|(e, t)| (format!("{prefix}{}", e.name), t.shallow_clone()))
            .collect()
    }
}
