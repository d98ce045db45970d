//! Handlers for the opcodes that build tuples, lists, dicts and sets, or fill them.
//!
//! Sets become lists: no torch.save payload depends on set semantics, and a list keeps the
//! order in which the pickle wrote the items.

use super::damaged;
use super::opcode::Collection;
use super::value::{Container, Value};
use super::vm::Vm;
use crate::read::Fault;

impl Vm<'_, '_> {
    pub(super) fn collection(&mut self, op: Collection) -> Result<(), Fault> {
        match op {
            Collection::EmptyTuple => self.push_tuple(Vec::new()),
            Collection::Tuple => {
                let items = self.pop_mark()?;
                self.push_tuple(items);
            }
            Collection::Tuple1 => self.pop_tuple(1)?,
            Collection::Tuple2 => self.pop_tuple(2)?,
            Collection::Tuple3 => self.pop_tuple(3)?,
            Collection::EmptyList | Collection::EmptySet => {
                let v = self.arena.new_list(Vec::new());
                self.push(v);
            }
            Collection::List | Collection::FrozenSet => {
                let items = self.pop_mark()?;
                let v = self.arena.new_list(items);
                self.push(v);
            }
            Collection::Append => {
                let item = self.pop()?;
                let target = self.top()?;
                self.append(&target, vec![item])?;
            }
            Collection::Appends | Collection::AddItems => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                self.append(&target, items)?;
            }
            Collection::EmptyDict => {
                let v = self.arena.new_dict();
                self.push(v);
            }
            Collection::Dict => {
                let items = self.pop_mark()?;
                let v = self.arena.new_dict();
                self.set_items(&v, items)?;
                self.push(v);
            }
            Collection::SetItem => {
                let v = self.pop()?;
                let k = self.pop()?;
                let target = self.top()?;
                self.set_items(&target, vec![k, v])?;
            }
            Collection::SetItems => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                self.set_items(&target, items)?;
            }
        }
        Ok(())
    }

    fn push_tuple(&mut self, items: Vec<Value>) {
        let v = self.arena.new_tuple(items);
        self.push(v);
    }

    /// TUPLE1..TUPLE3: the top `n` values, in stack order.
    fn pop_tuple(&mut self, n: usize) -> Result<(), Fault> {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.pop()?);
        }
        items.reverse();
        self.push_tuple(items);
        Ok(())
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

    pub(super) fn append(&mut self, target: &Value, items: Vec<Value>) -> Result<(), Fault> {
        let id = self.container_id(target, "APPEND")?;
        match &mut self.arena.containers[id] {
            Container::List(l) => {
                l.extend(items);
                Ok(())
            }
            _ => Err(damaged(self.pos, "APPEND on something that is not a list")),
        }
    }

    /// Key, value, key, value... into a dict, a repeated key replacing as in Python.
    pub(super) fn set_items(&mut self, target: &Value, items: Vec<Value>) -> Result<(), Fault> {
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
}
