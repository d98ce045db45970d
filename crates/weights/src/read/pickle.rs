//! A restricted unpickler: the opcodes `torch.save` emits, and nothing that can run code.
//!
//! Python's unpickler imports whatever module a pickle names and calls whatever it is told
//! to, which is why a downloaded `.pt` file can run code. This one resolves a short list of
//! globals (tensor rebuilding, storage types, plain containers) to built-in behaviour and
//! refuses every other global the moment the pickle names it, before anything else
//! happens. Nothing is ever imported or called; the result is a tree of plain values.
//!
//! Why not the `pytorch-reader` crate: it keeps calls to unknown globals (`os.system`) as
//! opaque values and loads the file anyway, silently dropping them, and it returns tensors
//! in a HashMap, losing the file's order (`tests/it/pytorch_reader_defects.rs` pins both).
//!
//! Containers live in an arena and are referred to by index, so the memo can share them
//! the way Python does (a dict filled after it was memoized is seen filled everywhere)
//! without reference-counted cycles, and copying a value is always O(1): a hostile pickle
//! cannot make memory grow faster than its own length.

use super::Fault;
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
            Value::Tensor(_) => "tensor",
        }
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
    fn insert(&mut self, k: Value, v: Value) {
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

    fn new_tuple(&mut self, items: Vec<Value>) -> Value {
        self.containers.push(Container::Tuple(items));
        Value::Tuple(self.containers.len() - 1)
    }

    fn new_dict(&mut self) -> Value {
        self.containers.push(Container::Dict(Dict::default()));
        Value::Dict(self.containers.len() - 1)
    }

    fn new_list(&mut self, items: Vec<Value>) -> Value {
        self.containers.push(Container::List(items));
        Value::List(self.containers.len() - 1)
    }
}

/// Turns a persistent id (the tuple torch.save writes in place of a storage) into a value.
pub(crate) type PersistentLoad<'a> = dyn FnMut(&Value, &Arena) -> Result<Value, Fault> + 'a;

/// Globals a torch.save pickle may name. Anything else is refused on sight.
fn allowed(module: &str, name: &str) -> bool {
    match module {
        "collections" => name == "OrderedDict",
        "torch._utils" => matches!(
            name,
            "_rebuild_tensor"
                | "_rebuild_tensor_v2"
                | "_rebuild_tensor_v3"
                | "_rebuild_parameter"
                | "_rebuild_parameter_with_state"
        ),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch.nn.parameter" => name == "Parameter",
        "torch" => {
            name == "Size"
                || name == "Tensor"
                || name == "UntypedStorage"
                || DType::from_torch_storage(name).is_some()
                || torch_dtype(name).is_some()
        }
        // Protocol 2 spells `bytes` as `_codecs.encode(text, 'latin1')`.
        "_codecs" => name == "encode",
        "builtins" | "__builtin__" => matches!(name, "set" | "frozenset"),
        _ => false,
    }
}

/// `torch.float32` and friends, which protocol 2 pickles as globals.
fn torch_dtype(name: &str) -> Option<Option<DType>> {
    Some(match name {
        "float32" | "float" => Some(DType::F32),
        "float64" | "double" => Some(DType::F64),
        "float16" | "half" => Some(DType::F16),
        "bfloat16" => Some(DType::BF16),
        "int64" | "long" => Some(DType::I64),
        "int32" | "int" => Some(DType::I32),
        "int16" | "short" => Some(DType::I16),
        "int8" => Some(DType::I8),
        "uint8" => Some(DType::U8),
        "bool" => Some(DType::Bool),
        // Known dtypes this reader has no representation for.
        "uint16" | "uint32" | "uint64" | "complex64" | "complex128" | "float8_e4m3fn"
        | "float8_e5m2" | "float8_e4m3fnuz" | "float8_e5m2fnuz" | "cfloat" | "cdouble" => None,
        _ => return None,
    })
}

/// The result of unpickling: the root value and the arena its containers live in.
pub(crate) struct Unpickled {
    pub root: Value,
    pub arena: Arena,
    /// Offset just past the STOP opcode (the legacy format puts pickles back to back).
    pub end: usize,
}

struct Vm<'a, 'p> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    arena: Arena,
    persistent: Option<&'p mut PersistentLoad<'p>>,
}

/// Unpickle one pickle starting at `start`.
pub(crate) fn unpickle<'p>(
    data: &[u8],
    start: usize,
    persistent: Option<&'p mut PersistentLoad<'p>>,
) -> Result<Unpickled, Fault> {
    if start > data.len() {
        return Err(damaged(start, "starts past the end of the file"));
    }
    let mut vm = Vm {
        data,
        pos: start,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        arena: Arena::default(),
        persistent,
    };
    let root = vm.run()?;
    Ok(Unpickled {
        root,
        arena: vm.arena,
        end: vm.pos,
    })
}

fn damaged(at: usize, what: impl std::fmt::Display) -> Fault {
    Fault::Format(format!("damaged pickle at byte {at}: {what}"))
}

impl<'a> Vm<'a, '_> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Fault> {
        let data: &'a [u8] = self.data;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| damaged(self.pos, "ends in the middle of an opcode (truncated?)"))?;
        let s = &data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Fault> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Fault> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Fault> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, Fault> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length read from the pickle, bounded by what is left of it.
    fn len(&mut self, n: u64) -> Result<usize, Fault> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.data.len() - self.pos)
            .ok_or_else(|| damaged(self.pos, format!("length {n} runs past the end")))
    }

    fn line(&mut self) -> Result<&'a str, Fault> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.pos..];
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| damaged(self.pos, "unterminated text field"))?;
        self.pos += nl + 1;
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        std::str::from_utf8(line).map_err(|_| damaged(self.pos, "text field is not UTF-8"))
    }

    fn str_from(&self, b: &[u8]) -> Result<Value, Fault> {
        std::str::from_utf8(b)
            .map(|s| Value::Str(Rc::from(s)))
            .map_err(|_| damaged(self.pos, "string is not UTF-8"))
    }

    fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    fn pop(&mut self) -> Result<Value, Fault> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(damaged(self.pos, "pops past a MARK"));
        }
        self.stack
            .pop()
            .ok_or_else(|| damaged(self.pos, "stack underflow"))
    }

    fn top_mut(&mut self) -> Result<&mut Value, Fault> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(damaged(self.pos, "no object above the MARK"));
        }
        self.stack
            .last_mut()
            .ok_or_else(|| damaged(self.pos, "stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, Fault> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| damaged(self.pos, "no MARK to pop to"))?;
        if m > self.stack.len() {
            return Err(damaged(self.pos, "MARK above the stack"));
        }
        Ok(self.stack.split_off(m))
    }

    fn container_id(&self, v: &Value, want: &str) -> Result<usize, Fault> {
        match v {
            Value::List(id) | Value::Dict(id) => Ok(*id),
            other => Err(damaged(
                self.pos,
                format!("{want} on a {}", other.type_name()),
            )),
        }
    }

    fn append(&mut self, target: &Value, items: Vec<Value>) -> Result<(), Fault> {
        let id = self.container_id(target, "APPEND")?;
        match &mut self.arena.containers[id] {
            Container::List(l) => {
                l.extend(items);
                Ok(())
            }
            _ => Err(damaged(self.pos, "APPEND on something that is not a list")),
        }
    }

    fn set_items(&mut self, target: &Value, items: Vec<Value>) -> Result<(), Fault> {
        if items.len() % 2 != 0 {
            return Err(damaged(self.pos, "SETITEMS with an odd number of items"));
        }
        let id = self.container_id(target, "SETITEM")?;
        match &mut self.arena.containers[id] {
            Container::Dict(d) => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.insert(k, v);
                }
                Ok(())
            }
            _ => Err(damaged(self.pos, "SETITEM on something that is not a dict")),
        }
    }

    fn memo_get(&self, i: u32) -> Result<Value, Fault> {
        self.memo
            .get(&i)
            .cloned()
            .ok_or_else(|| damaged(self.pos, format!("memo slot {i} was never filled")))
    }

    fn memo_put(&mut self, i: u32) -> Result<(), Fault> {
        let v = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| damaged(self.pos, "PUT on an empty stack"))?;
        self.memo.insert(i, v);
        Ok(())
    }

    fn global(&self, module: &str, name: &str) -> Result<Value, Fault> {
        if !allowed(module, name) {
            return Err(Fault::Refused {
                what: "references",
                global: format!("{module}.{name}"),
            });
        }
        Ok(Value::Global(Rc::new((
            module.to_string(),
            name.to_string(),
        ))))
    }

    fn run(&mut self) -> Result<Value, Fault> {
        loop {
            let at = self.pos;
            let op = self
                .u8()
                .map_err(|_| damaged(at, "ends before its STOP opcode (truncated?)"))?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(damaged(at, format!("unknown pickle protocol {proto}")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),

                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'I' => {
                    let line = self.line()?;
                    let v = match line {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => line
                            .parse::<i64>()
                            .map(Value::Int)
                            .map_err(|_| damaged(at, "INT is not a number"))?,
                    };
                    self.push(v);
                }
                b'L' => {
                    let line = self.line()?;
                    let digits = line.strip_suffix('L').unwrap_or(line);
                    let v = match digits.parse::<i64>() {
                        Ok(i) => Value::Int(i),
                        Err(_)
                            if !digits.is_empty()
                                && digits
                                    .trim_start_matches('-')
                                    .bytes()
                                    .all(|b| b.is_ascii_digit()) =>
                        {
                            Value::BigInt
                        }
                        Err(_) => return Err(damaged(at, "LONG is not a number")),
                    };
                    self.push(v);
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        u64::from(self.u8()?)
                    } else {
                        u64::from(self.u32()?)
                    };
                    let n = self.len(n)?;
                    let bytes = self.take(n)?;
                    self.push(long_le(bytes));
                }
                b'F' => {
                    let v = self
                        .line()?
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| damaged(at, "FLOAT is not a number"))?;
                    self.push(Value::Float(v));
                }
                b'G' => {
                    let v = f64::from_bits(u64::from_be_bytes(
                        self.take(8)?.try_into().unwrap_or([0; 8]),
                    ));
                    self.push(Value::Float(v));
                }

                // Strings and bytes.
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => u64::from(self.u32()?),
                        0x8c => u64::from(self.u8()?),
                        _ => self.u64()?,
                    };
                    let n = self.len(n)?;
                    let b = self.take(n)?;
                    let v = self.str_from(b)?;
                    self.push(v);
                }
                b'V' => {
                    // Protocol 0 unicode: raw-unicode-escape. Plain text is all torch writes.
                    let line = self.line()?;
                    if line.contains('\\') {
                        return Err(damaged(at, "escaped protocol 0 unicode is not supported"));
                    }
                    self.push(Value::Str(Rc::from(line)));
                }
                b'T' | b'U' => {
                    // Python 2 str: bytes that Python 3 reads as text (ASCII in practice).
                    let n = if op == b'T' {
                        u64::from(self.u32()?)
                    } else {
                        u64::from(self.u8()?)
                    };
                    let n = self.len(n)?;
                    let b = self.take(n)?;
                    let v = self.str_from(b)?;
                    self.push(v);
                }
                b'S' => {
                    let line = self.line()?;
                    let inner = line
                        .strip_prefix('\'')
                        .and_then(|l| l.strip_suffix('\''))
                        .or_else(|| line.strip_prefix('"').and_then(|l| l.strip_suffix('"')))
                        .filter(|s| !s.contains('\\'))
                        .ok_or_else(|| damaged(at, "unsupported protocol 0 STRING"))?;
                    self.push(Value::Str(Rc::from(inner)));
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => u64::from(self.u32()?),
                        b'C' => u64::from(self.u8()?),
                        _ => self.u64()?,
                    };
                    let n = self.len(n)?;
                    self.take(n)?;
                    self.push(Value::Bytes);
                }

                // Containers.
                b'(' => self.marks.push(self.stack.len()),
                b')' => {
                    let v = self.arena.new_tuple(Vec::new());
                    self.push(v);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let v = self.arena.new_tuple(items);
                    self.push(v);
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let v = self.arena.new_tuple(items);
                    self.push(v);
                }
                b']' | 0x8f => {
                    let v = self.arena.new_list(Vec::new());
                    self.push(v);
                }
                b'l' | 0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.arena.new_list(items);
                    self.push(v);
                }
                b'a' => {
                    let item = self.pop()?;
                    let target = self.top_mut()?.clone();
                    self.append(&target, vec![item])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top_mut()?.clone();
                    self.append(&target, items)?;
                }
                b'}' => {
                    let v = self.arena.new_dict();
                    self.push(v);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let v = self.arena.new_dict();
                    self.set_items(&v, items)?;
                    self.push(v);
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top_mut()?.clone();
                    self.set_items(&target, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let target = self.top_mut()?.clone();
                    self.set_items(&target, items)?;
                }

                // Stack and memo.
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top_mut()?.clone();
                    self.push(v);
                }
                b'g' => {
                    let i = self
                        .line()?
                        .parse::<u32>()
                        .map_err(|_| damaged(at, "GET index is not a number"))?;
                    let v = self.memo_get(i)?;
                    self.push(v);
                }
                b'h' => {
                    let i = u32::from(self.u8()?);
                    let v = self.memo_get(i)?;
                    self.push(v);
                }
                b'j' => {
                    let i = self.u32()?;
                    let v = self.memo_get(i)?;
                    self.push(v);
                }
                b'p' => {
                    let i = self
                        .line()?
                        .parse::<u32>()
                        .map_err(|_| damaged(at, "PUT index is not a number"))?;
                    self.memo_put(i)?;
                }
                b'q' => {
                    let i = u32::from(self.u8()?);
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i =
                        u32::try_from(self.memo.len()).map_err(|_| damaged(at, "memo overflow"))?;
                    self.memo_put(i)?;
                }

                // Globals and calls: the only place a pickle could run code.
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let v = self.global(module, name)?;
                    self.push(v);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(damaged(at, "STACK_GLOBAL needs two strings"));
                    };
                    let v = self.global(&module, &name)?;
                    self.push(v);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.push(v);
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop()?; // kwargs
                    }
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.new_object(cls)?;
                    self.push(v);
                }
                b'b' => {
                    let _state = self.pop()?;
                    // BUILD sets attributes (`__setstate__`). The only objects that get
                    // here are torch's OrderedDict state dicts (their `_metadata`
                    // attribute, not an item, so it is dropped) and tensors.
                    match self.top_mut()? {
                        Value::Dict(_) | Value::Tensor(_) => {}
                        other => {
                            return Err(damaged(
                                at,
                                format!(
                                    "BUILD on a {} is not something torch.save writes",
                                    other.type_name()
                                ),
                            ));
                        }
                    }
                }
                b'i' | b'o' => {
                    return Err(Fault::Refused {
                        what: "builds an object with INST/OBJ of",
                        global: if op == b'i' {
                            let module = self.line()?;
                            let name = self.line()?;
                            format!("{module}.{name}")
                        } else {
                            "an arbitrary class".to_string()
                        },
                    });
                }
                0x82..=0x84 => {
                    return Err(Fault::Refused {
                        what: "references",
                        global: "an extension-registry global (EXT opcode)".to_string(),
                    });
                }
                b'P' | b'Q' => {
                    let pid = if op == b'P' {
                        Value::Str(Rc::from(self.line()?))
                    } else {
                        self.pop()?
                    };
                    let Some(load) = self.persistent.as_mut() else {
                        return Err(Fault::Format(
                            "a plain pickle that refers to tensor storages it does not hold \
                             (not a torch.save file)"
                                .to_string(),
                        ));
                    };
                    let v = load(&pid, &self.arena)?;
                    self.push(v);
                }
                0x97 | 0x98 => {
                    return Err(damaged(
                        at,
                        "out-of-band buffers are not used by torch.save",
                    ));
                }
                other => {
                    return Err(damaged(at, format!("unknown opcode 0x{other:02x}")));
                }
            }
        }
    }

    /// NEWOBJ: `cls.__new__(cls, *args)`. Only the containers we allow may be created.
    fn new_object(&mut self, cls: Value) -> Result<Value, Fault> {
        let Value::Global(g) = cls else {
            return Err(damaged(self.pos, "NEWOBJ on something that is not a class"));
        };
        match (g.0.as_str(), g.1.as_str()) {
            ("collections", "OrderedDict") => Ok(self.arena.new_dict()),
            ("builtins" | "__builtin__", "set" | "frozenset") => Ok(self.arena.new_list(vec![])),
            (m, n) => Err(Fault::Refused {
                what: "builds an object of",
                global: format!("{m}.{n}"),
            }),
        }
    }

    /// REDUCE: the allowed calls, done here in Rust; no Python function is ever run.
    fn reduce(&mut self, callable: Value, args: Value) -> Result<Value, Fault> {
        let Value::Global(g) = callable else {
            return Err(damaged(
                self.pos,
                format!("REDUCE calls a {}, not a global", callable.type_name()),
            ));
        };
        let Value::Tuple(args) = args else {
            return Err(damaged(self.pos, "REDUCE arguments are not a tuple"));
        };
        let args = self.arena.items(args).to_vec();
        let (module, name) = (g.0.as_str(), g.1.as_str());
        match (module, name) {
            ("collections", "OrderedDict") => {
                let d = self.arena.new_dict();
                if let Some(items) = args.first() {
                    let pairs = self.sequence(items)?;
                    let mut flat = Vec::with_capacity(pairs.len() * 2);
                    for p in pairs {
                        match p {
                            Value::Tuple(id) if self.arena.items(id).len() == 2 => {
                                flat.extend_from_slice(self.arena.items(id));
                            }
                            _ => return Err(damaged(self.pos, "OrderedDict item is not a pair")),
                        }
                    }
                    self.set_items(&d, flat)?;
                }
                Ok(d)
            }
            ("builtins" | "__builtin__", "set" | "frozenset") => {
                let items = match args.first() {
                    Some(v) => self.sequence(v)?,
                    None => Vec::new(),
                };
                Ok(self.arena.new_list(items))
            }
            ("torch", "Size") => match args.first() {
                Some(v) => {
                    let items = self.sequence(v)?;
                    Ok(self.arena.new_tuple(items))
                }
                None => Ok(self.arena.new_tuple(Vec::new())),
            },
            ("_codecs", "encode") => match &args[..] {
                [Value::Str(s), Value::Str(enc)]
                    if enc.as_ref() == "latin1" || enc.as_ref() == "latin-1" =>
                {
                    if s.chars().all(|c| u32::from(c) < 256) {
                        Ok(Value::Bytes)
                    } else {
                        Err(damaged(self.pos, "latin1 bytes out of range"))
                    }
                }
                _ => Err(Fault::Refused {
                    what: "calls",
                    global: "_codecs.encode with arguments other than (text, 'latin1')".into(),
                }),
            },
            ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3") => {
                self.rebuild_tensor(name, &args)
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                match args.first() {
                    Some(t @ Value::Tensor(_)) => Ok(t.clone()),
                    _ => Err(damaged(self.pos, format!("{name} without a tensor"))),
                }
            }
            ("torch._tensor", "_rebuild_from_type_v2") => {
                // (func, new_type, args, state): a tensor or Parameter with Python attributes.
                let [func, new_type, inner, ..] = &args[..] else {
                    return Err(damaged(self.pos, "_rebuild_from_type_v2 needs 3 arguments"));
                };
                match new_type {
                    Value::Global(t)
                        if matches!(
                            (t.0.as_str(), t.1.as_str()),
                            ("torch", "Tensor") | ("torch.nn.parameter", "Parameter")
                        ) => {}
                    _ => {
                        return Err(Fault::Refused {
                            what: "rebuilds a tensor subclass through",
                            global: "torch._tensor._rebuild_from_type_v2".into(),
                        });
                    }
                }
                self.reduce(func.clone(), inner.clone())
            }
            _ => Err(Fault::Refused {
                what: "calls",
                global: format!("{module}.{name}"),
            }),
        }
    }

    fn sequence(&self, v: &Value) -> Result<Vec<Value>, Fault> {
        match v {
            Value::Tuple(id) | Value::List(id) => Ok(self.arena.items(*id).to_vec()),
            other => Err(damaged(
                self.pos,
                format!("expected a list or tuple, got a {}", other.type_name()),
            )),
        }
    }

    fn dims(&self, v: &Value, what: &str) -> Result<Vec<usize>, Fault> {
        let items = self.sequence(v)?;
        if items.len() > 64 {
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

    fn rebuild_tensor(&self, name: &str, args: &[Value]) -> Result<Value, Fault> {
        let [storage, offset, size, stride, rest @ ..] = args else {
            return Err(damaged(
                self.pos,
                format!("{name} needs at least 4 arguments"),
            ));
        };
        let Value::Storage(storage) = storage else {
            return Err(damaged(
                self.pos,
                format!("{name} on a {}, not a storage", storage.type_name()),
            ));
        };
        if name == "_rebuild_tensor_v3" {
            // The dtype is given explicitly; only types without a typed storage use v3.
            let dtype = match rest.get(2) {
                Some(Value::Global(g)) => torch_dtype(&g.1).flatten(),
                _ => None,
            };
            if dtype != Some(storage.dtype) {
                let spelled = match rest.get(2) {
                    Some(Value::Global(g)) => format!("torch.{}", g.1),
                    _ => "an unknown dtype".to_string(),
                };
                return Err(Fault::Format(format!(
                    "holds a tensor of dtype {spelled}, which this reader does not support \
                     (supported: f32 f64 f16 bf16 i64 i32 i16 i8 u8 bool)"
                )));
            }
        }
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
        // The last element the view reaches must lie inside the storage, or the tensor
        // would read another tensor's bytes (or past the file).
        let elements = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| damaged(self.pos, format!("shape {shape:?} overflows")))?;
        if elements > 0 {
            let last = shape
                .iter()
                .zip(&stride)
                .try_fold(offset, |acc, (&d, &s)| {
                    (d - 1).checked_mul(s)?.checked_add(acc)
                })
                .ok_or_else(|| damaged(self.pos, format!("stride {stride:?} overflows")))?;
            if last as u64 >= storage.numel {
                return Err(Fault::Format(format!(
                    "a tensor of shape {shape:?}, stride {stride:?} at offset {offset} reaches \
                     element {last} of storage '{}', which holds only {} elements",
                    storage.key, storage.numel
                )));
            }
        }
        Ok(Value::Tensor(Rc::new(TensorRef {
            storage: storage.clone(),
            offset,
            shape,
            stride,
        })))
    }
}

/// Python's little-endian two's-complement long (LONG1/LONG4).
fn long_le(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() > 8 {
        let sign = if bytes[bytes.len() - 1] & 0x80 != 0 {
            0xff
        } else {
            0
        };
        // Wider encodings of values that still fit are legal; check the extra bytes.
        if bytes[8..].iter().any(|&b| b != sign) || (bytes[7] & 0x80 != 0) != (sign == 0xff) {
            return Value::BigInt;
        }
    }
    let n = bytes.len().min(8);
    let fill = if bytes[n - 1] & 0x80 != 0 { 0xff } else { 0 };
    let mut a = [fill; 8];
    a[..n].copy_from_slice(&bytes[..n]);
    Value::Int(i64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Result<Unpickled, Fault> {
        unpickle(bytes, 0, None)
    }

    #[test]
    fn long1_decodes_python_longs() {
        assert!(matches!(long_le(&[0x6a, 0xa8]), Value::Int(-22422)));
        assert!(matches!(long_le(&[0xff, 0x00]), Value::Int(255)));
        assert!(matches!(long_le(&[0; 10]), Value::Int(0)));
        assert!(matches!(long_le(&[1; 10]), Value::BigInt));
    }

    #[test]
    fn memoized_dict_is_shared_like_python() {
        // {'a': d, 'b': d} where d = {'x': 1} is filled after it was memoized.
        let p = b"\x80\x02}q\x00(X\x01\x00\x00\x00a}q\x01X\x01\x00\x00\x00xK\x01sX\x01\x00\x00\x00bh\x01u.";
        let u = run(p).unwrap();
        let Value::Dict(root) = u.root else { panic!() };
        let d = u.arena.dict(root);
        let Some(Value::Dict(b)) = d.get_str("b") else {
            panic!()
        };
        assert_eq!(u.arena.dict(*b).items.len(), 1);
    }

    #[test]
    fn refuses_unknown_globals_on_sight() {
        let p = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
        match run(p) {
            Err(Fault::Refused { global, .. }) => assert_eq!(global, "posix.system"),
            _ => panic!("not refused"),
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        // ((((...)))) 300,000 levels deep, built and then dropped.
        let mut p = b"\x80\x02N".to_vec();
        p.extend(std::iter::repeat_n(0x85u8, 300_000));
        p.push(b'.');
        assert!(matches!(run(&p).unwrap().root, Value::Tuple(_)));
    }

    #[test]
    fn self_referencing_list_does_not_hang() {
        // l = []; l.append(l)
        let p = b"\x80\x02]q\x00h\x00a.";
        let u = run(p).unwrap();
        assert!(matches!(u.root, Value::List(_)));
    }
}
