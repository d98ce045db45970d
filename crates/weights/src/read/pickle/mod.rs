//! A restricted unpickler: the opcodes `torch.save` emits, and nothing that can run code.
//!
//! Python's unpickler imports whatever module a pickle names and calls whatever it is told
//! to, which is why a downloaded `.pt` file can run code. This one resolves a short list of
//! globals (tensor rebuilding, storage types, plain containers; `allow.rs`) to built-in
//! behaviour (`calls.rs`) and refuses every other global the moment the pickle names it,
//! before anything else happens. Nothing is ever imported or called; the result is a tree of
//! plain values (`value.rs`).
//!
//! Why not the `pytorch-reader` crate: it keeps calls to unknown globals (`os.system`) as
//! opaque values and loads the file anyway, silently dropping them, and it returns tensors
//! in a HashMap, losing the file's order (`tests/it/pytorch_reader_defects.rs` pins both).
//!
//! The machine (`vm.rs`) reads one opcode at a time (`opcode.rs` names them, by family) and
//! hands it to its family's handler: framing and the stack and memo in `vm.rs`, constants in
//! `scalars.rs`, containers in `collections.rs`, globals, calls and persistent ids in
//! `objects.rs`, tensor rebuilding in `tensors.rs`.

mod allow;
mod calls;
mod collections;
mod objects;
mod opcode;
mod scalars;
mod tensors;
mod value;
mod vm;

use super::Fault;
pub(crate) use value::{Arena, Dict, StorageRef, TensorRef, Value};

/// Turns a persistent id (the tuple torch.save writes in place of a storage) into a value.
pub(crate) type PersistentLoad<'a> = dyn FnMut(&Value, &Arena) -> Result<Value, Fault> + 'a;

/// The result of unpickling: the root value and the arena its containers live in.
pub(crate) struct Unpickled {
    pub root: Value,
    pub arena: Arena,
    /// Offset just past the STOP opcode (the legacy format puts pickles back to back).
    pub end: usize,
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
    let mut vm = vm::Vm::new(data, start, persistent);
    let root = vm.run()?;
    Ok(Unpickled {
        root,
        end: vm.pos,
        arena: vm.arena,
    })
}

fn damaged(at: usize, what: impl std::fmt::Display) -> Fault {
    Fault::Format(format!("damaged pickle at byte {at}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::scalars::long_le;
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
