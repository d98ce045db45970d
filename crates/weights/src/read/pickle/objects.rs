//! Handlers for the opcodes that name globals and call or instantiate them, and for
//! persistent ids: where Python's unpickler would import and run code, and this one either
//! does what an allowed name means itself (`calls.rs`) or refuses.

use super::allow::allowed;
use super::damaged;
use super::opcode::{Object, Persistent};
use super::value::Value;
use super::vm::Vm;
use crate::read::Fault;
use std::rc::Rc;

impl Vm<'_, '_> {
    pub(super) fn object(&mut self, op: Object, at: usize) -> Result<(), Fault> {
        let v = match op {
            Object::Global => {
                let module = self.line()?;
                let name = self.line()?;
                global(module, name)?
            }
            Object::StackGlobal => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Value::Str(module), Value::Str(name)) = (module, name) else {
                    return Err(damaged(at, "STACK_GLOBAL needs two strings"));
                };
                global(&module, &name)?
            }
            Object::Reduce => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.reduce(callable, args)?
            }
            Object::NewObj | Object::NewObjEx => {
                if op == Object::NewObjEx {
                    self.pop()?; // kwargs
                }
                let _args = self.pop()?;
                let cls = self.pop()?;
                self.new_object(cls)?
            }
            Object::Build => return self.build(at),
            Object::Inst => {
                let module = self.line()?;
                let name = self.line()?;
                return Err(refused_inst(format!("{module}.{name}")));
            }
            Object::Obj => return Err(refused_inst("an arbitrary class".to_string())),
            Object::Ext1 | Object::Ext2 | Object::Ext4 => {
                return Err(Fault::Refused {
                    what: "references",
                    global: "an extension-registry global (EXT opcode)".to_string(),
                });
            }
        };
        self.push(v);
        Ok(())
    }

    /// BUILD sets attributes (`__setstate__`). The only objects that get here are torch's
    /// OrderedDict state dicts and tensors. A state dict's state is its `_metadata`
    /// attribute (module versions), not an item, so it is dropped whatever its shape: a dict
    /// (`{'_metadata': ...}`), or `(dict, slots)` as Python writes objects with slots.
    fn build(&mut self, at: usize) -> Result<(), Fault> {
        let _state = self.pop()?;
        match self.top()? {
            Value::Dict(_) | Value::Tensor(_) | Value::Unreadable(_) => Ok(()),
            other => Err(damaged(
                at,
                format!(
                    "BUILD on a {} is not something torch.save writes",
                    other.type_name()
                ),
            )),
        }
    }

    pub(super) fn persistent_id(&mut self, op: Persistent) -> Result<(), Fault> {
        let pid = match op {
            Persistent::PersId => Value::Str(Rc::from(self.line()?)),
            Persistent::BinPersId => self.pop()?,
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
        Ok(())
    }
}

/// GLOBAL and STACK_GLOBAL: an allowed name becomes an inert value; any other is refused
/// before anything else happens.
fn global(module: &str, name: &str) -> Result<Value, Fault> {
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

/// INST and OBJ build an instance of any class, which torch.save never asks for.
fn refused_inst(global: String) -> Fault {
    Fault::Refused {
        what: "builds an object with INST/OBJ of",
        global,
    }
}
