//! The built-in architectures behind the [`Network`] seam: the small CNN and ResNet-18/34/50
//! with torchvision's tensor names.

use tch::{Device, Tensor};

use super::{Builder, Mode, Network, Registry, resnet, small_cnn};
use crate::error::{Error, Result};

/// How fresh weights are drawn.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum Init {
    /// conv N(0, 0.02), batch-norm weight N(1, 0.02), as the original training code.
    Normal,
    /// conv Kaiming-normal (fan_out, ReLU), batch-norm weight 1, as torchvision.
    Kaiming,
}

/// Which architecture to build.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
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

/// A built-in model: its modules and the registry of its tensors.
pub struct Builtin {
    pub arch: Arch,
    pub classes: usize,
    pub registry: Registry,
    net: Net,
}

impl Builtin {
    /// Builds a fresh model for `classes` classes and 3-channel input. Draws from libtorch's
    /// generator, so call `tch::manual_seed` first for reproducible weights.
    pub fn new(arch: Arch, classes: usize, device: Device, init: Init) -> Result<Builtin> {
        if classes == 0 {
            return Err(Error::flag("--model", "the data has no classes"));
        }
        let mut registry = Registry::default();
        let net = tch::no_grad(|| {
            let mut b = Builder::new(&mut registry, device, init);
            let classes = classes as i64;
            let resnet =
                |b: &mut Builder, depth| Net::Resnet(resnet::ResNet::new(b, depth, classes));
            match arch {
                Arch::SmallCnn => Net::Small(small_cnn::SmallCnn::new(&mut b, classes)),
                Arch::Resnet18 => resnet(&mut b, resnet::Depth::R18),
                Arch::Resnet34 => resnet(&mut b, resnet::Depth::R34),
                Arch::Resnet50 => resnet(&mut b, resnet::Depth::R50),
            }
        });
        Ok(Builtin {
            arch,
            classes,
            registry,
            net,
        })
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
}

impl Network for Builtin {
    fn name(&self) -> &str {
        self.arch.name()
    }

    fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The backbone is a separate function of the input, so the freeze phase runs it in eval
    /// mode under `no_grad` and trains the head on its output.
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let features = match mode {
            Mode::Train => self.features(x, true)?,
            Mode::Eval => self.features(x, false)?,
            Mode::TrainFrozen => {
                let _guard = tch::no_grad_guard();
                self.features(x, false)?
            }
        };
        self.head(&features)
    }
}
