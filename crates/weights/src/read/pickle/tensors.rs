//! `torch._utils._rebuild_tensor*`: a tensor as a strided view of a storage, checked so
//! that it cannot reach outside that storage.

use super::damaged;
use super::value::{TensorRef, Value};
use super::vm::Vm;
use crate::dtype::TorchType;
use crate::read::Fault;
use std::rc::Rc;

/// Dimensions beyond this are not a tensor torch can make (it allows 64).
const MAX_RANK: usize = 64;

impl Vm<'_, '_> {
    /// `_rebuild_tensor(storage, offset, size, stride)` (PyTorch 0.3 and before), `_v2`
    /// (adds requires_grad and hooks) and `_v3` (adds the dtype, for types without a typed
    /// storage class).
    pub(super) fn rebuild_tensor(&self, name: &str, args: &[Value]) -> Result<Value, Fault> {
        let [storage, offset, size, stride, rest @ ..] = args else {
            return Err(damaged(
                self.pos,
                format!("{name} needs at least 4 arguments"),
            ));
        };
        if name == "_rebuild_tensor_v3" {
            if let Some(unread) = v3_dtype(storage, rest.get(2))? {
                return Ok(unread);
            }
        }
        let storage = match storage {
            Value::Storage(s) => s,
            Value::Unreadable(dtype) => return Ok(Value::Unreadable(dtype.clone())),
            other => {
                return Err(damaged(
                    self.pos,
                    format!("{name} on a {}, not a storage", other.type_name()),
                ));
            }
        };
        let Value::Int(offset) = offset else {
            return Err(damaged(self.pos, "storage offset is not an int"));
        };
        let offset =
            usize::try_from(*offset).map_err(|_| damaged(self.pos, "negative storage offset"))?;
        let shape = self.dims(size, "size")?;
        let stride = self.dims(stride, "stride")?;
        if shape.len() != stride.len() {
            return Err(damaged(
                self.pos,
                format!("shape {shape:?} and stride {stride:?} differ in rank"),
            ));
        }
        let view = TensorRef {
            storage: storage.clone(),
            offset,
            shape,
            stride,
        };
        self.check_bounds(&view)?;
        Ok(Value::Tensor(Rc::new(view)))
    }

    /// `_rebuild_qtensor(storage, ...)`: a quantized tensor, which this reader does not read.
    pub(super) fn rebuild_quantized(&self, args: &[Value]) -> Result<Value, Fault> {
        match args.first() {
            Some(Value::Unreadable(dtype)) => Ok(Value::Unreadable(dtype.clone())),
            _ => Err(damaged(
                self.pos,
                "_rebuild_qtensor on something that is not a quantized storage",
            )),
        }
    }

    /// The last element the view reaches must lie inside the storage, or the tensor would
    /// read another tensor's bytes (or past the file).
    fn check_bounds(&self, t: &TensorRef) -> Result<(), Fault> {
        let (shape, stride, offset) = (&t.shape, &t.stride, t.offset);
        let elements = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| damaged(self.pos, format!("shape {shape:?} overflows")))?;
        if elements == 0 {
            return Ok(());
        }
        let last = shape
            .iter()
            .zip(stride)
            .try_fold(offset, |acc, (&d, &s)| {
                (d - 1).checked_mul(s)?.checked_add(acc)
            })
            .ok_or_else(|| damaged(self.pos, format!("stride {stride:?} overflows")))?;
        if last as u64 >= t.storage.numel {
            return Err(Fault::Format(format!(
                "a tensor of shape {shape:?}, stride {stride:?} at offset {offset} reaches \
                 element {last} of storage '{}', which holds only {} elements",
                t.storage.key, t.storage.numel
            )));
        }
        Ok(())
    }

    /// A tensor's size or stride: a short sequence of non-negative ints.
    fn dims(&self, v: &Value, what: &str) -> Result<Vec<usize>, Fault> {
        let items = self.sequence(v)?;
        if items.len() > MAX_RANK {
            return Err(damaged(
                self.pos,
                format!("tensor {what} has {} dimensions", items.len()),
            ));
        }
        items
            .iter()
            .map(|d| match d {
                Value::Int(i) => usize::try_from(*i)
                    .map_err(|_| damaged(self.pos, format!("negative tensor {what} {i}"))),
                other => Err(damaged(
                    self.pos,
                    format!("tensor {what} holds a {}", other.type_name()),
                )),
            })
            .collect()
    }
}

/// `_rebuild_tensor_v3` names the dtype explicitly; torch uses it only for types that have
/// no typed storage class (`float8_*`, `uint16`, ...), which this reader does not read.
/// `Some` is such a tensor; `None` means the dtype is the storage's own and it reads as v2.
fn v3_dtype(storage: &Value, dtype: Option<&Value>) -> Result<Option<Value>, Fault> {
    let named = match dtype {
        Some(Value::Global(g)) if g.0 == "torch" => TorchType::from_dtype_name(&g.1),
        _ => None,
    };
    match (named, storage) {
        (Some(TorchType::Unread(name)), _) => Ok(Some(Value::Unreadable(Rc::from(name)))),
        (Some(TorchType::Read(d)), Value::Storage(s)) if s.dtype == d => Ok(None),
        _ => {
            let spelled = match dtype {
                Some(Value::Global(g)) => format!("torch.{}", g.1),
                _ => "an unknown dtype".to_string(),
            };
            let held = match storage {
                Value::Storage(s) => format!("an {} storage", s.dtype),
                Value::Unreadable(d) => format!("a {d} storage"),
                other => format!("a {}", other.type_name()),
            };
            Err(Fault::Format(format!(
                "holds a tensor of dtype {spelled} in {held}, which torch.save does not write"
            )))
        }
    }
}
