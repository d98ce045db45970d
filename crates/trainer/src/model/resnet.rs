//! ResNet-18/34/50 with torchvision's exact tensor names (`conv1`, `bn1`, `layer1.0.conv1`,
//! `layer1.0.downsample.{0,1}`, `fc`), so a torchvision `state_dict()` loads by name.
//! Bottleneck blocks put the stride on the 3×3 conv (torchvision's "v1.5").

use tch::Tensor;

use super::layers::{BatchNorm2d, Conv2d, Linear};
use super::{Builder, Subnet};
use crate::error::Result;

#[derive(Debug, Clone, Copy)]
pub enum Depth {
    R18,
    R34,
    R50,
}

impl Depth {
    fn layers(self) -> [usize; 4] {
        match self {
            Depth::R18 => [2, 2, 2, 2],
            Depth::R34 | Depth::R50 => [3, 4, 6, 3],
        }
    }

    fn bottleneck(self) -> bool {
        matches!(self, Depth::R50)
    }
}

struct Block {
    convs: Vec<(Conv2d, BatchNorm2d)>,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl Block {
    fn new(b: &mut Builder, c_in: i64, width: i64, stride: i64, bottleneck: bool) -> Block {
        let expansion = if bottleneck { 4 } else { 1 };
        let c_out = width * expansion;
        let specs: Vec<(i64, i64, i64, i64, i64)> = if bottleneck {
            vec![
                (c_in, width, 1, 1, 0),
                (width, width, 3, stride, 1),
                (width, c_out, 1, 1, 0),
            ]
        } else {
            vec![(c_in, width, 3, stride, 1), (width, width, 3, 1, 1)]
        };
        let convs = specs
            .into_iter()
            .enumerate()
            .map(|(i, (ci, co, k, s, p))| {
                let conv = b.sub(format!("conv{}", i + 1), |b| {
                    Conv2d::new(b, ci, co, k, s, p)
                });
                let bn = b.sub(format!("bn{}", i + 1), |b| BatchNorm2d::new(b, co));
                (conv, bn)
            })
            .collect();
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            b.sub("downsample", |b| {
                let conv = b.sub(0, |b| Conv2d::new(b, c_in, c_out, 1, stride, 0));
                let bn = b.sub(1, |b| BatchNorm2d::new(b, c_out));
                (conv, bn)
            })
        });
        Block { convs, downsample }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.shallow_clone();
        let last = self.convs.len() - 1;
        for (i, (conv, bn)) in self.convs.iter().enumerate() {
            h = bn.forward(&conv.forward(&h)?, train)?;
            if i != last {
                h = h.f_relu()?;
            }
        }
        let identity = match &self.downsample {
            Some((conv, bn)) => bn.forward(&conv.forward(x)?, train)?,
            None => x.shallow_clone(),
        };
        Ok((h + identity).f_relu()?)
    }
}

pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    layers: Vec<Block>,
    pub fc: Linear,
}

impl ResNet {
    pub fn new(b: &mut Builder, depth: Depth, classes: i64) -> ResNet {
        let conv1 = b.sub("conv1", |b| Conv2d::new(b, 3, 64, 7, 2, 3));
        let bn1 = b.sub("bn1", |b| BatchNorm2d::new(b, 64));
        let bottleneck = depth.bottleneck();
        let expansion = if bottleneck { 4 } else { 1 };
        let mut c_in = 64;
        let mut layers = Vec::new();
        for (li, (&n, width)) in depth.layers().iter().zip([64, 128, 256, 512]).enumerate() {
            b.sub(format!("layer{}", li + 1), |b| {
                for i in 0..n {
                    let stride = if i == 0 && li > 0 { 2 } else { 1 };
                    layers.push(b.sub(i, |b| Block::new(b, c_in, width, stride, bottleneck)));
                    c_in = width * expansion;
                }
            });
        }
        let fc = b.subnet(Subnet::Head, |b| {
            b.sub("fc", |b| Linear::new(b, c_in, classes))
        });
        ResNet {
            conv1,
            bn1,
            layers,
            fc,
        }
    }

    pub fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.bn1.forward(&self.conv1.forward(x)?, train)?.f_relu()?;
        let mut h = h.f_max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)?;
        for block in &self.layers {
            h = block.forward(&h, train)?;
        }
        Ok(h.f_adaptive_avg_pool2d([1, 1])?.f_flatten(1, -1)?)
    }
}
