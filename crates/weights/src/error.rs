//! The crate's one error type.
//!
//! Every message names the file (or the flag) it is about and says what is wrong with it,
//! because these errors end up as a single line on a terminal, read by someone who has to
//! decide whether the file is damaged, hostile, or just not what they thought it was.

use std::path::{Path, PathBuf};

/// Everything that can go wrong reading, matching or writing weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused: missing file, permissions, full disk.
    #[error("{}: {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        /// In the message, so not a `#[source]`: `{:#}` at the binary's edge would repeat it.
        error: std::io::Error,
    },

    /// The content is not a weight file this crate understands, or is damaged.
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },

    /// The pickle asks for something other than rebuilding tensors and plain containers.
    /// Python would import and call it; we refuse instead, because that is how a weight
    /// file runs code on the machine that loads it.
    #[error(
        "{}: refused: the pickle {what} `{global}`, which is not a tensor rebuild or a plain \
         container (loading it in Python could run code); re-save the weights with \
         torch.save(model.state_dict()) or as safetensors",
        path.display()
    )]
    Refused {
        path: PathBuf,
        /// How the pickle uses it ("calls", "builds an object of").
        what: &'static str,
        /// `module.name`, as the pickle spells it.
        global: String,
    },

    /// `--entry NAME` (or the automatic choice) does not lead to a dict of tensors.
    #[error("{}: {reason}", path.display())]
    Entry { path: PathBuf, reason: String },

    /// A writer was handed tensors that cannot be stored as they are.
    #[error("{}: cannot write: {reason}", path.display())]
    Write { path: PathBuf, reason: String },

    /// A command-line style option (`--rename`, `--strip-prefix`) is malformed.
    #[error("{flag} {value:?}: {reason}")]
    Option {
        flag: &'static str,
        value: String,
        reason: String,
    },
}

impl Error {
    pub(crate) fn format(path: &Path, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            action,
            error: source,
        }
    }
}
