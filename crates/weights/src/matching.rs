//! Deciding which file tensors load into which model tensors.
//!
//! The rule is the one fine-tuning relies on: an entry is loaded only where the model has
//! the same key and the tensor has the same shape. So a classifier with a new class count
//! gets the pretrained backbone and keeps a fresh head. Everything else is reported, not
//! silently dropped, and when almost nothing matches we look for the prefix change that
//! would fix it, because that is by far the most common reason.

use crate::keymap::KeyMap;
use crate::read::StateDict;
use crate::report::{Counts, Loaded, Mismatch, Missing, Report, Suggestion, Unexpected, verdict};
use crate::tensor::numel;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Only this many of the most common prefixes on each side are tried as candidates.
const MAX_PREFIX_CANDIDATES: usize = 16;

/// Match a file's tensors against a model's `(key, shape)` list.
///
/// The report names the *model* key of every loaded tensor (with the file key it came
/// from), so a caller can copy `file.get(file_key)` into its own parameter `model_key`.
pub fn match_keys(file: &StateDict, model: &[(String, Vec<usize>)], map: &KeyMap) -> Report {
    let mut mapped: Vec<String> = file.tensors.iter().map(|(k, _)| map.apply(k)).collect();
    let mut key_map = map.describe();
    let model_shapes = model_index(model);
    let suggestion = suggest_prefix(file, &mapped, model, &model_shapes, map.auto_prefix);
    if let Some(s) = suggestion.as_ref().filter(|s| s.applied) {
        let (strip, add) = (s.strip_prefix.as_deref(), s.add_prefix.as_deref());
        mapped = mapped
            .iter()
            .map(|k| change_prefix(k, strip, add))
            .collect();
        key_map.extend(strip.map(|s| format!("strip prefix '{s}' (auto)")));
        key_map.extend(add.map(|a| format!("add prefix '{a}' (auto)")));
    }
    let (by_mapped, mut unexpected) = claim(file, &mapped);
    let Paired {
        loaded,
        shape_mismatch,
        missing,
        used,
        model_tensors,
    } = pair(file, model, &by_mapped);
    for (i, (k, t)) in file.tensors.iter().enumerate() {
        if !used.contains(&i) && by_mapped.get(mapped[i].as_str()) == Some(&i) {
            unexpected.push((i, unexpected_entry(k, &mapped[i], &t.shape, None)));
        }
    }
    unexpected.sort_by_key(|(i, _)| *i);
    let unexpected: Vec<Unexpected> = unexpected.into_iter().map(|(_, u)| u).collect();

    let counts = Counts {
        model_tensors,
        file_tensors: file.tensors.len(),
        loaded: loaded.len(),
        shape_mismatch: shape_mismatch.len(),
        missing: missing.len(),
        unexpected: unexpected.len(),
        model_params: model_shapes.values().map(|s| numel(s)).sum(),
        loaded_params: loaded.iter().map(|l| l.numel).sum(),
    };
    Report {
        format: file.format,
        entry: file.entry.clone(),
        skipped_entries: file.skipped.clone(),
        key_map,
        verdict: verdict(&counts, suggestion.as_ref()),
        loaded,
        shape_mismatch,
        missing,
        unexpected,
        counts,
        suggestion,
    }
}

/// When fewer than half the model's tensors would load, the prefix change that loads more
/// (applied when `auto` is set).
fn suggest_prefix(
    file: &StateDict,
    mapped: &[String],
    model: &[(String, Vec<usize>)],
    model_shapes: &HashMap<&str, &[usize]>,
    auto: bool,
) -> Option<Suggestion> {
    let current = score(file, mapped, model_shapes, None, None);
    if current * 2 >= model.len() {
        return None;
    }
    let (strip, add, after) = best_prefix_change(file, mapped, model, model_shapes)?;
    (after > current).then_some(Suggestion {
        strip_prefix: strip,
        add_prefix: add,
        loaded_after: after,
        applied: auto,
    })
}

/// Which file tensor each mapped key stands for: the first to claim it wins, and later ones
/// are reported as unexpected (with their index in the file, to keep file order).
fn claim<'a>(
    file: &StateDict,
    mapped: &'a [String],
) -> (HashMap<&'a str, usize>, Vec<(usize, Unexpected)>) {
    let mut by_mapped: HashMap<&str, usize> = HashMap::new();
    let mut unexpected = Vec::new();
    for (i, m) in mapped.iter().enumerate() {
        if let Some(&first) = by_mapped.get(m.as_str()) {
            let (k, t) = &file.tensors[i];
            let note = format!("maps to the same key as '{}'", file.tensors[first].0);
            unexpected.push((i, unexpected_entry(k, m, &t.shape, Some(note))));
        } else {
            by_mapped.insert(m, i);
        }
    }
    (by_mapped, unexpected)
}

fn unexpected_entry(
    file_key: &str,
    mapped: &str,
    shape: &[usize],
    note: Option<String>,
) -> Unexpected {
    Unexpected {
        file_key: file_key.to_string(),
        mapped_key: mapped.to_string(),
        shape: shape.to_vec(),
        note,
    }
}

/// The model's side: each model key loaded, refused for shape, or missing.
struct Paired {
    loaded: Vec<Loaded>,
    shape_mismatch: Vec<Mismatch>,
    missing: Vec<Missing>,
    /// Indices of the file tensors some model key asked for.
    used: HashSet<usize>,
    /// Distinct model keys.
    model_tensors: usize,
}

fn pair(
    file: &StateDict,
    model: &[(String, Vec<usize>)],
    by_mapped: &HashMap<&str, usize>,
) -> Paired {
    let mut p = Paired {
        loaded: Vec::new(),
        shape_mismatch: Vec::new(),
        missing: Vec::new(),
        used: HashSet::new(),
        model_tensors: 0,
    };
    let mut seen_model = HashSet::new();
    for (key, shape) in model {
        if !seen_model.insert(key.as_str()) {
            continue; // a model lists each key once; ignore repeats rather than double count
        }
        let Some(&i) = by_mapped.get(key.as_str()) else {
            p.missing.push(Missing {
                model_key: key.clone(),
                shape: shape.clone(),
            });
            continue;
        };
        p.used.insert(i);
        let (file_key, t) = &file.tensors[i];
        if &t.shape == shape {
            p.loaded.push(Loaded {
                model_key: key.clone(),
                file_key: file_key.clone(),
                shape: shape.clone(),
                numel: numel(shape),
                dtype: t.dtype,
            });
        } else {
            p.shape_mismatch.push(Mismatch {
                model_key: key.clone(),
                file_key: file_key.clone(),
                model_shape: shape.clone(),
                file_shape: t.shape.clone(),
            });
        }
    }
    p.model_tensors = seen_model.len();
    p
}

fn model_index(model: &[(String, Vec<usize>)]) -> HashMap<&str, &[usize]> {
    let mut index = HashMap::with_capacity(model.len());
    for (k, s) in model {
        index.entry(k.as_str()).or_insert(s.as_slice());
    }
    index
}

fn change_prefix(key: &str, strip: Option<&str>, add: Option<&str>) -> String {
    let rest = strip.and_then(|s| key.strip_prefix(s)).unwrap_or(key);
    match add {
        Some(a) => format!("{a}{rest}"),
        None => rest.to_string(),
    }
}

/// Model tensors that would load if file keys were changed this way.
fn score(
    file: &StateDict,
    mapped: &[String],
    model: &HashMap<&str, &[usize]>,
    strip: Option<&str>,
    add: Option<&str>,
) -> usize {
    let mut hit = HashSet::new();
    for (m, (_, t)) in mapped.iter().zip(&file.tensors) {
        let k = change_prefix(m, strip, add);
        if let Some((key, shape)) = model.get_key_value(k.as_str()) {
            if *shape == t.shape.as_slice() {
                hit.insert(*key);
            }
        }
    }
    hit.len()
}

/// The first one and two dotted components of each key, most common first.
fn common_prefixes<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for k in keys {
        let mut dots = k.match_indices('.').map(|(i, _)| i);
        for _ in 0..2 {
            if let Some(i) = dots.next() {
                *counts.entry(&k[..=i]).or_insert(0) += 1;
            }
        }
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .take(MAX_PREFIX_CANDIDATES)
        .map(|(p, _)| p.to_string())
        .collect()
}

/// The prefix to strip and/or add that loads the most model tensors; simpler changes win
/// ties (a strip or an add alone before a replacement).
fn best_prefix_change(
    file: &StateDict,
    mapped: &[String],
    model: &[(String, Vec<usize>)],
    model_shapes: &HashMap<&str, &[usize]>,
) -> Option<(Option<String>, Option<String>, usize)> {
    let strips = common_prefixes(mapped.iter().map(String::as_str));
    let adds = common_prefixes(model.iter().map(|(k, _)| k.as_str()));
    let mut candidates: Vec<(Option<&str>, Option<&str>)> = Vec::new();
    candidates.extend(strips.iter().map(|s| (Some(s.as_str()), None)));
    candidates.extend(adds.iter().map(|a| (None, Some(a.as_str()))));
    for s in &strips {
        for a in &adds {
            if s != a {
                candidates.push((Some(s.as_str()), Some(a.as_str())));
            }
        }
    }
    let mut best: Option<(Option<&str>, Option<&str>, usize)> = None;
    for (s, a) in candidates {
        let n = score(file, mapped, model_shapes, s, a);
        if n > 0 && best.is_none_or(|(_, _, b)| n > b) {
            best = Some((s, a, n));
        }
    }
    best.map(|(s, a, n)| (s.map(str::to_string), a.map(str::to_string), n))
}
