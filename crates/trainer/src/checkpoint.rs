//! Checkpoints: model weights (`<name>.safetensors`, torchvision key names, readable by
//! Python's safetensors), optimizer state (`<name>.optim.safetensors`, one tensor per buffer
//! named `opt.<group>.<param>.<buffer>`) and `<name>.json` (epoch, next step, seed, metrics
//! so far, the plan, the command line, the logs' lengths).
//!
//! A kill at any moment must leave a complete checkpoint, old or new, never a mix. Each file
//! is written to a temporary name in the run folder and fsynced; then a journal naming the
//! renames is itself written atomically; then the renames happen and the journal is removed.
//! Opening a run replays a journal left by a kill (all temporaries are complete by then) or
//! deletes stray temporaries (a kill before the journal: the old checkpoint is intact).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use tch::Tensor;

use crate::error::{Error, Result};
use crate::log::EpochMetrics;
use crate::tensors::from_tch;

const JOURNAL: &str = "checkpoint.journal";
const TMP_SUFFIX: &str = ".tmp";

/// What a checkpoint records beside the tensors.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// Command line of the original `trainer train`, re-parsed on `--resume`.
    pub argv: Vec<String>,
    /// The plan file's text, as trained.
    pub plan: String,
    pub seed: u64,
    /// Next epoch to train and the iteration within it (non-zero after Ctrl-C).
    pub epoch: u32,
    pub iteration: u64,
    /// Optimizer steps taken so far (the `step` column of steps.csv).
    pub optimizer_steps: u64,
    /// Loss sum and count of the current epoch's finished iterations (mid-epoch saves).
    pub epoch_loss_sum: f64,
    pub epoch_loss_count: u64,
    pub metrics: Vec<EpochMetrics>,
    pub best_val_acc: Option<f64>,
    /// Byte lengths of lr.csv, steps.csv, metrics.csv when this checkpoint was taken.
    pub log_lengths: Vec<u64>,
}

/// One file of a checkpoint.
pub enum Content {
    Bytes(Vec<u8>),
    /// Written with `lrplan_weights::write_safetensors`.
    Tensors(
        Vec<(String, lrplan_weights::Tensor)>,
        Option<BTreeMap<String, String>>,
    ),
}

/// Writes safetensors through the weights crate, then fsyncs.
pub fn write_tensors_synced(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    write_content(path, &Content::Tensors(owned(tensors)?, metadata.cloned()))
}

/// Copies tch tensors out (to the CPU) for writing.
fn owned(tensors: &[(String, Tensor)]) -> Result<Vec<(String, lrplan_weights::Tensor)>> {
    tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), from_tch(n, t)?)))
        .collect()
}

fn write_content(path: &Path, content: &Content) -> Result<()> {
    match content {
        Content::Bytes(b) => write_synced(path, b),
        Content::Tensors(t, meta) => {
            lrplan_weights::write_safetensors(path, t, meta.as_ref())?;
            File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(path, "sync", e))
        }
    }
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "sync folder", e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, "create", e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, "write", e))
}

/// Writes several files so that either all of them or none replace the old ones.
///
/// A failure before the commit point (a full disk, most likely) removes every temporary this
/// call wrote, so the space goes back and the old checkpoint stays the one a resume finds.
pub fn commit(dir: &Path, files: &[(String, Content)]) -> Result<()> {
    let journal = dir.join(JOURNAL);
    let journal_tmp = dir.join(format!("{JOURNAL}{TMP_SUFFIX}"));
    let tmps: Vec<PathBuf> = files
        .iter()
        .map(|(name, _)| dir.join(format!("{name}{TMP_SUFFIX}")))
        .chain([journal_tmp.clone()])
        .collect();
    let prepare = || -> Result<()> {
        for ((_, content), tmp) in files.iter().zip(&tmps) {
            write_content(tmp, content)?;
        }
        fsync_dir(dir)?;
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        write_synced(&journal_tmp, names.join("\n").as_bytes())?;
        // The journal is the commit point: once it exists, every temporary is complete.
        std::fs::rename(&journal_tmp, &journal).map_err(|e| Error::io(&journal, "rename", e))
    };
    if let Err(e) = prepare() {
        for tmp in &tmps {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    fsync_dir(dir)?;
    replay(dir)
}

/// Finishes a committed checkpoint (renames listed in the journal) or discards an
/// uncommitted one (stray temporaries). Called before reading a run folder.
pub fn replay(dir: &Path) -> Result<()> {
    let journal = dir.join(JOURNAL);
    if journal.exists() {
        let list = std::fs::read_to_string(&journal).map_err(|e| Error::io(&journal, "read", e))?;
        for name in list.lines().filter(|l| !l.is_empty()) {
            let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
            if tmp.exists() {
                let dst = dir.join(name);
                std::fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, "rename", e))?;
            }
        }
        fsync_dir(dir)?;
        std::fs::remove_file(&journal).map_err(|e| Error::io(&journal, "remove", e))?;
        fsync_dir(dir)?;
    }
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Ours, and the weights crate's own partial file inside one of ours
            // (`.last.safetensors.tmp.partial-<pid>`) when the kill came mid-write.
            if name.ends_with(TMP_SUFFIX) || name.contains(&format!("{TMP_SUFFIX}.partial-")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

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

/// Saves checkpoint `name` atomically.
pub fn save(
    dir: &Path,
    name: &str,
    model: &[(String, Tensor)],
    optim: &[(String, Tensor)],
    meta: &Meta,
) -> Result<()> {
    let mut st_meta = BTreeMap::new();
    st_meta.insert("format".to_string(), "pt".to_string());
    st_meta.insert("epoch".to_string(), meta.epoch.to_string());
    let model_t = Content::Tensors(owned(model)?, Some(st_meta));
    let optim_t = Content::Tensors(owned(optim)?, None);
    let json = serde_json::to_vec_pretty(meta)
        .map_err(|e| Error::flag("checkpoint", format!("cannot encode metadata: {e}")))?;
    commit(
        dir,
        &[
            (format!("{name}.safetensors"), model_t),
            (format!("{name}.optim.safetensors"), optim_t),
            (format!("{name}.json"), Content::Bytes(json)),
        ],
    )
}

/// Reads the metadata of checkpoint `name` in `dir`, completing an interrupted commit first.
pub fn load_meta(dir: &Path, name: &str) -> Result<Meta> {
    if !dir.is_dir() {
        return Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: "run folder does not exist".into(),
        });
    }
    replay(dir)?;
    let p = paths(dir, name);
    let text = std::fs::read_to_string(&p.meta).map_err(|e| Error::Checkpoint {
        path: p.meta.clone(),
        reason: format!("no checkpoint to resume from ({e})"),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
        path: p.meta.clone(),
        reason: format!("damaged checkpoint metadata: {e}"),
    })
}
