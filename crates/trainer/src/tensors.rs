//! The one crossing between `lrplan-weights` tensors (bytes, dtype, shape) and tch tensors,
//! used by pretrained weights and checkpoints alike, so both read a file the same way.
//!
//! Integers (batch-norm's `num_batches_tracked`) cross as i64 and keep their exact value;
//! every floating type crosses as f32, the precision the models train in.

use std::collections::BTreeMap;
use std::path::Path;

use lrplan_weights::{DType, ReadOptions};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// A weights-crate tensor as a CPU tch tensor (i64 for integers, f32 otherwise).
pub fn to_tch(t: &lrplan_weights::Tensor) -> Result<Tensor> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let flat = if t.dtype == DType::I64 {
        let v: Vec<i64> = t
            .data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        Tensor::from_slice(&v)
    } else {
        Tensor::from_slice(&t.to_f32_vec())
    };
    Ok(flat.f_reshape(&shape)?)
}

/// A tch tensor (on any device) as a weights-crate tensor: f32 and i64 only, the kinds the
/// trainer's models hold.
pub fn from_tch(name: &str, t: &Tensor) -> Result<lrplan_weights::Tensor> {
    let t = t.f_to_device(Device::Cpu)?.f_contiguous()?;
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let n = t.numel();
    match t.kind() {
        Kind::Float => {
            let mut v = vec![0f32; n];
            t.f_copy_data(&mut v, n)?;
            Ok(lrplan_weights::Tensor::from_f32(shape, &v))
        }
        Kind::Int64 => {
            let mut v = vec![0i64; n];
            t.f_copy_data(&mut v, n)?;
            Ok(lrplan_weights::Tensor {
                dtype: DType::I64,
                shape,
                data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            })
        }
        k => Err(Error::flag(
            "checkpoint",
            format!("tensor {name} has kind {k:?}, only f32 and i64 are saved"),
        )),
    }
}

/// Every tensor of a weight file (safetensors, or anything `lrplan-weights` reads) as CPU
/// tch tensors by name.
pub fn read_file(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let sd = lrplan_weights::read_file(path, &ReadOptions::default())?;
    sd.tensors
        .iter()
        .map(|(name, t)| Ok((name.clone(), to_tch(t)?)))
        .collect()
}
