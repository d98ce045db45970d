//! Checkpoints: model weights (`<name>.safetensors`, the model's state-dict names, readable
//! by Python's safetensors; with `--ema` the average of the weights), the training state
//! (`<name>.optim.safetensors`: one tensor per optimizer buffer named
//! `opt.<group>.<param>.<buffer>`, and with `--ema` the training weights as `train.<name>`)
//! and the record `<name>.json` ([`Meta`]: where the run stands, what it was started with, the
//! loss scaler's state and the EMA's updates, the checksums of the other files).
//!
//! A kill at any moment must leave a complete checkpoint, old or new, never a mix: the three
//! files are committed together ([`commit`]).

mod commit;
mod meta;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use tch::Tensor;

pub use commit::{Staging, replay, sha256_file};
pub use meta::{FORMAT, Meta};

use crate::error::{Error, Result};
use crate::tensors::from_tch;

/// Paths of checkpoint `name` (`last` or `best`).
pub struct Paths {
    pub model: PathBuf,
    pub optim: PathBuf,
    pub meta: PathBuf,
}

pub fn paths(dir: &Path, name: &str) -> Paths {
    Paths {
        model: dir.join(format!("{name}.safetensors")),
        optim: dir.join(format!("{name}.optim.safetensors")),
        meta: dir.join(format!("{name}.json")),
    }
}

/// Writes tch tensors as a safetensors file through the weights crate, then fsyncs.
pub fn write_tensors_synced(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    let owned = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), from_tch(n, t)?)))
        .collect::<Result<Vec<_>>>()?;
    lrplan_weights::write_safetensors(path, &owned, metadata)?;
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, "sync", e))
}

/// Saves checkpoint `name` atomically: the tensor files, then the record with their
/// checksums, committed together; with them the model's own `extra` files (file name,
/// bytes), such as a TorchScript model's `<name>.pt`.
pub fn save(
    dir: &Path,
    name: &str,
    model: &[(String, Tensor)],
    optim: &[(String, Tensor)],
    extra: &[(String, Vec<u8>)],
    meta: &Meta,
) -> Result<()> {
    let p = paths(dir, name);
    let mut st_meta = BTreeMap::new();
    st_meta.insert("format".to_string(), "pt".to_string());
    st_meta.insert("epoch".to_string(), meta.epoch.to_string());
    let mut staging = Staging::new(dir);
    let mut files = BTreeMap::new();
    for (path, tensors, extra) in [(&p.model, model, Some(&st_meta)), (&p.optim, optim, None)] {
        let file = file_name(path);
        staging.write_with(&file, |tmp| write_tensors_synced(tmp, tensors, extra))?;
        files.insert(file.clone(), staging.digest(&file)?);
    }
    for (file, bytes) in extra {
        staging.write(file, bytes)?;
        files.insert(file.clone(), staging.digest(file)?);
    }
    let record = Meta {
        files,
        ..meta.clone()
    };
    staging.write(&file_name(&p.meta), &record.to_json()?)?;
    staging.commit()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads the record of checkpoint `name` in `dir`, completing an interrupted commit first.
pub fn load_meta(dir: &Path, name: &str) -> Result<Meta> {
    replay(dir)?;
    let p = paths(dir, name);
    let text = std::fs::read_to_string(&p.meta).map_err(|e| Error::Checkpoint {
        path: p.meta.clone(),
        reason: format!("no checkpoint to resume from ({e})"),
    })?;
    Meta::from_json(&text, &p.meta)
}

/// Reads the tensor files of checkpoint `name`, each checked against the record first.
pub fn load_tensors(
    dir: &Path,
    name: &str,
    meta: &Meta,
) -> Result<(BTreeMap<String, Tensor>, BTreeMap<String, Tensor>)> {
    let p = paths(dir, name);
    for path in [&p.model, &p.optim] {
        meta.verify_file(dir, &file_name(path))?;
    }
    Ok((
        crate::tensors::read_file(&p.model)?,
        crate::tensors::read_file(&p.optim)?,
    ))
}
