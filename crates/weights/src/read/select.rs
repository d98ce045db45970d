//! Finding the weights inside a checkpoint, and naming them as a state dict does.
//!
//! Training scripts save more than weights: `{"epoch": 3, "optimizer": ..., "model": ...}`.
//! The weights sit under one of a handful of conventional keys, so we look for those,
//! say which one we used, and skip the rest, instead of making every user learn the
//! layout of every checkpoint they download.

use super::Fault;
use super::pickle::{Arena, Dict, TensorRef, Value};
use crate::dtype::unsupported;
use std::collections::HashSet;
use std::rc::Rc;

/// Keys that conventionally hold the weights, in order of preference: the plain weights
/// first, the exponential moving average after (selectable with `--entry`).
pub(crate) const WRAPPERS: [&str; 6] = [
    "model",
    "state_dict",
    "model_state_dict",
    "ema",
    "model_ema",
    "state_dict_ema",
];

/// Containers deeper than this are not a checkpoint (or refer to themselves).
const MAX_DEPTH: usize = 64;
/// Container visits while flattening; shared sub-containers could otherwise make a small
/// pickle expand exponentially.
const MAX_VISITS: usize = 2_000_000;

pub(crate) struct Selected {
    pub tensors: Vec<(String, Rc<TensorRef>)>,
    pub entry: Option<String>,
    pub skipped: Vec<String>,
    pub alternatives: Vec<String>,
}

/// A dict key as Python's `str()` would print it in a state dict name.
fn key_text(arena: &Arena, v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::None => "None".into(),
        Value::Float(f) => f.to_string(),
        Value::Tuple(id) => {
            let inner: Vec<String> = arena
                .items(*id)
                .iter()
                .map(|v| key_text(arena, v))
                .collect();
            format!("({})", inner.join(", "))
        }
        other => format!("<{}>", other.type_name()),
    }
}

/// Whether a container holds a tensor anywhere below it (bounded like flattening).
fn holds_tensor(arena: &Arena, v: &Value, depth: usize, budget: &mut usize) -> bool {
    if depth > MAX_DEPTH || *budget == 0 {
        return false;
    }
    *budget -= 1;
    match v {
        Value::Tensor(_) | Value::Unreadable(_) => true,
        Value::Dict(id) => arena
            .dict(*id)
            .items
            .iter()
            .any(|(_, v)| holds_tensor(arena, v, depth + 1, budget)),
        Value::List(id) | Value::Tuple(id) => arena
            .items(*id)
            .iter()
            .any(|v| holds_tensor(arena, v, depth + 1, budget)),
        _ => false,
    }
}

fn tensor_bearing(arena: &Arena, v: &Value) -> bool {
    let mut budget = MAX_VISITS;
    matches!(v, Value::Dict(_)) && holds_tensor(arena, v, 0, &mut budget)
}

fn describe_keys(arena: &Arena, dict: usize) -> String {
    let items = &arena.dict(dict).items;
    let shown: Vec<String> = items
        .iter()
        .take(20)
        .map(|(k, v)| format!("{} ({})", key_text(arena, k), v.type_name()))
        .collect();
    let more = if items.len() > 20 {
        format!(", and {} more", items.len() - 20)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// Pick the weights out of the unpickled root and flatten them to dotted keys.
pub(crate) fn select(arena: &Arena, root: &Value, entry: Option<&str>) -> Result<Selected, Fault> {
    let Value::Dict(root_id) = root else {
        let what = match root {
            Value::Tensor(_) => "a single tensor".to_string(),
            other => format!("a {}", other.type_name()),
        };
        return Err(Fault::Format(format!(
            "holds {what}, not a dict of tensors (a state dict or a checkpoint)"
        )));
    };
    let root_dict = arena.dict(*root_id);

    let (chosen, path): (Value, Vec<String>) = match entry {
        Some(name) => (find_entry(arena, *root_id, name)?, vec![name.to_string()]),
        None => find_wrapped(arena, root),
    };
    let (skipped, alternatives) = match path.first() {
        Some(top) => others(arena, root_dict, top.split('.').next().unwrap_or(top)),
        None => (Vec::new(), Vec::new()),
    };

    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut visits = 0usize;
    let mut prefix = String::new();
    flatten(
        arena,
        &chosen,
        &mut prefix,
        0,
        &mut visits,
        &mut out,
        &mut seen,
    )?;
    Ok(Selected {
        tensors: out,
        entry: (!path.is_empty()).then(|| path.join(".")),
        skipped,
        alternatives,
    })
}

/// The weights under the conventional wrapper keys, followed down while a dict holds no
/// tensor itself: a checkpoint may nest one wrapper in another
/// (`{"state_dict": {"model": ...}}`). Returns them and the keys followed.
fn find_wrapped(arena: &Arena, root: &Value) -> (Value, Vec<String>) {
    let mut current = root.clone();
    let mut path = Vec::new();
    while path.len() < 4 {
        let Value::Dict(id) = current else { break };
        let d = arena.dict(id);
        if d.items.iter().any(|(_, v)| v.is_tensor()) {
            break; // holds weights directly: this is the state dict
        }
        let Some((name, v)) = WRAPPERS.iter().find_map(|w| {
            d.get_str(w)
                .filter(|v| tensor_bearing(arena, v))
                .map(|v| (*w, v.clone()))
        }) else {
            break;
        };
        path.push(name.to_string());
        current = v;
    }
    (current, path)
}

/// The top-level keys other than `top` (skipped), and the other wrapper keys that hold
/// weights too (alternatives for `--entry`).
fn others(arena: &Arena, root: &Dict, top: &str) -> (Vec<String>, Vec<String>) {
    let skipped = root
        .items
        .iter()
        .map(|(k, _)| key_text(arena, k))
        .filter(|k| k != top)
        .collect();
    let alternatives = WRAPPERS
        .iter()
        .filter(|w| **w != top)
        .filter(|w| root.get_str(w).is_some_and(|v| tensor_bearing(arena, v)))
        .map(|w| w.to_string())
        .collect();
    (skipped, alternatives)
}

/// `--entry NAME`: a top-level key, or a dotted path through nested dicts.
fn find_entry(arena: &Arena, root: usize, name: &str) -> Result<Value, Fault> {
    let not_found = || {
        Fault::Entry(format!(
            "--entry {name}: no such key; the file's top-level keys are: {}",
            describe_keys(arena, root)
        ))
    };
    let found = match arena.dict(root).get_str(name) {
        Some(v) => v.clone(),
        None => {
            let mut current = Value::Dict(root);
            for part in name.split('.') {
                let Value::Dict(id) = current else {
                    return Err(not_found());
                };
                current = arena
                    .dict(id)
                    .get_str(part)
                    .cloned()
                    .ok_or_else(not_found)?;
            }
            current
        }
    };
    match found {
        Value::Dict(_) => Ok(found),
        other => Err(Fault::Entry(format!(
            "--entry {name}: holds a {}, not a dict of tensors; the file's top-level keys are: {}",
            other.type_name(),
            describe_keys(arena, root)
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn flatten(
    arena: &Arena,
    v: &Value,
    prefix: &mut String,
    depth: usize,
    visits: &mut usize,
    out: &mut Vec<(String, Rc<TensorRef>)>,
    seen: &mut HashSet<String>,
) -> Result<(), Fault> {
    *visits += 1;
    if depth > MAX_DEPTH || *visits > MAX_VISITS {
        return Err(Fault::Format(
            "the pickle's containers nest too deeply or refer to each other too often to be \
             a checkpoint"
                .into(),
        ));
    }
    let mut child = |key: String, value: &Value, out: &mut Vec<_>, visits: &mut usize| {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(&key);
        let r = flatten(arena, value, prefix, depth + 1, visits, out, seen);
        prefix.truncate(len);
        r
    };
    match v {
        Value::Tensor(t) => {
            if !seen.insert(prefix.clone()) {
                return Err(Fault::Format(format!(
                    "two tensors are both named '{prefix}' once nested keys are joined with dots"
                )));
            }
            out.push((prefix.clone(), t.clone()));
        }
        Value::Unreadable(dtype) => return Err(Fault::Format(unsupported(prefix, dtype))),
        Value::Dict(id) => {
            for (k, v) in &arena.dict(*id).items {
                child(key_text(arena, k), v, out, visits)?;
            }
        }
        Value::List(id) | Value::Tuple(id) => {
            for (i, v) in arena.items(*id).iter().enumerate() {
                child(i.to_string(), v, out, visits)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::pickle::unpickle;

    #[test]
    fn cycles_and_fan_out_end_in_an_error() {
        // {'a': l} where l contains itself.
        let p = b"\x80\x02}q\x00X\x01\x00\x00\x00a]q\x01h\x01as.";
        let u = unpickle(p, 0, None).unwrap();
        assert!(select(&u.arena, &u.root, None).is_err());
        // 40 levels of [x, x]: 2^40 paths if walked naively.
        let mut p = b"\x80\x02N".to_vec();
        for _ in 0..40 {
            p.extend_from_slice(b"2\x86"); // DUP, TUPLE2
        }
        p.extend_from_slice(b"q\x00}q\x01X\x01\x00\x00\x00ah\x00s.");
        let u = unpickle(&p, 0, None).unwrap();
        let start = std::time::Instant::now();
        assert!(select(&u.arena, &u.root, None).is_err());
        assert!(start.elapsed().as_secs() < 5);
    }
}
