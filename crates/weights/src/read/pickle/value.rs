//! What unpickling produces: plain values, with every container in an arena.
//!
//! Containers live in the arena and are referred to by index, so the memo can share them the
//! way Python does (a dict filled after it was memoized is seen filled everywhere) without
//! reference-counted cycles, and copying a value is always O(1): a hostile pickle cannot make
//! memory grow faster than its own length.

use crate::dtype::DType;
use std::collections::HashMap;
use std::rc::Rc;

/// A storage record named by a persistent id: its bytes live outside the pickle.
#[derive(Debug)]
pub(crate) struct StorageRef {
    pub key: String,
    pub dtype: DType,
    /// Elements, as the persistent id declares them.
    pub numel: u64,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
#[derive(Debug)]
pub(crate) struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer that does not fit an i64; kept only so that it can be skipped.
    BigInt,
    Float(f64),
    Str(Rc<str>),
    /// Bytes are never weights in a torch.save file; only their presence is kept.
    Bytes,
    /// Index into the arena. Tuples live there too, so that no value owns another: a
    /// deeply nested pickle can then never overflow the stack when it is dropped.
    Tuple(usize),
    /// Index into the arena.
    List(usize),
    /// Index into the arena.
    Dict(usize),
    /// An allowed global, not yet called (or a constant such as `torch.float32`).
    Global(Rc<(String, String)>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
    /// A storage or tensor of a dtype torch has but this reader does not (`complex64`,
    /// `float8_e4m3fn`, quantized types), named as torch names it. It is an error only if
    /// it ends up among the weights, where the message can name the tensor.
    Unreadable(Rc<str>),
}

impl Value {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) | Value::Unreadable(_) => "tensor",
        }
    }

    /// A tensor, whether or not this reader can read its dtype.
    pub(crate) fn is_tensor(&self) -> bool {
        matches!(self, Value::Tensor(_) | Value::Unreadable(_))
    }
}

/// Dict keys that Python would hash equal, so that a repeated key replaces, as in Python.
#[derive(Hash, PartialEq, Eq)]
enum KeyRepr {
    Str(Rc<str>),
    Int(i64),
    None,
}

fn key_repr(v: &Value) -> Option<KeyRepr> {
    Some(match v {
        Value::Str(s) => KeyRepr::Str(s.clone()),
        // Python: True == 1 and hash(True) == hash(1).
        Value::Int(i) => KeyRepr::Int(*i),
        Value::Bool(b) => KeyRepr::Int(i64::from(*b)),
        Value::None => KeyRepr::None,
        _ => return None,
    })
}

#[derive(Default)]
pub(crate) struct Dict {
    pub items: Vec<(Value, Value)>,
    index: HashMap<KeyRepr, usize>,
}

impl Dict {
    pub(super) fn insert(&mut self, k: Value, v: Value) {
        match key_repr(&k) {
            Some(repr) => match self.index.get(&repr) {
                Some(&i) => self.items[i].1 = v,
                None => {
                    self.index.insert(repr, self.items.len());
                    self.items.push((k, v));
                }
            },
            None => self.items.push((k, v)),
        }
    }

    pub(crate) fn get_str(&self, key: &str) -> Option<&Value> {
        self.index
            .get(&KeyRepr::Str(Rc::from(key)))
            .map(|&i| &self.items[i].1)
    }
}

pub(crate) enum Container {
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Dict),
}

/// The containers a pickle built; [`Value::List`] and [`Value::Dict`] index into it.
#[derive(Default)]
pub(crate) struct Arena {
    pub containers: Vec<Container>,
    empty: Dict,
}

impl Arena {
    pub(crate) fn dict(&self, id: usize) -> &Dict {
        match self.containers.get(id) {
            Some(Container::Dict(d)) => d,
            // Unreachable: Value::Dict is only ever made by new_dict.
            _ => &self.empty,
        }
    }

    /// The items of a list or a tuple.
    pub(crate) fn items(&self, id: usize) -> &[Value] {
        match self.containers.get(id) {
            Some(Container::List(l) | Container::Tuple(l)) => l,
            _ => &[],
        }
    }

    pub(super) fn new_tuple(&mut self, items: Vec<Value>) -> Value {
        self.containers.push(Container::Tuple(items));
        Value::Tuple(self.containers.len() - 1)
    }

    pub(super) fn new_dict(&mut self) -> Value {
        self.containers.push(Container::Dict(Dict::default()));
        Value::Dict(self.containers.len() - 1)
    }

    pub(super) fn new_list(&mut self, items: Vec<Value>) -> Value {
        self.containers.push(Container::List(items));
        Value::List(self.containers.len() - 1)
    }
}
