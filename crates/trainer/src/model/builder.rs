//! The context the built-in modules are constructed in: it names each tensor as torchvision
//! would (`layer1.0.conv1.weight`) and records its kind and sub-network in the registry while
//! the facts are at hand; afterwards they are lost.

use tch::{Device, Kind, Tensor};

use super::{Entry, Init, Registry, Subnet, TensorKind};

/// Where tensors live, how they start, and the dotted prefix and sub-network being built.
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
