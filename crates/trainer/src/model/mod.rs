//! The model seam: the one trait through which the trainer sees any network, and the
//! registry that tells it what each tensor is.
//!
//! The loop, the parameter groups, the freeze phase, pretrained weights and checkpoints all
//! work from [`Network`] alone: forward in a [`Mode`], and a [`Registry`] naming every
//! parameter and buffer in state-dict order with its [`TensorKind`] (which decides its
//! group) and its [`Subnet`] (which decides whether the freeze phase holds it still). A new
//! kind of model, or a wrapper around one (data parallel), implements the trait and needs no
//! edit of the loop; the average of the weights (`--ema`) works on the registry alone.
//!
//! The contract an implementation keeps:
//! * every tensor in the registry shares storage with the tensor the forward pass uses, so an
//!   in-place update by the optimizer or a copy from a checkpoint is the model's new state;
//! * trainable tensors require grad; buffers do not and are updated by `forward` itself in
//!   [`Mode::Train`] (batch-norm running statistics);
//! * names are the ones PyTorch's `state_dict()` would use, so weight files load by name;
//! * `forward` in [`Mode::TrainFrozen`] leaves every [`Subnet::Backbone`] tensor unchanged
//!   (no gradient reaches it, no running statistic moves).
//!
//! Two hooks let a wrapper change how a training step's numbers are made without the loop
//! knowing: [`Network::backward`] (how gradients are taken) and [`Network::sum_over_replicas`]
//! (per-process sums made the run's); [`DataParallel`] uses both.

mod builder;
mod builtin;
mod ddp;
mod layers;
mod resnet;
mod small_cnn;
mod torchscript;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use tch::{Device, Tensor};

pub use builder::Builder;
pub use builtin::{Arch, Builtin, Init};
pub use ddp::DataParallel;
pub use layers::{BatchNorm2d, Conv2d, Linear};
pub use torchscript::{Split, TorchScript};

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

    /// What to tell the user before training beyond the model's name and size: how a model
    /// file was read and split.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Files to write with checkpoint `name`, committed atomically with it (a TorchScript
    /// model's `<name>.pt`).
    fn checkpoint_files(&self, _name: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(Vec::new())
    }

    /// The gradients of `loss` for `params`, one per parameter in order, undefined where the
    /// loss does not reach it (the frozen backbone): what the optimizer steps with. By
    /// default straight from autograd (`run_backward`), which leaves no `.grad` buffers to
    /// zero or accumulate into; a data-parallel wrapper runs `backward()` into `.grad`, where
    /// DDP's Reducer sums the ranks' gradients while the backward pass runs.
    fn backward(&self, loss: &Tensor, params: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(Tensor::f_run_backward(&[loss], params, false, false)?)
    }

    /// Makes per-process sums (a step's loss, validation counts) the run's: summed over every
    /// process that trains this model together, in place. A single process's sums are the
    /// run's already, so by default nothing changes.
    fn sum_over_replicas(&self, _values: &mut [f64]) -> Result<()> {
        Ok(())
    }

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

/// `--channels-last`: every 4-d tensor of `model` (convolution weights) laid out NHWC in
/// place, as `model.to(memory_format=torch.channels_last)`; refused for a model without
/// any, which the format cannot speed up.
pub fn to_channels_last(model: &dyn Network) -> Result<()> {
    let mut four_d = model
        .registry()
        .entries
        .iter()
        .filter(|e| e.tensor.dim() == 4)
        .peekable();
    if four_d.peek().is_none() {
        return Err(Error::flag(
            "--channels-last",
            format!(
                "{} has no 4-d (convolution) weights to lay out channels-last",
                model.name()
            ),
        ));
    }
    four_d.try_for_each(|e| crate::shim::amp::set_channels_last(&e.tensor))
}

/// `--model`: a built-in architecture's name or a TorchScript file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ModelArg {
    Builtin(Arch),
    File(PathBuf),
}

impl std::str::FromStr for ModelArg {
    type Err = String;

    /// A built-in name wins; anything else must be an existing file.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        use clap::ValueEnum;
        if let Ok(arch) = Arch::from_str(s, false) {
            return Ok(ModelArg::Builtin(arch));
        }
        if Path::new(s).is_file() {
            return Ok(ModelArg::File(PathBuf::from(s)));
        }
        let names: Vec<&str> = Arch::value_variants().iter().map(|a| a.name()).collect();
        Err(format!(
            "{s:?} is neither a built-in model ({}) nor an existing TorchScript file",
            names.join(", ")
        ))
    }
}

/// Which model a run trains.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// One of the built-in architectures, freshly initialised.
    Builtin { arch: Arch, init: Init },
    /// A TorchScript file, with its weights, split for the freeze phase as `split` says.
    TorchScript { path: PathBuf, split: Split },
}

impl ModelSpec {
    /// `--model` with `--init`, `--freeze-prefix` and `--head-prefix` (which clap keeps from
    /// being given together).
    pub fn from_args(
        model: &ModelArg,
        init: Init,
        freeze_prefix: &[String],
        head_prefix: &[String],
    ) -> Result<ModelSpec> {
        match model {
            ModelArg::Builtin(arch) => {
                let flag = match (freeze_prefix.is_empty(), head_prefix.is_empty()) {
                    (false, _) => "--freeze-prefix",
                    (_, false) => "--head-prefix",
                    _ => return Ok(ModelSpec::Builtin { arch: *arch, init }),
                };
                Err(Error::flag(
                    flag,
                    format!(
                        "applies to a TorchScript --model; the built-in {} knows its backbone \
                         and head",
                        arch.name()
                    ),
                ))
            }
            ModelArg::File(path) => Ok(ModelSpec::TorchScript {
                path: path.clone(),
                split: match (freeze_prefix, head_prefix) {
                    ([], []) => Split::Default,
                    (f, []) => Split::Freeze(f.to_vec()),
                    (_, h) => Split::Head(h.to_vec()),
                },
            }),
        }
    }

    /// Builds the model for `classes` classes on `device`. Draws from libtorch's generator,
    /// so call `tch::manual_seed` first for reproducible weights.
    pub fn build(&self, classes: usize, device: Device) -> Result<Box<dyn Network>> {
        match self {
            ModelSpec::Builtin { arch, init } => {
                Ok(Box::new(Builtin::new(*arch, classes, device, *init)?))
            }
            ModelSpec::TorchScript { path, split } => {
                Ok(Box::new(TorchScript::load(path, split, device)?))
            }
        }
    }

    /// Everything about the model that can be refused before the data is decoded: a model
    /// file is loaded, split and run once on a throwaway copy ([`TorchScript::probe`]).
    pub fn check(&self, classes: usize, image_size: usize, device: Device) -> Result<()> {
        match self {
            ModelSpec::Builtin { .. } => Ok(()),
            ModelSpec::TorchScript { path, split } => {
                TorchScript::load(path, split, device)?.probe(image_size, classes)
            }
        }
    }
}
