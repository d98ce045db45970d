//! The library's one error type.
//!
//! Every variant renders as a single line naming the file, flag or field concerned and the
//! rule it broke, because the binary prints it as-is and exits non-zero: a person reading it
//! must know what to fix without a backtrace.

use std::path::{Path, PathBuf};

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused: missing file, permissions, full disk.
    #[error("{}: {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        /// In the message, so not a `#[source]`: `{:#}` at the binary's edge would repeat it.
        error: std::io::Error,
    },
    /// The plan file does not parse or breaks a rule of the schedule crate.
    #[error("{}: {error}", path.display())]
    Plan {
        path: PathBuf,
        /// In the message, so not a `#[source]` (see `Io`).
        error: lrplan_schedule::PlanError,
    },
    /// The data folder does not have the image-folder layout or a file cannot be used.
    #[error("{}: {reason}", path.display())]
    Data { path: PathBuf, reason: String },
    /// The plan and the data disagree (dataset size, iterations per epoch).
    #[error("plan {}: {reason}", path.display())]
    Mismatch { path: PathBuf, reason: String },
    /// Reading, matching or writing weights failed (the weights crate's message).
    #[error(transparent)]
    Weights(#[from] lrplan_weights::Error),
    /// A pretrained file whose tensors do not fit the model.
    #[error("{}: {reason}", path.display())]
    WeightsMismatch { path: PathBuf, reason: String },
    /// A command-line flag with a value that cannot work.
    #[error("{flag}: {reason}")]
    Flag { flag: &'static str, reason: String },
    /// The loss became NaN or infinite.
    #[error(
        "loss is {loss} at step {step} (epoch {epoch}, iteration {iteration}, lr {lr:e}); \
         stopped, the last good checkpoint is kept"
    )]
    NonFinite {
        step: u64,
        epoch: u32,
        iteration: u64,
        lr: f64,
        loss: f32,
    },
    /// A checkpoint or run folder that cannot be resumed from.
    #[error("{}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },
    /// A checkpoint could not be written (full disk, folder gone); the previous one is kept.
    #[error("{error}; {}", save_advice(dir, *had_checkpoint))]
    Save {
        dir: PathBuf,
        /// In the message, so not a `#[source]` (see `Io`).
        error: Box<Error>,
        /// Whether an earlier checkpoint exists to resume from.
        had_checkpoint: bool,
    },
    /// The user pressed Ctrl-C; a checkpoint was saved.
    #[error("interrupted: checkpoint saved in {}; continue with --resume {}", path.display(), path.display())]
    Interrupted { path: PathBuf },
    /// libtorch refused an operation (device, shape, memory).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

fn save_advice(dir: &Path, had_checkpoint: bool) -> String {
    let d = dir.display();
    if had_checkpoint {
        format!(
            "the previous checkpoint in {d} is intact: make room, then continue with --resume {d}"
        )
    } else {
        format!("{d} holds no checkpoint yet: make room and start the run again")
    }
}

impl Error {
    pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            action,
            error: source,
        }
    }

    pub(crate) fn data(path: &Path, reason: impl Into<String>) -> Self {
        Error::Data {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn flag(flag: &'static str, reason: impl Into<String>) -> Self {
        Error::Flag {
            flag,
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
