//! An owned tensor in the simplest form every consumer can use: type, shape, bytes.
//!
//! The reader always hands back contiguous row-major little-endian bytes, whatever layout
//! the file stored (transposed views, offsets into shared storages), so a consumer such as
//! the trainer can copy `data` straight into its own tensor without knowing about strides.

use crate::dtype::DType;
use half::{bf16, f16};

/// A dense tensor: `data` holds `numel() * dtype.size()` bytes, row-major, little-endian.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Tensor {
    /// Number of elements (1 for a scalar, 0 if any dimension is 0).
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Size of `data` a well-formed tensor of this type and shape has.
    pub fn nbytes(&self) -> usize {
        self.numel() * self.dtype.size()
    }

    /// The values as `f32`, whatever the stored type, for consumers that train in f32.
    ///
    /// Integers wider than 24 bits lose precision, as they do in `tensor.float()`; booleans
    /// become 0.0 and 1.0. Bytes past `numel()` elements (which a well-formed tensor does
    /// not have) are ignored rather than trusted.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let n = self.numel();
        let size = self.dtype.size();
        let chunks = self.data.chunks_exact(size).take(n);
        match self.dtype {
            DType::F32 => chunks.map(|c| f32::from_le_bytes(arr(c))).collect(),
            DType::F64 => chunks.map(|c| f64::from_le_bytes(arr(c)) as f32).collect(),
            DType::F16 => chunks
                .map(|c| f16::from_le_bytes(arr(c)).to_f32())
                .collect(),
            DType::BF16 => chunks
                .map(|c| bf16::from_le_bytes(arr(c)).to_f32())
                .collect(),
            DType::I64 => chunks.map(|c| i64::from_le_bytes(arr(c)) as f32).collect(),
            DType::I32 => chunks.map(|c| i32::from_le_bytes(arr(c)) as f32).collect(),
            DType::I16 => chunks.map(|c| i16::from_le_bytes(arr(c)) as f32).collect(),
            DType::I8 => chunks.map(|c| f32::from(c[0] as i8)).collect(),
            DType::U8 => chunks.map(|c| f32::from(c[0])).collect(),
            DType::Bool => chunks.map(|c| f32::from(u8::from(c[0] != 0))).collect(),
        }
    }

    /// An f32 tensor from values in row-major order, as the trainer holds its weights.
    ///
    /// # Panics
    ///
    /// If `values.len()` is not the product of `shape`: that is a bug in the caller, not
    /// bad input, and a tensor whose bytes disagree with its shape must never be written.
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Tensor {
        assert_eq!(
            numel(&shape),
            values.len(),
            "Tensor::from_f32: shape {shape:?} needs {} values, got {}",
            numel(&shape),
            values.len()
        );
        let mut data = Vec::with_capacity(values.len() * 4);
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        Tensor {
            dtype: DType::F32,
            shape,
            data,
        }
    }
}

/// Elements in a shape; saturates instead of overflowing so it is safe on hostile shapes.
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}

fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&c[..N]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_round_trip() {
        let t = Tensor::from_f32(vec![2, 2], &[1.0, -2.5, f32::INFINITY, 0.0]);
        assert_eq!(t.nbytes(), 16);
        assert_eq!(t.to_f32_vec(), vec![1.0, -2.5, f32::INFINITY, 0.0]);
    }

    #[test]
    fn converts_every_dtype() {
        let cases: Vec<(DType, Vec<u8>, f32)> = vec![
            (DType::F64, 1.5f64.to_le_bytes().to_vec(), 1.5),
            (DType::F16, f16::from_f32(0.5).to_le_bytes().to_vec(), 0.5),
            (
                DType::BF16,
                bf16::from_f32(-2.0).to_le_bytes().to_vec(),
                -2.0,
            ),
            (DType::I64, (-7i64).to_le_bytes().to_vec(), -7.0),
            (DType::I32, 9i32.to_le_bytes().to_vec(), 9.0),
            (DType::I16, (-3i16).to_le_bytes().to_vec(), -3.0),
            (DType::I8, vec![0xff], -1.0),
            (DType::U8, vec![0xff], 255.0),
            (DType::Bool, vec![1], 1.0),
        ];
        for (dtype, data, want) in cases {
            let t = Tensor {
                dtype,
                shape: vec![],
                data,
            };
            assert_eq!(t.to_f32_vec(), vec![want], "{dtype}");
        }
    }

    #[test]
    fn short_data_does_not_panic() {
        let t = Tensor {
            dtype: DType::F32,
            shape: vec![4],
            data: vec![0; 5],
        };
        assert_eq!(t.to_f32_vec().len(), 1);
    }
}
