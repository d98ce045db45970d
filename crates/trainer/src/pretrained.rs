//! Pretrained weights through `lrplan-weights`: read the file, match its keys and shapes to
//! the model's, print the report, copy what matched into the model under `no_grad`.
//!
//! A tensor whose shape differs (a head trained for another class count) is refused by the
//! matcher and keeps its fresh init; that is the fine-tuning case and is shown in the report.
//! A file of which nothing loads is an error: it is almost certainly another architecture.

use std::io::IsTerminal;
use std::path::Path;

use lrplan_weights::{KeyMap, ReadOptions};

use crate::error::{Error, Result};
use crate::model::Network;
use crate::tensors::to_tch;

/// The weight-key options of `trainer train`, passed through to the weights crate.
#[derive(Debug, Clone, Default)]
pub struct WeightOptions {
    pub entry: Option<String>,
    pub strip_prefix: Vec<String>,
    pub add_prefix: Option<String>,
    pub rename: Vec<String>,
    pub auto_prefix: bool,
}

/// What loading did.
#[derive(Debug)]
pub struct Loaded {
    /// The weights crate's report, rendered for the terminal.
    pub report: String,
    /// Model keys that received a tensor from the file.
    pub loaded: Vec<String>,
}

/// Loads `path` into `model`.
pub fn load(model: &dyn Network, path: &Path, args: &WeightOptions) -> Result<Loaded> {
    let sd = lrplan_weights::read_file(
        path,
        &ReadOptions {
            entry: args.entry.clone(),
        },
    )?;
    let mut map = KeyMap {
        strip_prefixes: args.strip_prefix.clone(),
        add_prefix: args.add_prefix.clone(),
        auto_prefix: args.auto_prefix,
        ..KeyMap::default()
    };
    for spec in &args.rename {
        map = map.with_rename(spec)?;
    }
    let report = lrplan_weights::match_keys(&sd, &model.keys(), &map);
    let rendered = report.render(std::io::stdout().is_terminal());
    if report.loaded.is_empty() {
        return Err(Error::WeightsMismatch {
            path: path.to_path_buf(),
            reason: format!(
                "no tensor matches the {} model by name and shape; is it another architecture?\n{rendered}",
                model.name()
            ),
        });
    }
    let _guard = tch::no_grad_guard();
    for l in &report.loaded {
        let (Some(entry), Some(src)) = (model.entry(&l.model_key), sd.get(&l.file_key)) else {
            continue;
        };
        let values = to_tch(src)?
            .f_to_kind(entry.tensor.kind())?
            .f_to_device(entry.tensor.device())?;
        let mut dst = entry.tensor.shallow_clone();
        dst.f_copy_(&values)?;
    }
    Ok(Loaded {
        report: rendered,
        loaded: report.loaded.iter().map(|l| l.model_key.clone()).collect(),
    })
}
