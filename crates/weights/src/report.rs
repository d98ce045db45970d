//! What a match (or an inspection) found, as data, as text and as JSON.
//!
//! PyTorch's `load_state_dict(strict=False)` returns two lists of leftovers and says
//! nothing about what did load or why the rest did not. A report here lists all four
//! outcomes, with both shapes for a refused tensor, and ends in one verdict line a person
//! can act on; the same structure serializes to JSON for scripts.

use crate::dtype::DType;
use crate::read::{Format, StateDict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// A model tensor that will receive the file tensor `file_key`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Loaded {
    pub model_key: String,
    pub file_key: String,
    pub shape: Vec<usize>,
    pub numel: usize,
    pub dtype: DType,
}

/// A file tensor no model key asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unexpected {
    pub file_key: String,
    /// The key after the key map, which is what was looked up in the model.
    pub mapped_key: String,
    pub shape: Vec<usize>,
    /// Set when the key was not even looked up, e.g. it mapped onto an earlier key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A model tensor the file does not have; it keeps its initialization.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Missing {
    pub model_key: String,
    pub shape: Vec<usize>,
}

/// Same key in both, different shape: refused, the model keeps its initialization.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    pub model_key: String,
    pub file_key: String,
    pub model_shape: Vec<usize>,
    pub file_shape: Vec<usize>,
}

/// A prefix change that would make many more keys match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub strip_prefix: Option<String>,
    pub add_prefix: Option<String>,
    /// Model tensors that load with the change.
    pub loaded_after: usize,
    /// Whether it was applied (`--auto-prefix`) or only suggested.
    pub applied: bool,
}

impl Suggestion {
    /// "removing 'backbone.'", "adding 'model.'", "replacing 'a.' with 'b.'".
    pub fn change(&self) -> String {
        match (&self.strip_prefix, &self.add_prefix) {
            (Some(s), Some(a)) => format!("replacing '{s}' with '{a}'"),
            (Some(s), None) => format!("removing '{s}'"),
            (None, Some(a)) => format!("adding '{a}'"),
            (None, None) => "no change".into(),
        }
    }

    /// The command-line flags that make the change.
    pub fn flags(&self) -> String {
        let mut f = Vec::new();
        if let Some(s) = &self.strip_prefix {
            f.push(format!("--strip-prefix {s}"));
        }
        if let Some(a) = &self.add_prefix {
            f.push(format!("--add-prefix {a}"));
        }
        f.join(" ")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub model_tensors: usize,
    pub file_tensors: usize,
    pub loaded: usize,
    pub shape_mismatch: usize,
    pub missing: usize,
    pub unexpected: usize,
    /// Elements over all model tensors.
    pub model_params: usize,
    /// Elements over the loaded tensors.
    pub loaded_params: usize,
}

/// The outcome of [`crate::match_keys`]: "an entry is loaded only where the model has the
/// same key and the tensor has the same shape", with every other entry accounted for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub format: Format,
    pub entry: Option<String>,
    pub skipped_entries: Vec<String>,
    pub key_map: Vec<String>,
    pub loaded: Vec<Loaded>,
    pub shape_mismatch: Vec<Mismatch>,
    pub missing: Vec<Missing>,
    pub unexpected: Vec<Unexpected>,
    pub counts: Counts,
    pub suggestion: Option<Suggestion>,
    pub verdict: String,
}

/// `11.2M`, `950`, `1.3B`: parameter counts as people say them.
pub fn human_count(n: usize) -> String {
    let f = n as f64;
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}K", f / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", f / 1e6),
        _ => format!("{:.1}B", f / 1e9),
    }
}

fn human_bytes(n: usize) -> String {
    let f = n as f64;
    match n {
        0..=1023 => format!("{n} B"),
        1024..=1_048_575 => format!("{:.1} KiB", f / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MiB", f / 1_048_576.0),
        _ => format!("{:.2} GiB", f / 1_073_741_824.0),
    }
}

/// `note()` where a key map renamed the key (`a != b`); nothing for a key used as it is.
fn if_renamed(a: &str, b: &str, note: impl FnOnce() -> String) -> String {
    if a == b { String::new() } else { note() }
}

fn shape(s: &[usize]) -> String {
    format!("{s:?}")
}

/// ANSI styling that disappears when colour is off.
struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn green(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.wrap("33", t)
    }
    fn red(&self, t: &str) -> String {
        self.wrap("31", t)
    }
    fn cyan(&self, t: &str) -> String {
        self.wrap("36", t)
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
}

pub(crate) fn verdict(c: &Counts, suggestion: Option<&Suggestion>) -> String {
    let mut v = format!(
        "loaded {} of {} model tensors ({} of {} parameters)",
        c.loaded,
        c.model_tensors,
        human_count(c.loaded_params),
        human_count(c.model_params)
    );
    if c.shape_mismatch > 0 {
        let _ = write!(v, "; {} refused for shape", c.shape_mismatch);
    }
    if c.missing > 0 {
        let _ = write!(v, "; {} missing from the file", c.missing);
    }
    if c.unexpected > 0 {
        let _ = write!(v, "; {} in the file but not in the model", c.unexpected);
    }
    if let Some(s) = suggestion {
        if s.applied {
            let _ = write!(v, " (after {}, applied by --auto-prefix)", s.change());
        } else {
            let _ = write!(
                v,
                "; {} match after {} — use {}",
                s.loaded_after,
                s.change(),
                s.flags()
            );
        }
    }
    v
}

fn source_line(format: Format, entry: Option<&str>, skipped: &[String]) -> String {
    let mut line = format!("file: {format}");
    if let Some(e) = entry {
        let _ = write!(line, ", weights from entry '{e}'");
    }
    if !skipped.is_empty() {
        let _ = write!(line, " (skipped: {})", skipped.join(", "));
    }
    line
}

impl Report {
    /// The report as text; `color` adds ANSI colours (for a terminal).
    pub fn render(&self, color: bool) -> String {
        let p = Paint(color);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}",
            source_line(self.format, self.entry.as_deref(), &self.skipped_entries)
        );
        if !self.key_map.is_empty() {
            let _ = writeln!(out, "key map: {}", self.key_map.join(", then "));
        }
        let heading = format!(
            "loaded ({} tensors, {} parameters):",
            self.loaded.len(),
            human_count(self.counts.loaded_params)
        );
        section(
            &mut out,
            &p.green(&heading),
            self.loaded.iter().map(|l| {
                let from = if_renamed(&l.file_key, &l.model_key, || format!("  <- {}", l.file_key));
                format!("{} {} {}{from}", l.model_key, shape(&l.shape), l.dtype)
            }),
        );
        let heading = format!("shape mismatch, refused ({}):", self.shape_mismatch.len());
        section(
            &mut out,
            &p.yellow(&heading),
            self.shape_mismatch.iter().map(|m| {
                let from = if_renamed(&m.file_key, &m.model_key, || format!("  <- {}", m.file_key));
                let (model, file) = (shape(&m.model_shape), shape(&m.file_shape));
                format!("{}  model {model}  file {file}{from}", m.model_key)
            }),
        );
        let heading = format!("missing from the file ({}):", self.missing.len());
        section(
            &mut out,
            &p.red(&heading),
            self.missing
                .iter()
                .map(|m| format!("{} {}", m.model_key, shape(&m.shape))),
        );
        let heading = format!(
            "in the file but not in the model ({}):",
            self.unexpected.len()
        );
        section(
            &mut out,
            &p.cyan(&heading),
            self.unexpected.iter().map(|u| {
                let mapped = if_renamed(&u.mapped_key, &u.file_key, || {
                    format!("  (as {})", u.mapped_key)
                });
                let note = u
                    .note
                    .as_ref()
                    .map(|n| format!("  [{n}]"))
                    .unwrap_or_default();
                format!("{} {}{mapped}{note}", u.file_key, shape(&u.shape))
            }),
        );
        let _ = write!(out, "{}", p.bold(&self.verdict));
        out
    }
}

/// A heading and its lines, indented.
fn section(out: &mut String, heading: &str, lines: impl Iterator<Item = String>) {
    let _ = writeln!(out, "{heading}");
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// One tensor in an [`Inventory`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryItem {
    pub key: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub numel: usize,
}

/// What a file holds: keys, dtypes, shapes and totals (`lrplan-weights inspect`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    pub format: Format,
    pub entry: Option<String>,
    pub skipped_entries: Vec<String>,
    pub alternatives: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub tensors: Vec<InventoryItem>,
    pub total_tensors: usize,
    pub total_params: usize,
    pub total_bytes: usize,
    /// Tensor count per dtype name.
    pub by_dtype: BTreeMap<String, usize>,
}

impl StateDict {
    /// Keys, dtypes, shapes and totals, without the data.
    pub fn inventory(&self) -> Inventory {
        let mut by_dtype = BTreeMap::new();
        for (_, t) in &self.tensors {
            *by_dtype.entry(t.dtype.name().to_string()).or_insert(0) += 1;
        }
        Inventory {
            format: self.format,
            entry: self.entry.clone(),
            skipped_entries: self.skipped.clone(),
            alternatives: self.alternatives.clone(),
            metadata: self.metadata.clone(),
            tensors: self
                .tensors
                .iter()
                .map(|(k, t)| InventoryItem {
                    key: k.clone(),
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    numel: t.numel(),
                })
                .collect(),
            total_tensors: self.tensors.len(),
            total_params: self.numel(),
            total_bytes: self.tensors.iter().map(|(_, t)| t.data.len()).sum(),
            by_dtype,
        }
    }
}

impl Inventory {
    /// The inventory as text; `color` adds ANSI colours (for a terminal).
    pub fn render(&self, color: bool) -> String {
        let p = Paint(color);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}",
            source_line(self.format, self.entry.as_deref(), &self.skipped_entries)
        );
        if !self.alternatives.is_empty() {
            let _ = writeln!(
                out,
                "also holds weights under: {} (select with --entry)",
                self.alternatives.join(", ")
            );
        }
        for (k, v) in &self.metadata {
            let _ = writeln!(out, "metadata: {k} = {v}");
        }
        let width = self.tensors.iter().map(|t| t.key.len()).max().unwrap_or(0);
        for t in &self.tensors {
            let _ = writeln!(
                out,
                "  {:width$}  {:4}  {}",
                t.key,
                t.dtype.name(),
                shape(&t.shape)
            );
        }
        let dtypes: Vec<String> = self
            .by_dtype
            .iter()
            .map(|(d, n)| format!("{d}: {n}"))
            .collect();
        let _ = write!(
            out,
            "{}",
            p.bold(&format!(
                "{} tensors, {} parameters, {} ({})",
                self.total_tensors,
                human_count(self.total_params),
                human_bytes(self.total_bytes),
                dtypes.join(", ")
            ))
        );
        out
    }
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_like_people_say_them() {
        assert_eq!(human_count(950), "950");
        assert_eq!(human_count(11_200_000), "11.2M");
        assert_eq!(human_count(1_300_000_000), "1.3B");
    }
}
