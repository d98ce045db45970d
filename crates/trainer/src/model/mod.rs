//! Models built from plain tensors plus a registry that records, for every tensor, its
//! torchvision-style name, the kind of module that owns it and the sub-network it sits in.
//!
//! Why not `nn::VarStore`: parameter groups are decided by module type (a batch-norm weight
//! gets no weight decay, a conv weight does), and the freeze phase by sub-network; both are
//! facts known when a module is built and lost afterwards. The registry keeps them, and the
//! names it keeps are exactly torchvision's, so a torchvision state dict loads by name.

mod layers;
mod resnet;
mod small_cnn;

use std::fmt;

use tch::{Device, Kind, Tensor};

pub use layers::{BatchNorm2d, Conv2d, Linear};

use crate::error::{Error, Result};

/// What a tensor is to the module that owns it; decides its parameter group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorKind {
    ConvWeight,
    LinearWeight,
    /// Batch-norm scale (gamma): group 0, no weight decay.
    BnWeight,
    /// Batch-norm shift (beta).
    BnBias,
    LinearBias,
    ConvBias,
    /// Batch-norm running statistics: state, not trained.
    RunningMean,
    RunningVar,
    /// Batch-norm update counter (int64, as torchvision stores it).
    NumBatchesTracked,
}

impl TensorKind {
    /// Whether the optimizer updates it.
    pub fn trainable(self) -> bool {
        !matches!(
            self,
            TensorKind::RunningMean | TensorKind::RunningVar | TensorKind::NumBatchesTracked
        )
    }

    pub fn is_bias(self) -> bool {
        matches!(
            self,
            TensorKind::BnBias | TensorKind::LinearBias | TensorKind::ConvBias
        )
    }
}

/// The two parts of every model: the feature extractor that the freeze phase holds still,
/// and the classifier sized by the data's class count.
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

/// Every tensor of a model in registration order (torchvision's `state_dict()` order).
#[derive(Debug, Default)]
pub struct Registry {
    pub entries: Vec<Entry>,
}

/// How fresh weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Init {
    /// conv N(0, 0.02), batch-norm weight N(1, 0.02), as the original training code.
    Normal,
    /// conv Kaiming-normal (fan_out, ReLU), batch-norm weight 1, as torchvision.
    Kaiming,
}

/// Context handed to module constructors: where tensors live and how they start.
pub struct Builder<'a> {
    pub registry: &'a mut Registry,
    pub device: Device,
    pub init: Init,
    prefix: Vec<String>,
    subnet: Subnet,
}

impl<'a> Builder<'a> {
    pub fn new(registry: &'a mut Registry, device: Device, init: Init) -> Self {
        Builder {
            registry,
            device,
            init,
            prefix: Vec::new(),
            subnet: Subnet::Backbone,
        }
    }

    /// Runs `f` with `name` appended to the dotted prefix.
    pub fn sub<T>(&mut self, name: impl ToString, f: impl FnOnce(&mut Self) -> T) -> T {
        self.prefix.push(name.to_string());
        let r = f(self);
        self.prefix.pop();
        r
    }

    /// Runs `f` with every tensor it creates recorded as part of `subnet`.
    pub fn subnet<T>(&mut self, subnet: Subnet, f: impl FnOnce(&mut Self) -> T) -> T {
        let prev = std::mem::replace(&mut self.subnet, subnet);
        let r = f(self);
        self.subnet = prev;
        r
    }

    /// Registers a tensor under the current prefix and returns a handle sharing its storage.
    pub fn add(&mut self, leaf: &str, tensor: Tensor, kind: TensorKind) -> Tensor {
        let tensor = if kind.trainable() {
            tensor.set_requires_grad(true)
        } else {
            tensor
        };
        let mut name = self.prefix.join(".");
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(leaf);
        let handle = tensor.shallow_clone();
        self.registry.entries.push(Entry {
            name,
            tensor,
            kind,
            subnet: self.subnet,
        });
        handle
    }

    pub fn zeros(&self, shape: &[i64]) -> Tensor {
        Tensor::zeros(shape, (Kind::Float, self.device))
    }
}

/// Which architecture to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// Three conv–batch-norm–ReLU blocks (16, 32, 64 channels), global pooling, linear head.
    SmallCnn,
    Resnet18,
    Resnet34,
    Resnet50,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::SmallCnn => "small-cnn",
            Arch::Resnet18 => "resnet18",
            Arch::Resnet34 => "resnet34",
            Arch::Resnet50 => "resnet50",
        }
    }
}

enum Net {
    Small(small_cnn::SmallCnn),
    Resnet(resnet::ResNet),
}

/// A model: its modules and the registry of its tensors.
pub struct Model {
    pub arch: Arch,
    pub classes: usize,
    pub registry: Registry,
    net: Net,
}

impl Model {
    /// Builds a fresh model for `classes` classes and 3-channel input. Draws from libtorch's
    /// generator, so call `tch::manual_seed` first for reproducible weights.
    pub fn new(arch: Arch, classes: usize, device: Device, init: Init) -> Result<Model> {
        if classes == 0 {
            return Err(Error::flag("--model", "the data has no classes"));
        }
        let mut registry = Registry::default();
        let net = tch::no_grad(|| {
            let mut b = Builder::new(&mut registry, device, init);
            match arch {
                Arch::SmallCnn => Net::Small(small_cnn::SmallCnn::new(&mut b, classes as i64)),
                Arch::Resnet18 => Net::Resnet(resnet::ResNet::new(
                    &mut b,
                    resnet::Depth::R18,
                    classes as i64,
                )),
                Arch::Resnet34 => Net::Resnet(resnet::ResNet::new(
                    &mut b,
                    resnet::Depth::R34,
                    classes as i64,
                )),
                Arch::Resnet50 => Net::Resnet(resnet::ResNet::new(
                    &mut b,
                    resnet::Depth::R50,
                    classes as i64,
                )),
            }
        });
        Ok(Model {
            arch,
            classes,
            registry,
            net,
        })
    }

    /// Logits for a batch `[N, 3, H, W]`.
    ///
    /// `train`: batch-norm uses batch statistics and updates its running ones.
    /// `freeze_backbone`: the backbone runs in eval mode (running statistics, no update) and
    /// without autograd, so it neither receives gradients nor changes in any way; only the
    /// head trains. This is the documented freeze-phase behaviour.
    pub fn forward(&self, x: &Tensor, train: bool, freeze_backbone: bool) -> Result<Tensor> {
        let backbone_train = train && !freeze_backbone;
        let features = if freeze_backbone {
            let _guard = tch::no_grad_guard();
            self.features(x, false)?
        } else {
            self.features(x, backbone_train)?
        };
        self.head(&features)
    }

    fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match &self.net {
            Net::Small(m) => m.features(x, train),
            Net::Resnet(m) => m.features(x, train),
        }
    }

    fn head(&self, x: &Tensor) -> Result<Tensor> {
        match &self.net {
            Net::Small(m) => m.head.forward(x),
            Net::Resnet(m) => m.fc.forward(x),
        }
    }

    /// Names and shapes of every tensor, for matching a weight file.
    pub fn keys(&self) -> Vec<(String, Vec<usize>)> {
        self.registry
            .entries
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    e.tensor.size().iter().map(|&d| d as usize).collect(),
                )
            })
            .collect()
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.registry.entries.iter().find(|e| e.name == name)
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> i64 {
        self.registry
            .entries
            .iter()
            .filter(|e| e.kind.trainable())
            .map(|e| e.tensor.numel() as i64)
            .sum()
    }
}
