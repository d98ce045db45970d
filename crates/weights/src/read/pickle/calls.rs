//! What the allowed globals mean when a pickle calls them (REDUCE) or instantiates them
//! (NEWOBJ), done here in Rust: no Python function is ever run.

use super::damaged;
use super::value::Value;
use super::vm::Vm;
use crate::read::Fault;

impl Vm<'_, '_> {
    /// REDUCE: `callable(*args)`, for the allowed callables only.
    pub(super) fn reduce(&mut self, callable: Value, args: Value) -> Result<Value, Fault> {
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
            ("collections", "OrderedDict") => self.ordered_dict(&args),
            ("builtins" | "__builtin__", "set" | "frozenset") => {
                let items = match args.first() {
                    Some(v) => self.sequence(v)?,
                    None => Vec::new(),
                };
                Ok(self.arena.new_list(items))
            }
            ("torch", "Size") => {
                let items = match args.first() {
                    Some(v) => self.sequence(v)?,
                    None => Vec::new(),
                };
                Ok(self.arena.new_tuple(items))
            }
            ("_codecs", "encode") => self.latin1_bytes(&args),
            ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3") => {
                self.rebuild_tensor(name, &args)
            }
            ("torch._utils", "_rebuild_qtensor") => self.rebuild_quantized(&args),
            // `Parameter(tensor, requires_grad)` is how PyTorch 0.3 and 0.4 pickled a
            // parameter; later versions call `_rebuild_parameter` with the same arguments.
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state")
            | ("torch.nn.parameter", "Parameter") => match args.first() {
                Some(t) if t.is_tensor() => Ok(t.clone()),
                _ => Err(damaged(self.pos, format!("{name} without a tensor"))),
            },
            ("torch._tensor", "_rebuild_from_type_v2") => self.rebuild_from_type(&args),
            _ => Err(Fault::Refused {
                what: "calls",
                global: format!("{module}.{name}"),
            }),
        }
    }

    /// NEWOBJ: `cls.__new__(cls, *args)`. Only the containers we allow may be created.
    pub(super) fn new_object(&mut self, cls: Value) -> Result<Value, Fault> {
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

    /// `OrderedDict(items)`. Python 3 pickles an OrderedDict as `OrderedDict()` followed by
    /// SETITEMS; Python 2 (and with it every PyTorch state dict saved before 2020 under
    /// Python 2) passes the items as one argument, a list of two-item *lists*
    /// (`[[key, value], ...]`, what its pure-Python `OrderedDict.__reduce__` builds). A
    /// pair may be any two-item sequence, as Python's constructor accepts.
    fn ordered_dict(&mut self, args: &[Value]) -> Result<Value, Fault> {
        let d = self.arena.new_dict();
        let Some(items) = args.first() else {
            return Ok(d);
        };
        let pairs = self.sequence(items)?;
        let mut flat = Vec::with_capacity(pairs.len() * 2);
        for p in pairs {
            match p {
                Value::Tuple(id) | Value::List(id) if self.arena.items(id).len() == 2 => {
                    flat.extend_from_slice(self.arena.items(id));
                }
                other => {
                    return Err(damaged(
                        self.pos,
                        format!(
                            "OrderedDict item is a {}, not a (key, value) pair",
                            other.type_name()
                        ),
                    ));
                }
            }
        }
        self.set_items(&d, flat)?;
        Ok(d)
    }

    /// `_codecs.encode(text, 'latin1')`: protocol 2's spelling of a `bytes` value.
    fn latin1_bytes(&self, args: &[Value]) -> Result<Value, Fault> {
        match args {
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
        }
    }

    /// `_rebuild_from_type_v2(func, new_type, args, state)`: a tensor or Parameter with
    /// Python attributes. Other types are tensor subclasses, whose Python code would run.
    fn rebuild_from_type(&mut self, args: &[Value]) -> Result<Value, Fault> {
        let [func, new_type, inner, ..] = args else {
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

    /// The items of a list or a tuple.
    pub(super) fn sequence(&self, v: &Value) -> Result<Vec<Value>, Fault> {
        match v {
            Value::Tuple(id) | Value::List(id) => Ok(self.arena.items(*id).to_vec()),
            other => Err(damaged(
                self.pos,
                format!("expected a list or tuple, got a {}", other.type_name()),
            )),
        }
    }
}
