//! Reading a model's `(key, shape)` list from JSON.
//!
//! The matcher needs the model's parameter names and shapes, and the model may live in a
//! process that has no business linking this crate (or in Python). A JSON file is the
//! smallest common ground: `{"key": [shape...], ...}` as
//! `{k: list(v.shape) for k, v in model.state_dict().items()}` prints it, a list of
//! `[key, shape]` pairs, or what `lrplan-weights inspect --json` prints for a weight file of
//! the model (its `tensors`). Order is kept, since reports list model keys in model order.

use crate::error::Error;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

struct Keys(Vec<(String, Vec<usize>)>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object {\"key\": [shape...]} or a list of [key, [shape...]]")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Vec<usize>>()? {
                    out.push((k, v));
                }
                Ok(Keys(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Keys, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = s.next_element::<(String, Vec<usize>)>()? {
                    out.push(pair);
                }
                Ok(Keys(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `lrplan-weights inspect --json` output: only its tensors' keys and shapes are used.
#[derive(Deserialize)]
struct Inventory {
    tensors: Vec<InventoryItem>,
}

#[derive(Deserialize)]
struct InventoryItem {
    key: String,
    shape: Vec<usize>,
}

/// Whether the JSON is an inventory: an object with a string `format` and a `tensors` list.
/// A key list cannot be one, since its values are all shapes (lists of numbers).
fn is_inventory(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        format: Option<serde_json::Value>,
        tensors: Option<serde_json::Value>,
    }
    serde_json::from_str::<Probe>(text).is_ok_and(|p| {
        p.format.is_some_and(|f| f.is_string()) && p.tensors.is_some_and(|t| t.is_array())
    })
}

fn parse_layouts(text: &str) -> serde_json::Result<Vec<(String, Vec<usize>)>> {
    if is_inventory(text) {
        let inv: Inventory = serde_json::from_str(text)?;
        Ok(inv.tensors.into_iter().map(|t| (t.key, t.shape)).collect())
    } else {
        serde_json::from_str::<Keys>(text).map(|Keys(keys)| keys)
    }
}

/// Parse model keys from JSON text; `path` is only used to name the source in errors.
pub fn parse_model_keys(text: &str, path: &Path) -> Result<Vec<(String, Vec<usize>)>, Error> {
    let keys = parse_layouts(text).map_err(|e| {
        Error::format(
            path,
            format!(
                "not a model key list ({e}); expected {{\"key\": [shape...], ...}}, \
                 [[\"key\", [shape...]], ...] or the output of `lrplan-weights inspect --json`"
            ),
        )
    })?;
    let mut seen = HashSet::new();
    for (k, _) in &keys {
        if !seen.insert(k.as_str()) {
            return Err(Error::format(
                path,
                format!("model key '{k}' is listed twice"),
            ));
        }
    }
    if keys.is_empty() {
        return Err(Error::format(path, "the model key list is empty"));
    }
    Ok(keys)
}

/// Read a model key list (see [`parse_model_keys`]) from a file.
pub fn read_model_keys(path: &Path) -> Result<Vec<(String, Vec<usize>)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "cannot read", e))?;
    parse_model_keys(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_keep_order() {
        let p = Path::new("m.json");
        let a = parse_model_keys(r#"{"z": [2, 3], "a": []}"#, p).unwrap();
        assert_eq!(a, vec![("z".into(), vec![2, 3]), ("a".into(), vec![])]);
        let b = parse_model_keys(r#"[["z", [2, 3]], ["a", []]]"#, p).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn inspect_json_is_a_key_list() {
        let p = Path::new("m.json");
        let inventory = r#"{"format": "zip", "entry": null, "tensors": [
            {"key": "z", "dtype": "f32", "shape": [2, 3], "numel": 6},
            {"key": "a", "dtype": "i64", "shape": [], "numel": 1}], "total_tensors": 2}"#;
        let a = parse_model_keys(inventory, p).unwrap();
        assert_eq!(a, vec![("z".into(), vec![2, 3]), ("a".into(), vec![])]);
        // Model keys that happen to be called `format` and `tensors` are still shapes.
        let b = parse_model_keys(r#"{"format": [1], "tensors": [2]}"#, p).unwrap();
        assert_eq!(
            b,
            vec![("format".into(), vec![1]), ("tensors".into(), vec![2])]
        );
        let e = parse_model_keys(r#"{"format": "zip", "tensors": [{"key": "a"}]}"#, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.json") && e.contains("shape"), "{e}");
    }

    #[test]
    fn errors_name_the_file() {
        let p = Path::new("m.json");
        for bad in [
            r#"{"a": [-1]}"#,
            "[1,2]",
            "{",
            r#"{"a": [1], "a": [2]}"#,
            "{}",
        ] {
            let e = parse_model_keys(bad, p).unwrap_err().to_string();
            assert!(e.starts_with("m.json: "), "{e}");
        }
    }
}
