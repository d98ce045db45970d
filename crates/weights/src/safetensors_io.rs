//! safetensors reading and writing.
//!
//! The trainer writes its checkpoints in this format because it holds nothing but a JSON
//! header and raw bytes: reading one can never run code, and any tool (Python's
//! `safetensors.torch.load_file`, this crate) reads it back without a pickle in sight.

use crate::dtype::{DType, unsupported};
use crate::error::Error;
use crate::read::{Fault, Format, StateDict};
use crate::tensor::Tensor;
use safetensors::tensor::{Metadata, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub(crate) fn read(bytes: &[u8]) -> Result<StateDict, Fault> {
    let (n, metadata): (usize, Metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Fault::Format(format!("damaged safetensors file: {e}")))?;
    let data_start = 8 + n;
    let mut tensors = Vec::new();
    for name in metadata.offset_keys() {
        let Some(info) = metadata.info(&name) else {
            continue;
        };
        let dtype = DType::from_safetensors(info.dtype)
            .ok_or_else(|| Fault::Format(unsupported(&name, &info.dtype.to_string())))?;
        let (start, end) = info.data_offsets;
        let data = data_start
            .checked_add(start)
            .zip(data_start.checked_add(end))
            .and_then(|(s, e)| bytes.get(s..e))
            .ok_or_else(|| Fault::Format(format!("tensor '{name}' lies outside the file")))?;
        tensors.push((
            name.clone(),
            Tensor {
                dtype,
                shape: info.shape.clone(),
                data: data.to_vec(),
            },
        ));
    }
    let metadata = metadata
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(StateDict {
        tensors,
        entry: None,
        format: Format::Safetensors,
        skipped: Vec::new(),
        alternatives: Vec::new(),
        metadata,
    })
}

struct TensorView<'a>(&'a Tensor);

impl View for TensorView<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        self.0.dtype.to_safetensors()
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0.data)
    }
    fn data_len(&self) -> usize {
        self.0.data.len()
    }
}

/// Save tensors as a safetensors file, with optional string metadata (step, config, ...).
///
/// The file is written next to its destination and renamed into place, so a crash or a
/// full disk mid-write leaves the previous checkpoint intact rather than a torn one.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<(), Error> {
    let write_err = |reason: String| Error::Write {
        path: path.to_path_buf(),
        reason,
    };
    let mut names = HashSet::new();
    for (name, t) in tensors {
        if !names.insert(name.as_str()) {
            return Err(write_err(format!("two tensors are named '{name}'")));
        }
        if t.data.len() != t.nbytes() {
            return Err(write_err(format!(
                "tensor '{name}' has {} bytes of data but its shape {:?} of {} needs {}",
                t.data.len(),
                t.shape,
                t.dtype,
                t.nbytes()
            )));
        }
    }
    let info: Option<HashMap<String, String>> =
        metadata.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());

    let tmp = partial_path(path);
    let result = safetensors::serialize_to_file(
        tensors.iter().map(|(n, t)| (n.as_str(), TensorView(t))),
        info,
        &tmp,
    )
    .map_err(|e| write_err(e.to_string()))
    .and_then(|()| {
        // On disk before it replaces anything, or a crash could leave an empty file.
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&tmp, "cannot sync", e))
    })
    .and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, "cannot move into place", e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "weights".into());
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}
