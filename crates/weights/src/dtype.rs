//! Element types, and how each file format spells them.
//!
//! PyTorch names a tensor's type through its storage class (`torch.HalfStorage`),
//! safetensors through a short code (`F16`). Keeping both spellings next to the one enum
//! means a reader cannot accept a type the writer would then fail on.

use serde::Serialize;
use std::fmt;

/// The element types a weight file may hold (those `torch.save` writes as typed storages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    /// One byte per element, 0 or 1.
    Bool,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// Short lowercase name used in reports (`f32`, `bf16`, `bool`).
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::I16 => "i16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::Bool => "bool",
        }
    }

    /// Whether the values are floating point, i.e. what an optimizer would train.
    pub const fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    pub(crate) fn to_safetensors(self) -> safetensors::Dtype {
        use safetensors::Dtype as S;
        match self {
            DType::F32 => S::F32,
            DType::F64 => S::F64,
            DType::F16 => S::F16,
            DType::BF16 => S::BF16,
            DType::I64 => S::I64,
            DType::I32 => S::I32,
            DType::I16 => S::I16,
            DType::I8 => S::I8,
            DType::U8 => S::U8,
            DType::Bool => S::BOOL,
        }
    }

    pub(crate) fn from_safetensors(dtype: safetensors::Dtype) -> Option<DType> {
        use safetensors::Dtype as S;
        Some(match dtype {
            S::F32 => DType::F32,
            S::F64 => DType::F64,
            S::F16 => DType::F16,
            S::BF16 => DType::BF16,
            S::I64 => DType::I64,
            S::I32 => DType::I32,
            S::I16 => DType::I16,
            S::I8 => DType::I8,
            S::U8 => DType::U8,
            S::BOOL => DType::Bool,
            _ => return None,
        })
    }
}

/// An element type as torch names it, in a storage class (`torch.HalfStorage`) or a dtype
/// (`torch.float16`): one this crate reads, or one torch has that it does not.
///
/// Knowing the second kind by name lets a file that holds, say, a complex tensor fail with
/// the tensor's name and dtype instead of being mistaken for a pickle that runs code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TorchType {
    Read(DType),
    /// Not read here; torch's name for it (`complex64`, `float8_e4m3fn`, `qint8`).
    Unread(&'static str),
}

impl TorchType {
    /// The type a `torch.<Name>Storage` class holds.
    pub(crate) fn from_storage_class(name: &str) -> Option<TorchType> {
        use TorchType::{Read, Unread};
        Some(match name {
            "FloatStorage" => Read(DType::F32),
            "DoubleStorage" => Read(DType::F64),
            "HalfStorage" => Read(DType::F16),
            "BFloat16Storage" => Read(DType::BF16),
            "LongStorage" => Read(DType::I64),
            "IntStorage" => Read(DType::I32),
            "ShortStorage" => Read(DType::I16),
            "CharStorage" => Read(DType::I8),
            "ByteStorage" => Read(DType::U8),
            "BoolStorage" => Read(DType::Bool),
            "ComplexFloatStorage" => Unread("complex64"),
            "ComplexDoubleStorage" => Unread("complex128"),
            "QInt8Storage" => Unread("qint8"),
            "QUInt8Storage" => Unread("quint8"),
            "QInt32Storage" => Unread("qint32"),
            "QUInt4x2Storage" => Unread("quint4x2"),
            "QUInt2x4Storage" => Unread("quint2x4"),
            _ => return None,
        })
    }

    /// The type a `torch.<name>` dtype names (protocol 2 pickles dtypes as globals).
    pub(crate) fn from_dtype_name(name: &str) -> Option<TorchType> {
        use TorchType::{Read, Unread};
        Some(match name {
            "float32" | "float" => Read(DType::F32),
            "float64" | "double" => Read(DType::F64),
            "float16" | "half" => Read(DType::F16),
            "bfloat16" => Read(DType::BF16),
            "int64" | "long" => Read(DType::I64),
            "int32" | "int" => Read(DType::I32),
            "int16" | "short" => Read(DType::I16),
            "int8" => Read(DType::I8),
            "uint8" => Read(DType::U8),
            "bool" => Read(DType::Bool),
            "complex64" | "cfloat" => Unread("complex64"),
            "complex128" | "cdouble" => Unread("complex128"),
            "complex32" | "chalf" => Unread("complex32"),
            "uint16" => Unread("uint16"),
            "uint32" => Unread("uint32"),
            "uint64" => Unread("uint64"),
            "float8_e4m3fn" => Unread("float8_e4m3fn"),
            "float8_e5m2" => Unread("float8_e5m2"),
            "float8_e4m3fnuz" => Unread("float8_e4m3fnuz"),
            "float8_e5m2fnuz" => Unread("float8_e5m2fnuz"),
            "float8_e8m0fnu" => Unread("float8_e8m0fnu"),
            "float4_e2m1fn_x2" => Unread("float4_e2m1fn_x2"),
            "bits1x8" => Unread("bits1x8"),
            "bits2x4" => Unread("bits2x4"),
            "bits4x2" => Unread("bits4x2"),
            "bits8" => Unread("bits8"),
            "bits16" => Unread("bits16"),
            "qint8" => Unread("qint8"),
            "quint8" => Unread("quint8"),
            "qint32" => Unread("qint32"),
            "quint4x2" => Unread("quint4x2"),
            "quint2x4" => Unread("quint2x4"),
            _ => return None,
        })
    }
}

/// Why a tensor of another element type cannot be read, naming the tensor and its type.
pub(crate) fn unsupported(tensor: &str, dtype: &str) -> String {
    format!(
        "tensor '{tensor}' has dtype {dtype}, which this reader does not support (supported: \
         f32 f64 f16 bf16 i64 i32 i16 i8 u8 bool); convert it to one of those before saving, \
         or leave it out of the file"
    )
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
