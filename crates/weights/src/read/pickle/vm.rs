//! The machine that runs a pickle: its input, stack, marks and memo, and the loop that hands
//! each opcode to the handler of its family (the handlers live in the sibling modules).

use super::opcode::{Buffer, Framing, Memo, Opcode, Stack};
use super::value::{Arena, Value};
use super::{PersistentLoad, damaged};
use crate::read::Fault;
use std::collections::HashMap;
use std::rc::Rc;

pub(super) struct Vm<'a, 'p> {
    data: &'a [u8],
    pub(super) pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    pub(super) arena: Arena,
    pub(super) persistent: Option<&'p mut PersistentLoad<'p>>,
}

impl<'a, 'p> Vm<'a, 'p> {
    pub(super) fn new(
        data: &'a [u8],
        start: usize,
        persistent: Option<&'p mut PersistentLoad<'p>>,
    ) -> Self {
        Vm {
            data,
            pos: start,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            arena: Arena::default(),
            persistent,
        }
    }

    /// Run to the STOP opcode and return what it pops.
    pub(super) fn run(&mut self) -> Result<Value, Fault> {
        loop {
            let at = self.pos;
            let byte = self
                .u8()
                .map_err(|_| damaged(at, "ends before its STOP opcode (truncated?)"))?;
            let op = Opcode::try_from(byte)
                .map_err(|b| damaged(at, format!("unknown opcode 0x{b:02x}")))?;
            match op {
                Opcode::Framing(op) => {
                    if let Some(root) = self.framing(op, at)? {
                        return Ok(root);
                    }
                }
                Opcode::Stack(op) => self.stack_op(op)?,
                Opcode::Memo(op) => self.memo_op(op, at)?,
                Opcode::Number(op) => self.number(op, at)?,
                Opcode::Text(op) => self.text(op, at)?,
                Opcode::Collection(op) => self.collection(op)?,
                Opcode::Object(op) => self.object(op, at)?,
                Opcode::Persistent(op) => self.persistent_id(op)?,
                Opcode::Buffer(Buffer::NextBuffer | Buffer::ReadonlyBuffer) => {
                    return Err(damaged(
                        at,
                        "out-of-band buffers are not used by torch.save",
                    ));
                }
            }
        }
    }

    /// The header and framing opcodes; STOP returns the pickle's value.
    fn framing(&mut self, op: Framing, at: usize) -> Result<Option<Value>, Fault> {
        match op {
            Framing::Proto => {
                let proto = self.u8()?;
                if proto > 5 {
                    return Err(damaged(at, format!("unknown pickle protocol {proto}")));
                }
            }
            Framing::Frame => {
                self.u64()?; // a length hint only
            }
            Framing::Stop => return self.pop().map(Some),
        }
        Ok(None)
    }

    fn stack_op(&mut self, op: Stack) -> Result<(), Fault> {
        match op {
            Stack::Mark => self.marks.push(self.stack.len()),
            Stack::Pop => {
                self.pop()?;
            }
            Stack::PopMark => {
                self.pop_mark()?;
            }
            Stack::Dup => {
                let v = self.top()?;
                self.push(v);
            }
        }
        Ok(())
    }

    fn memo_op(&mut self, op: Memo, at: usize) -> Result<(), Fault> {
        match op {
            Memo::Get => {
                let i = self.decimal_index(at, "GET")?;
                self.memo_get(i)
            }
            Memo::BinGet => {
                let i = u32::from(self.u8()?);
                self.memo_get(i)
            }
            Memo::LongBinGet => {
                let i = self.u32()?;
                self.memo_get(i)
            }
            Memo::Put => {
                let i = self.decimal_index(at, "PUT")?;
                self.memo_put(i)
            }
            Memo::BinPut => {
                let i = u32::from(self.u8()?);
                self.memo_put(i)
            }
            Memo::LongBinPut => {
                let i = self.u32()?;
                self.memo_put(i)
            }
            Memo::Memoize => {
                let i = u32::try_from(self.memo.len()).map_err(|_| damaged(at, "memo overflow"))?;
                self.memo_put(i)
            }
        }
    }

    fn decimal_index(&mut self, at: usize, what: &str) -> Result<u32, Fault> {
        self.line()?
            .parse::<u32>()
            .map_err(|_| damaged(at, format!("{what} index is not a number")))
    }

    fn memo_get(&mut self, i: u32) -> Result<(), Fault> {
        let v = self
            .memo
            .get(&i)
            .cloned()
            .ok_or_else(|| damaged(self.pos, format!("memo slot {i} was never filled")))?;
        self.push(v);
        Ok(())
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
}

/// Reading the opcode's arguments from the input.
impl<'a> Vm<'a, '_> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], Fault> {
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

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fault> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(super) fn u8(&mut self) -> Result<u8, Fault> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, Fault> {
        self.array().map(u16::from_le_bytes)
    }

    pub(super) fn u32(&mut self) -> Result<u32, Fault> {
        self.array().map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self) -> Result<u64, Fault> {
        self.array().map(u64::from_le_bytes)
    }

    pub(super) fn f64_be(&mut self) -> Result<f64, Fault> {
        self.array().map(f64::from_be_bytes)
    }

    /// A length read from the pickle, bounded by what is left of it.
    pub(super) fn len(&mut self, n: u64) -> Result<usize, Fault> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.data.len() - self.pos)
            .ok_or_else(|| damaged(self.pos, format!("length {n} runs past the end")))
    }

    /// A newline-terminated text argument (protocol 0 opcodes).
    pub(super) fn line(&mut self) -> Result<&'a str, Fault> {
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

    pub(super) fn str_from(&self, b: &[u8]) -> Result<Value, Fault> {
        std::str::from_utf8(b)
            .map(|s| Value::Str(Rc::from(s)))
            .map_err(|_| damaged(self.pos, "string is not UTF-8"))
    }
}

/// The stack and its marks.
impl Vm<'_, '_> {
    pub(super) fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    pub(super) fn pop(&mut self) -> Result<Value, Fault> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(damaged(self.pos, "pops past a MARK"));
        }
        self.stack
            .pop()
            .ok_or_else(|| damaged(self.pos, "stack underflow"))
    }

    /// The value on top of the stack (a copy: values are O(1) to copy).
    pub(super) fn top(&self) -> Result<Value, Fault> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(damaged(self.pos, "no object above the MARK"));
        }
        self.stack
            .last()
            .cloned()
            .ok_or_else(|| damaged(self.pos, "stack underflow"))
    }

    /// Everything above the last MARK, which is removed.
    pub(super) fn pop_mark(&mut self) -> Result<Vec<Value>, Fault> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| damaged(self.pos, "no MARK to pop to"))?;
        if m > self.stack.len() {
            return Err(damaged(self.pos, "MARK above the stack"));
        }
        Ok(self.stack.split_off(m))
    }
}
