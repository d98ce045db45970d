//! The model seam: the one trait through which the trainer sees any network, and the
//! registry that tells it what each tensor is.
//!
//! The loop, the parameter groups, the freeze phase, pretrained weights and checkpoints all
//! work from [`Network`] alone: forward in a [`Mode`], and a [`Registry`] naming every
//! parameter and buffer in state-dict order with its [`TensorKind`] (which decides its
//! group) and its [`Subnet`] (which decides whether the freeze phase holds it still). A new
//! kind of model, or a wrapper around one (data parallel, an EMA copy), implements the trait
//! and needs no edit of the loop.
//!
//! The contract an implementation keeps:
//! * every tensor in the registry shares storage with the tensor the forward pass uses, so an
//!   in-place update by the optimizer or a copy from a checkpoint is the model's new state;
//! * trainable tensors require grad; buffers do not and are updated by `forward` itself in
//!   [`Mode::Train`] (batch-norm running statistics);
//! * names are the ones PyTorch's `state_dict()` would use, so weight files load by name;
//! * `forward` in [`Mode::TrainFrozen`] leaves every [`Subnet::Backbone`] tensor unchanged
//!   (no gradient reaches it, no running statistic moves).

mod builder;
mod builtin;
mod layers;
mod resnet;
mod small_cnn;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use tch::{Device, Tensor};

pub use builder::Builder;
pub use builtin::{Arch, Builtin, Init};
pub use layers::{BatchNorm2d, Conv2d, Linear};

use crate::error::{Error, Result};

/// What a tensor is to the module that owns it; decides its parameter group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// Batch-norm scale (gamma): group 0, no weight decay.
    BnWeight,
    /// Any other weight (conv, linear, …): group 1, weight decay.
    Weight,
    /// Any bias, batch-norm's shift included: group 2, no weight decay.
    Bias,
    /// State that is saved but not trained: batch-norm running statistics and counters.
    Buffer,
}

impl TensorKind {
    /// Whether the optimizer updates it.
    pub fn trainable(self) -> bool {
        self != TensorKind::Buffer
    }
}

/// The two parts of every model: the feature extractor that the freeze phase holds still,
/// and the head that always trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subnet {
    Backbone,
    Head,
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subnet::Backbone => "backbone",
            Subnet::Head => "head",
        })
    }
}

/// One named tensor of a model. `tensor` shares storage with the module that uses it.
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub tensor: Tensor,
    pub kind: TensorKind,
    pub subnet: Subnet,
}

/// Every tensor of a model in state-dict order.
#[derive(Debug, Default)]
pub struct Registry {
    pub entries: Vec<Entry>,
}

/// How a forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training: batch statistics (and their running averages updated), gradients.
    Train,
    /// The freeze phase: the backbone runs as in evaluation and without autograd, so it
    /// neither receives gradients nor changes in any way; only the head trains.
    TrainFrozen,
    /// Validation: running statistics, nothing updated.
    Eval,
}

/// Any model the trainer can train. See the module documentation for the contract.
pub trait Network {
    /// A short name for messages (`small-cnn`, `resnet18`, a file name).
    fn name(&self) -> &str;

    /// Every parameter and buffer, in state-dict order.
    fn registry(&self) -> &Registry;

    /// Logits `[N, C]` for a batch `[N, 3, H, W]`.
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor>;

    /// Names and shapes of every tensor, for matching a weight file.
    fn keys(&self) -> Vec<(String, Vec<usize>)> {
        self.registry()
            .entries
            .iter()
            .map(|e| {
                let shape = e.tensor.size().iter().map(|&d| d as usize).collect();
                (e.name.clone(), shape)
            })
            .collect()
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.registry().entries.iter().find(|e| e.name == name)
    }

    /// Number of trainable scalars.
    fn parameter_count(&self) -> i64 {
        self.registry()
            .entries
            .iter()
            .filter(|e| e.kind.trainable())
            .map(|e| e.tensor.numel() as i64)
            .sum()
    }

    /// The state to checkpoint: every tensor by name, sharing storage with the model.
    fn state(&self) -> Vec<(String, Tensor)> {
        self.registry()
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.tensor.shallow_clone()))
            .collect()
    }

    /// Restores a state written by [`Network::state`]: every tensor must be there with its
    /// shape, so a checkpoint of another model is refused rather than half applied.
    fn load_state(&self, mut tensors: BTreeMap<String, Tensor>, source: &Path) -> Result<()> {
        let bad = |reason: String| Error::Checkpoint {
            path: source.to_path_buf(),
            reason,
        };
        let _guard = tch::no_grad_guard();
        for e in &self.registry().entries {
            let t = tensors
                .remove(&e.name)
                .ok_or_else(|| bad(format!("tensor {} is missing", e.name)))?;
            if t.size() != e.tensor.size() {
                return Err(bad(format!(
                    "{} has shape {:?}, the model {:?}",
                    e.name,
                    t.size(),
                    e.tensor.size()
                )));
            }
            let mut dst = e.tensor.shallow_clone();
            dst.f_copy_(&t.f_to_kind(e.tensor.kind())?)?;
        }
        Ok(())
    }
}

/// Which model a run trains.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// One of the built-in architectures, freshly initialised.
    Builtin { arch: Arch, init: Init },
}

impl ModelSpec {
    /// Builds the model for `classes` classes on `device`. Draws from libtorch's generator,
    /// so call `tch::manual_seed` first for reproducible weights.
    pub fn build(&self, classes: usize, device: Device) -> Result<Box<dyn Network>> {
        match *self {
            ModelSpec::Builtin { arch, init } => {
                Ok(Box::new(Builtin::new(arch, classes, device, init)?))
            }
        }
    }
}
