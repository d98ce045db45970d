//! The checkpoint's record (`<name>.json`): where the run stands, what it was started with,
//! and checksums that make an edited or damaged record, or a tensor file that is not the one
//! the record was written with, an error instead of a silently different run.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::commit::hex;
use crate::amp::ScalerState;
use crate::cli::TrainArgs;
use crate::error::{Error, Result};
use crate::log::EpochMetrics;

/// The layout of [`Meta`]; a trainer refuses records of another layout by name.
pub const FORMAT: u32 = 2;

/// What a checkpoint records beside the tensors.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// The layout of this record ([`FORMAT`]).
    pub format: u32,
    /// The run's settings as its first invocation resolved them (paths absolute): what
    /// `--resume` continues, from any working directory.
    pub args: TrainArgs,
    /// That invocation's arguments as typed, for people.
    pub argv: Vec<String>,
    /// The plan file's text, as trained.
    pub plan: String,
    /// The training classes in label order and the split sizes; a resume holds the data
    /// against them, so a renamed class folder cannot swap labels silently.
    pub classes: Vec<String>,
    pub train_images: u64,
    pub val_images: u64,
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
    /// Byte lengths of lr.csv, steps.csv, metrics.csv (and skipped.csv in fp16) when this
    /// checkpoint was taken.
    pub log_lengths: Vec<u64>,
    /// `--precision fp16`: the loss scaler's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaler: Option<ScalerState>,
    /// `--ema`: the average's updates so far (its tensors are the checkpoint's weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema_updates: Option<u64>,
    /// SHA-256 of each other file of this checkpoint, by file name.
    pub files: BTreeMap<String, String>,
    /// SHA-256 of this record written with an empty `checksum`.
    pub checksum: String,
}

impl Meta {
    /// The record as written: pretty JSON with its checksum filled in.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let sealed = Meta {
            checksum: self.expected_checksum()?,
            ..self.clone()
        };
        encode(&sealed)
    }

    /// The checksum of this record's content.
    fn expected_checksum(&self) -> Result<String> {
        let open = Meta {
            checksum: String::new(),
            ..self.clone()
        };
        Ok(hex(&Sha256::digest(encode(&open)?)))
    }

    /// Reads a record, refusing another layout and any edit or damage since it was written.
    pub fn from_json(text: &str, path: &Path) -> Result<Meta> {
        let bad = |reason: String| Error::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("damaged checkpoint record: {e}")))?;
        let format = value.get("format").and_then(|f| f.as_u64());
        if format != Some(FORMAT as u64) {
            let found = format.map_or("none (an early trainer)".to_string(), |f| f.to_string());
            return Err(bad(format!(
                "written by another version of the trainer (record format {found}, this trainer \
                 reads {FORMAT}); resume it with that version or start over"
            )));
        }
        let meta: Meta = serde_json::from_value(value)
            .map_err(|e| bad(format!("damaged checkpoint record: {e}")))?;
        if meta.checksum != meta.expected_checksum()? {
            return Err(bad(
                "the record does not match its checksum: it was edited or damaged after the \
                 trainer wrote it (a run's record cannot be changed by hand)"
                    .into(),
            ));
        }
        Ok(meta)
    }

    /// Checks that `file` in `dir` is the one this record was written with.
    pub fn verify_file(&self, dir: &Path, file: &str) -> Result<()> {
        let path = dir.join(file);
        let want = self.files.get(file).ok_or_else(|| Error::Checkpoint {
            path: path.clone(),
            reason: "the checkpoint record lists no checksum for this file".into(),
        })?;
        if &super::commit::sha256_file(&path)? != want {
            return Err(Error::Checkpoint {
                path,
                reason: "does not match the checksum in the checkpoint record: it was replaced \
                         or damaged after the checkpoint was written"
                    .into(),
            });
        }
        Ok(())
    }
}

fn encode(meta: &Meta) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(meta)
        .map_err(|e| Error::flag("checkpoint", format!("cannot encode the record: {e}")))
}
