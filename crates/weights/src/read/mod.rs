//! Reading weight files into a [`StateDict`], whatever wrote them.
//!
//! The format is told from the content, never the extension: people name checkpoints
//! `.pt`, `.pth`, `.bin`, `.ckpt` or nothing at all, and torch.save itself has written
//! two different containers over the years.

mod pickle;
mod select;
mod source;
mod torch;
mod zip;

use crate::error::Error;
use crate::tensor::Tensor;
use serde::Serialize;
use source::Source;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Which container a file used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// torch.save since PyTorch 1.6: a zip archive of a pickle plus one record per storage.
    Zip,
    /// torch.save before 1.6 (or `_use_new_zipfile_serialization=False`): pickles back to
    /// back, then the storages.
    Legacy,
    /// The safetensors format: a JSON header and raw tensor bytes, no code at all.
    Safetensors,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Zip => "PyTorch zip (torch.save, 1.6+)",
            Format::Legacy => "PyTorch legacy (torch.save, before 1.6)",
            Format::Safetensors => "safetensors",
        })
    }
}

/// The tensors of a weight file, flattened to dotted keys as `model.state_dict()` names them.
#[derive(Debug, Clone)]
pub struct StateDict {
    /// In the order the file lists them.
    pub tensors: Vec<(String, Tensor)>,
    /// The checkpoint key the weights were taken from (`model`, `state_dict_ema`, ...),
    /// dotted if nested; `None` when the file is a bare state dict.
    pub entry: Option<String>,
    pub format: Format,
    /// Top-level checkpoint keys that were not loaded (`epoch`, `optimizer`, ...).
    pub skipped: Vec<String>,
    /// Other wrapper keys that also hold weights (`model_ema` next to `model`), which
    /// `ReadOptions::entry` can select instead.
    pub alternatives: Vec<String>,
    /// Free-form string metadata (safetensors `__metadata__`); empty for PyTorch files.
    pub metadata: BTreeMap<String, String>,
}

impl StateDict {
    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(k, _)| k == key).map(|(_, t)| t)
    }

    /// Total number of elements over all tensors.
    pub fn numel(&self) -> usize {
        self.tensors.iter().map(|(_, t)| t.numel()).sum()
    }
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Take the weights from this checkpoint key (dotted for nested dicts) instead of
    /// finding them automatically.
    pub entry: Option<String>,
}

/// Why a read failed, before we know which file to blame (see [`Fault::at`]).
#[derive(Debug)]
pub(crate) enum Fault {
    Format(String),
    Refused { what: &'static str, global: String },
    Entry(String),
    Io(&'static str, std::io::Error),
}

impl Fault {
    pub(crate) fn at(self, path: &Path) -> Error {
        let path = path.to_path_buf();
        match self {
            Fault::Format(reason) => Error::Format { path, reason },
            Fault::Refused { what, global } => Error::Refused { path, what, global },
            Fault::Entry(reason) => Error::Entry { path, reason },
            Fault::Io(action, error) => Error::Io {
                path,
                action,
                error,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Zip,
    Legacy,
    Safetensors,
    Pickle,
}

/// Legacy torch.save opens with a pickle of the number 0x1950a86a20f9469cfc6c, which any
/// protocol encodes as this LONG1 near the start (after PROTO, and FRAME from protocol 4).
const LEGACY_MAGIC: [u8; 12] = [
    0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

fn is_legacy(head: &[u8]) -> bool {
    head.first() == Some(&0x80) && head.windows(LEGACY_MAGIC.len()).any(|w| w == LEGACY_MAGIC)
}

fn detect(head: &[u8], len: u64) -> Result<Kind, Fault> {
    if head.is_empty() {
        return Err(Fault::Format("the file is empty".into()));
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Kind::Zip);
    }
    if is_legacy(head) {
        return Ok(Kind::Legacy);
    }
    let safetensors_like = head.len() >= 9 && head[8] == b'{';
    if safetensors_like {
        let mut n = [0u8; 8];
        n.copy_from_slice(&head[..8]);
        if u64::from_le_bytes(n)
            .checked_add(8)
            .is_some_and(|end| end <= len)
        {
            return Ok(Kind::Safetensors);
        }
    }
    if head[0] == 0x80 {
        return Ok(Kind::Pickle);
    }
    if safetensors_like {
        return Err(Fault::Format(
            "a safetensors header that claims to be longer than the file (truncated?)".into(),
        ));
    }
    if head.starts_with(b"\x93NUMPY") {
        return Err(Fault::Format(
            "a NumPy .npy array, not a PyTorch or safetensors weight file".into(),
        ));
    }
    let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err(Fault::Format(format!(
        "not a PyTorch or safetensors file: it starts with bytes {}, where torch.save writes a \
         zip archive (50 4b 03 04) or a pickle (80 02), and safetensors a length and '{{'",
        shown.join(" ")
    )))
}

/// Read a weight file (PyTorch zip or legacy, or safetensors), deciding by content.
///
/// Nothing in the file is executed: pickles naming anything but tensor rebuilding and
/// plain containers are refused with [`Error::Refused`].
pub fn read_file(path: &Path, opts: &ReadOptions) -> Result<StateDict, Error> {
    let mut file = File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot stat", e))?
        .len();
    if file
        .metadata()
        .map_err(|e| Error::io(path, "cannot stat", e))?
        .is_dir()
    {
        return Err(Error::format(path, "is a directory, not a weight file"));
    }
    let mut head = Vec::with_capacity(32);
    (&mut file)
        .take(32)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, "cannot read", e))?;
    let kind = detect(&head, len).map_err(|f| f.at(path))?;
    if kind == Kind::Zip {
        // Storages are read straight from the file into each tensor's buffer.
        let src = Source::File { file, len };
        return torch::read_zip(&src, opts).map_err(|f| f.at(path));
    }
    // The other containers are read front to back; holding the file in memory is simplest.
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, "cannot read", e))?;
    read_kind(kind, &bytes, opts).map_err(|f| f.at(path))
}

/// Read a weight file held in memory. Errors name the file `<memory>`.
pub fn read_bytes(bytes: &[u8], opts: &ReadOptions) -> Result<StateDict, Error> {
    let path = Path::new("<memory>");
    let kind = detect(&bytes[..bytes.len().min(32)], bytes.len() as u64).map_err(|f| f.at(path))?;
    read_kind(kind, bytes, opts).map_err(|f| f.at(path))
}

fn read_kind(kind: Kind, bytes: &[u8], opts: &ReadOptions) -> Result<StateDict, Fault> {
    match kind {
        Kind::Zip => torch::read_zip(&Source::Memory(bytes), opts),
        Kind::Legacy => torch::read_legacy(bytes, opts),
        Kind::Pickle => torch::read_plain_pickle(bytes),
        Kind::Safetensors => {
            if let Some(entry) = &opts.entry {
                return Err(Fault::Entry(format!(
                    "--entry {entry}: a safetensors file is a flat list of tensors with no \
                     checkpoint entries (use --strip-prefix to select by key prefix)"
                )));
            }
            crate::safetensors_io::read(bytes)
        }
    }
}
