//! The small built-in CNN: `backbone.{0,1,2}` conv–batch-norm–ReLU blocks (16, 32, 64
//! channels; the last two stride 2), global average pooling, and `head`, a linear layer.
//! Small enough to train the digits job on two CPU cores in about a minute.

use tch::Tensor;

use super::layers::{ConvBnRelu, Linear};
use super::{Builder, Subnet};
use crate::error::Result;

pub struct SmallCnn {
    blocks: Vec<ConvBnRelu>,
    pub head: Linear,
}

const WIDTHS: [(i64, i64, i64); 3] = [(3, 16, 1), (16, 32, 2), (32, 64, 2)];

impl SmallCnn {
    pub fn new(b: &mut Builder, classes: i64) -> Self {
        let blocks = b.sub("backbone", |b| {
            WIDTHS
                .iter()
                .enumerate()
                .map(|(i, &(c_in, c_out, s))| b.sub(i, |b| ConvBnRelu::new(b, c_in, c_out, s)))
                .collect()
        });
        let head = b.subnet(Subnet::Head, |b| {
            b.sub("head", |b| Linear::new(b, WIDTHS[2].1, classes))
        });
        SmallCnn { blocks, head }
    }

    pub fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.shallow_clone();
        for block in &self.blocks {
            h = block.forward(&h, train)?;
        }
        Ok(h.f_adaptive_avg_pool2d([1, 1])?.f_flatten(1, -1)?)
    }
}
