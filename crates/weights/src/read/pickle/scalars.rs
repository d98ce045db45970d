//! Handlers for the opcodes that push a constant: None, booleans, numbers, text and bytes.

use super::damaged;
use super::opcode::{Number, Text};
use super::value::Value;
use super::vm::Vm;
use crate::read::Fault;
use std::rc::Rc;

impl Vm<'_, '_> {
    pub(super) fn number(&mut self, op: Number, at: usize) -> Result<(), Fault> {
        let v = match op {
            Number::None => Value::None,
            Number::NewTrue => Value::Bool(true),
            Number::NewFalse => Value::Bool(false),
            Number::Int => {
                int_line(self.line()?).ok_or_else(|| damaged(at, "INT is not a number"))?
            }
            Number::Long => {
                long_line(self.line()?).ok_or_else(|| damaged(at, "LONG is not a number"))?
            }
            Number::BinInt => Value::Int(i64::from(self.u32()? as i32)),
            Number::BinInt1 => Value::Int(i64::from(self.u8()?)),
            Number::BinInt2 => Value::Int(i64::from(self.u16()?)),
            Number::Long1 | Number::Long4 => {
                let n = if op == Number::Long1 {
                    u64::from(self.u8()?)
                } else {
                    u64::from(self.u32()?)
                };
                let n = self.len(n)?;
                long_le(self.take(n)?)
            }
            Number::Float => self
                .line()?
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| damaged(at, "FLOAT is not a number"))?,
            Number::BinFloat => Value::Float(self.f64_be()?),
        };
        self.push(v);
        Ok(())
    }

    pub(super) fn text(&mut self, op: Text, at: usize) -> Result<(), Fault> {
        let v = match op {
            // Python 2 `str` (BINSTRING and SHORT_BINSTRING) is bytes that Python 3 reads as
            // text, ASCII in practice; Python 3 `str` is UTF-8.
            Text::BinUnicode | Text::BinString => {
                let n = u64::from(self.u32()?);
                self.counted_str(n)?
            }
            Text::ShortBinUnicode | Text::ShortBinString => {
                let n = u64::from(self.u8()?);
                self.counted_str(n)?
            }
            Text::BinUnicode8 => {
                let n = self.u64()?;
                self.counted_str(n)?
            }
            Text::Unicode => {
                // Protocol 0 unicode: raw-unicode-escape. Plain text is all torch writes.
                let line = self.line()?;
                if line.contains('\\') {
                    return Err(damaged(at, "escaped protocol 0 unicode is not supported"));
                }
                Value::Str(Rc::from(line))
            }
            Text::String => Value::Str(Rc::from(
                quoted(self.line()?).ok_or_else(|| damaged(at, "unsupported protocol 0 STRING"))?,
            )),
            Text::BinBytes => {
                let n = u64::from(self.u32()?);
                self.skip_bytes(n)?
            }
            Text::ShortBinBytes => {
                let n = u64::from(self.u8()?);
                self.skip_bytes(n)?
            }
            Text::BinBytes8 | Text::ByteArray8 => {
                let n = self.u64()?;
                self.skip_bytes(n)?
            }
        };
        self.push(v);
        Ok(())
    }

    fn counted_str(&mut self, n: u64) -> Result<Value, Fault> {
        let n = self.len(n)?;
        let b = self.take(n)?;
        self.str_from(b)
    }

    /// Bytes are never weights in a torch.save file: step over them.
    fn skip_bytes(&mut self, n: u64) -> Result<Value, Fault> {
        let n = self.len(n)?;
        self.take(n)?;
        Ok(Value::Bytes)
    }
}

/// Protocol 0 INT: a decimal, or `00`/`01` for False/True.
fn int_line(line: &str) -> Option<Value> {
    match line {
        "00" => Some(Value::Bool(false)),
        "01" => Some(Value::Bool(true)),
        _ => line.parse::<i64>().ok().map(Value::Int),
    }
}

/// Protocol 0 LONG: a decimal with an optional `L` suffix, of any size.
fn long_line(line: &str) -> Option<Value> {
    let digits = line.strip_suffix('L').unwrap_or(line);
    match digits.parse::<i64>() {
        Ok(i) => Some(Value::Int(i)),
        Err(_)
            if !digits.is_empty()
                && digits
                    .trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            Some(Value::BigInt)
        }
        Err(_) => None,
    }
}

/// Protocol 0 STRING: `'text'` or `"text"`, without escapes.
fn quoted(line: &str) -> Option<&str> {
    line.strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .or_else(|| line.strip_prefix('"').and_then(|l| l.strip_suffix('"')))
        .filter(|s| !s.contains('\\'))
}

/// Python's little-endian two's-complement long (LONG1/LONG4).
pub(super) fn long_le(bytes: &[u8]) -> Value {
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
