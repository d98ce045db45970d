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
    Flag { flag: String, reason: String },
    /// The loss became NaN or infinite; or, in fp16 (`scale`), the gradients were not finite
    /// even at a loss scale of 1, which the scaler cannot go below to any use. Epochs and
    /// iterations are counted from 1, as the progress lines count them.
    #[error(
        "{} at step {step} (epoch {}, iteration {}, lr {lr:e}); stopped without saving, {}",
        match scale {
            None => format!("loss is {loss}"),
            Some(s) => format!(
                "fp16 gradients are not finite even at loss scale {s} (loss {loss}): the loss \
                 scaler cannot recover"
            ),
        },
        epoch + 1,
        iteration + 1,
        if *had_checkpoint {
            "the last good checkpoint is kept"
        } else {
            "no checkpoint had been written yet"
        }
    )]
    NonFinite {
        step: u64,
        epoch: u32,
        iteration: u64,
        lr: f64,
        loss: f32,
        /// The loss scale of an fp16 step whose scaler gave up.
        scale: Option<f32>,
        /// Whether the run folder holds a checkpoint from before this step.
        had_checkpoint: bool,
    },
    /// A fresh run aimed at a folder that holds one.
    #[error("{}: already holds a run ({}); {}", path.display(), found.join(", "), run_exists_advice(path, *resumable))]
    RunExists {
        path: PathBuf,
        found: Vec<String>,
        /// Whether it has a checkpoint to continue from.
        resumable: bool,
    },
    /// Another trainer holds the run folder's lock.
    #[error(
        "{}: another trainer is using this run folder ({holder}); wait for it to end or stop \
         it, then resume",
        path.display()
    )]
    RunLocked { path: PathBuf, holder: String },
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
    /// libtorch refused an operation asked through the C++ shim (its exception's message).
    #[error("libtorch: {0}")]
    Libtorch(String),
    /// A model file that cannot be trained: not TorchScript, no parameters, the wrong output.
    #[error("{}: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
    /// Another rank of a data-parallel job stopped or was lost (`what` names it), so this
    /// one stops too; `out` is the run folder to resume.
    #[error("{}", crate::distributed::stopping_too(what, out.as_deref()))]
    Peer { what: String, out: Option<PathBuf> },
}

fn run_exists_advice(dir: &Path, resumable: bool) -> String {
    let d = dir.display();
    let over = format!("start over with --start-over (the old run is moved to {d}.previous-N)");
    if resumable {
        format!("continue it with --resume {d}, or {over}")
    } else {
        format!("it has no checkpoint to continue from; {over}")
    }
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

    /// Completes a [`Error::NonFinite`] with whether the run folder holds a checkpoint.
    pub(crate) fn checkpoint_kept(self, kept: bool) -> Self {
        match self {
            Error::NonFinite {
                step,
                epoch,
                iteration,
                lr,
                loss,
                scale,
                ..
            } => Error::NonFinite {
                step,
                epoch,
                iteration,
                lr,
                loss,
                scale,
                had_checkpoint: kept,
            },
            e => e,
        }
    }

    pub(crate) fn flag(flag: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Flag {
            flag: flag.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
