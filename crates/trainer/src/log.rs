//! The run folder's CSV logs.
//!
//! * `lr.csv`: exactly the schedule table's format (`table::CSV_HEADER`, rows written by
//!   `Step::write_csv`), with the lr read back from the optimizer's group 0, so the file can
//!   be diffed against the planner page's export.
//! * `steps.csv`: `step,epoch,iteration,lr,loss`, one row per optimizer step.
//! * `metrics.csv`: `epoch,lr,train_loss,val_loss,val_acc,seconds`, one row per epoch.
//! * `skipped.csv` (`--precision fp16` only): `step,epoch,iteration,scale`, one row per step
//!   the loss scaler skipped, with the scale its gradients overflowed at.
//!
//! A checkpoint records the byte length of each log; resuming truncates them to it, so rows
//! written after the checkpoint by a killed run are not duplicated.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use lrplan_schedule::{Step, table::CSV_HEADER};

use crate::error::{Error, Result};

pub const LR: &str = "lr.csv";
pub const STEPS: &str = "steps.csv";
pub const METRICS: &str = "metrics.csv";
pub const SKIPPED: &str = "skipped.csv";
/// Every log in order; the last only in fp16 runs.
const HEADERS: [(&str, &str); 4] = [
    (LR, CSV_HEADER),
    (STEPS, "step,epoch,iteration,lr,loss"),
    (METRICS, "epoch,lr,train_loss,val_loss,val_acc,seconds"),
    (SKIPPED, "step,epoch,iteration,scale"),
];

/// Per-epoch results, kept in the checkpoint so charts and `best` survive a resume.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    pub epoch: u32,
    pub lr: f64,
    /// NaN when every step of the epoch was skipped (fp16).
    #[serde(with = "nan_as_null")]
    pub train_loss: f64,
    /// NaN without validation (`--no-val`).
    #[serde(with = "nan_as_null")]
    pub val_loss: f64,
    #[serde(with = "nan_as_null")]
    pub val_acc: f64,
    pub seconds: f64,
}

/// JSON has no NaN: serde_json writes it as `null` and then cannot read it back as a number.
/// A metric that was not measured is `null` in the record and NaN in memory.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_f64(*x)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

pub struct Logs {
    files: Vec<(PathBuf, BufWriter<File>)>,
}

impl Logs {
    /// Fresh logs with their headers (existing files are replaced); `skipped.csv` with
    /// `skips` (a run with a loss scaler).
    pub fn create(dir: &Path, skips: bool) -> Result<Logs> {
        let mut files = Vec::new();
        let count = if skips { 4 } else { 3 };
        for (name, header) in HEADERS.into_iter().take(count) {
            let path = dir.join(name);
            let f = File::create(&path).map_err(|e| Error::io(&path, "create", e))?;
            let mut w = BufWriter::new(f);
            writeln!(w, "{header}").map_err(|e| Error::io(&path, "write", e))?;
            files.push((path, w));
        }
        Ok(Logs { files })
    }

    /// No files: the logs of a data-parallel rank other than 0, which writes nothing (rank 0
    /// logs the run).
    pub fn none() -> Logs {
        Logs { files: Vec::new() }
    }

    /// Reopens the logs of a run for appending after truncating them to `lengths` (one per
    /// log the run has).
    pub fn resume(dir: &Path, lengths: &[u64]) -> Result<Logs> {
        let mut files = Vec::new();
        for ((name, _), &len) in HEADERS.iter().zip(lengths) {
            let path = dir.join(name);
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, "open for resuming", e))?;
            let found = f
                .metadata()
                .map_err(|e| Error::io(&path, "open for resuming", e))?
                .len();
            if found < len {
                return Err(Error::Checkpoint {
                    path,
                    reason: format!(
                        "holds {found} bytes but the checkpoint recorded {len}: the log was cut \
                         short after the checkpoint was written"
                    ),
                });
            }
            f.set_len(len)
                .map_err(|e| Error::io(&path, "truncate to the checkpoint", e))?;
            let mut w = BufWriter::new(f);
            w.seek(std::io::SeekFrom::End(0))
                .map_err(|e| Error::io(&path, "seek", e))?;
            files.push((path, w));
        }
        Ok(Logs { files })
    }

    /// Flushes and returns each log's length, for the checkpoint.
    pub fn lengths(&mut self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for (path, w) in &mut self.files {
            w.flush().map_err(|e| Error::io(path, "write", e))?;
            let len = w
                .get_mut()
                .stream_position()
                .map_err(|e| Error::io(path, "seek", e))?;
            out.push(len);
        }
        Ok(out)
    }

    fn write(&mut self, i: usize, line: &str) -> Result<()> {
        let Some((path, w)) = self.files.get_mut(i) else {
            return Ok(()); // Logs::none
        };
        w.write_all(line.as_bytes())
            .map_err(|e| Error::io(path, "write", e))
    }

    /// One `lr.csv` row: the schedule's step with the lr the optimizer applied.
    pub fn lr_row(&mut self, step: Step, applied_lr: f64) -> Result<()> {
        let mut line = String::new();
        Step {
            lr: applied_lr,
            ..step
        }
        .write_csv(&mut line);
        self.write(0, &line)
    }

    pub fn step_row(
        &mut self,
        step: u64,
        epoch: u32,
        iteration: u64,
        lr: f64,
        loss: f64,
    ) -> Result<()> {
        self.write(1, &format!("{step},{epoch},{iteration},{lr:e},{loss}\n"))
    }

    /// One `skipped.csv` row: the step the loss scaler skipped and the scale it was at.
    pub fn skipped_row(&mut self, step: u64, epoch: u32, iteration: u64, scale: f32) -> Result<()> {
        self.write(3, &format!("{step},{epoch},{iteration},{scale}\n"))
    }

    pub fn metrics_row(&mut self, m: &EpochMetrics) -> Result<()> {
        self.write(
            2,
            &format!(
                "{},{:e},{},{},{},{:.3}\n",
                m.epoch, m.lr, m.train_loss, m.val_loss, m.val_acc, m.seconds
            ),
        )
    }
}
