//! The three module types, as functions over registered tensors. Each constructor registers
//! its tensors with their kind (which decides the parameter group) and torchvision's leaf
//! names (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`).

use tch::{Kind, Tensor};

use super::{Builder, Init, TensorKind};
use crate::error::Result;

/// 2-D convolution without bias (every conv here is followed by batch-norm).
#[derive(Debug)]
pub struct Conv2d {
    weight: Tensor,
    stride: i64,
    padding: i64,
}

impl Conv2d {
    pub fn new(b: &mut Builder, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> Self {
        let mut w = b.zeros(&[c_out, c_in, k, k]);
        match b.init {
            Init::Normal => {
                let _ = w.normal_(0.0, 0.02);
            }
            Init::Kaiming => {
                // kaiming_normal_(mode="fan_out", nonlinearity="relu"), as torchvision.
                let fan_out = (c_out * k * k) as f64;
                let _ = w.normal_(0.0, (2.0 / fan_out).sqrt());
            }
        }
        Conv2d {
            weight: b.add("weight", w, TensorKind::Weight),
            stride,
            padding,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_conv2d::<Tensor>(
            &self.weight,
            None,
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            1,
        )?)
    }
}

/// Batch normalisation over channels, momentum 0.1, eps 1e-5 (PyTorch's defaults).
#[derive(Debug)]
pub struct BatchNorm2d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Tensor,
}

impl BatchNorm2d {
    pub fn new(b: &mut Builder, c: i64) -> Self {
        let mut w = b.zeros(&[c]);
        match b.init {
            Init::Normal => {
                let _ = w.normal_(1.0, 0.02);
            }
            Init::Kaiming => {
                let _ = w.fill_(1.0);
            }
        }
        let weight = b.add("weight", w, TensorKind::BnWeight);
        let bias = b.add("bias", b.zeros(&[c]), TensorKind::Bias);
        let running_mean = b.add("running_mean", b.zeros(&[c]), TensorKind::Buffer);
        let running_var = b.add("running_var", b.zeros(&[c]).fill_(1.0), TensorKind::Buffer);
        let nbt = Tensor::zeros([], (Kind::Int64, b.device));
        let num_batches_tracked = b.add("num_batches_tracked", nbt, TensorKind::Buffer);
        BatchNorm2d {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train {
            let _guard = tch::no_grad_guard();
            let _ = self.num_batches_tracked.shallow_clone().f_add_scalar_(1)?;
        }
        Ok(x.f_batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            0.1,
            1e-5,
            true,
        )?)
    }
}

/// Fully connected layer with bias; PyTorch's default init (uniform ±1/sqrt(fan_in)) in both
/// modes, which is what the original leaves it at.
#[derive(Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn new(b: &mut Builder, c_in: i64, c_out: i64) -> Self {
        let bound = 1.0 / (c_in as f64).sqrt();
        let mut w = b.zeros(&[c_out, c_in]);
        let _ = w.uniform_(-bound, bound);
        let mut bias = b.zeros(&[c_out]);
        let _ = bias.uniform_(-bound, bound);
        Linear {
            weight: b.add("weight", w, TensorKind::Weight),
            bias: b.add("bias", bias, TensorKind::Bias),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_linear(&self.weight, Some(&self.bias))?)
    }
}

/// conv → batch-norm → ReLU, the repeated unit of the small CNN.
#[derive(Debug)]
pub struct ConvBnRelu {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ConvBnRelu {
    pub fn new(b: &mut Builder, c_in: i64, c_out: i64, stride: i64) -> Self {
        let conv = b.sub("conv", |b| Conv2d::new(b, c_in, c_out, 3, stride, 1));
        let bn = b.sub("bn", |b| BatchNorm2d::new(b, c_out));
        ConvBnRelu { conv, bn }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.bn.forward(&self.conv.forward(x)?, train)?.f_relu()?)
    }
}
