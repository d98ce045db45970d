//! The two containers torch.save writes, and turning their strided views into tensors.
//!
//! Both hold a pickle that describes every tensor as a view (offset, shape, strides) of a
//! storage, with the storages' bytes kept outside the pickle. The containers differ only
//! in where those bytes are, so each one here just builds a map from storage key to byte
//! range and hands over to the shared code that selects the weights and copies them out.

use super::pickle::{Arena, StorageRef, Unpickled, Value, unpickle};
use super::select::{Selected, select};
use super::source::Source;
use super::zip::{Archive, Entry, check_crc};
use super::{Fault, Format, ReadOptions, StateDict};
use crate::dtype::{DType, TorchType};
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// Where a storage's bytes are in the file.
struct Located {
    offset: u64,
    len: u64,
    /// For zip records: the checksum to verify when the whole record is read.
    entry: Option<Entry>,
}

/// Resolves the `('storage', type, key, location, numel, ...)` persistent ids torch.save
/// writes. The location (`cpu`, `cuda:0`) is deliberately ignored: bytes are bytes, and
/// we read them on whatever machine we are on.
#[derive(Default)]
struct Storages {
    by_key: HashMap<String, Rc<StorageRef>>,
    /// Storages of a dtype this reader does not read: key to (count, bytes per count),
    /// so that the legacy format's storages after them can still be found.
    unread: HashMap<String, (u64, u64)>,
}

impl Storages {
    fn load(&mut self, pid: &Value, arena: &Arena, legacy: bool) -> Result<Value, Fault> {
        let fields = storage_fields(pid, arena)?;
        let [storage_type, key, location, numel, view @ ..] = fields else {
            return Err(Fault::Format("storage reference has too few fields".into()));
        };
        let element = element_type(storage_type)?;
        let key = match key {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            _ => return Err(Fault::Format("storage key is not a string".into())),
        };
        if !matches!(location, Value::Str(_)) {
            return Err(Fault::Format(format!(
                "storage '{key}' has a location that is not a string"
            )));
        }
        let numel = match numel {
            Value::Int(n) if *n >= 0 => *n as u64,
            _ => {
                return Err(Fault::Format(format!(
                    "storage '{key}' has an invalid size"
                )));
            }
        };
        if legacy && view.first().is_some_and(|v| !matches!(v, Value::None)) {
            return Err(Fault::Format(format!(
                "storage '{key}' is a storage view, written only by PyTorch before 1.0; \
                 load and re-save the file with a current PyTorch"
            )));
        }
        match element {
            TorchType::Read(dtype) => self.record(key, dtype, numel),
            TorchType::Unread(name) => {
                self.unread.insert(key, (numel, unread_element_size(name)));
                // Its tensors are named in the error if they are among the weights.
                Ok(Value::Unreadable(Rc::from(name)))
            }
        }
    }

    /// The element count and bytes per element of a storage, read or not.
    fn size(&self, key: &str) -> Option<(u64, u64)> {
        match self.by_key.get(key) {
            Some(s) => Some((s.numel, s.dtype.size() as u64)),
            None => self.unread.get(key).copied(),
        }
    }

    /// The one record of a storage, however many times the pickle names it.
    fn record(&mut self, key: String, dtype: DType, numel: u64) -> Result<Value, Fault> {
        if let Some(prev) = self.by_key.get(&key) {
            if prev.dtype != dtype || prev.numel != numel {
                return Err(Fault::Format(format!(
                    "storage '{key}' is described twice, differently"
                )));
            }
            return Ok(Value::Storage(prev.clone()));
        }
        let s = Rc::new(StorageRef {
            key: key.clone(),
            dtype,
            numel,
        });
        self.by_key.insert(key, s.clone());
        Ok(Value::Storage(s))
    }
}

/// The fields after the `'storage'` tag of a persistent id.
fn storage_fields<'a>(pid: &Value, arena: &'a Arena) -> Result<&'a [Value], Fault> {
    let Value::Tuple(id) = pid else {
        return Err(Fault::Format(format!(
            "persistent id is a {}, not a storage tuple",
            pid.type_name()
        )));
    };
    let fields = arena.items(*id);
    match fields.first() {
        Some(Value::Str(tag)) if tag.as_ref() == "storage" => Ok(&fields[1..]),
        Some(Value::Str(tag)) if tag.as_ref() == "module" => Err(Fault::Format(
            "saves a whole nn.Module (torch.save(model)), whose loading runs the model's \
             Python code; save model.state_dict() instead"
                .into(),
        )),
        _ => Err(Fault::Format(
            "persistent id is not a storage reference".into(),
        )),
    }
}

/// What a storage class holds. `UntypedStorage` holds bytes that `_rebuild_tensor_v3`
/// types; torch writes those only for dtypes this reader does not read.
fn element_type(storage_type: &Value) -> Result<TorchType, Fault> {
    let Value::Global(g) = storage_type else {
        return Err(Fault::Format(
            "storage type is not a torch storage class".into(),
        ));
    };
    match (g.0.as_str(), g.1.as_str()) {
        ("torch" | "torch.storage", "UntypedStorage") => Ok(TorchType::Unread("untyped")),
        ("torch", name) => TorchType::from_storage_class(name).ok_or_else(|| {
            Fault::Format(format!(
                "storage of type torch.{name}, which is not a torch storage class"
            ))
        }),
        _ => Err(Fault::Format(
            "storage type is not a torch storage class".into(),
        )),
    }
}

/// Bytes per element of the storage types [`element_type`] knows but does not read.
/// `UntypedStorage` counts bytes; the quantized types other than qint32 are one byte.
fn unread_element_size(name: &str) -> u64 {
    match name {
        "complex128" => 16,
        "complex64" => 8,
        "qint32" => 4,
        _ => 1,
    }
}

/// A pickle with no storages: nothing to load, but it is still run through the restricted
/// unpickler first so that a hostile one is reported as hostile, not merely as unreadable.
pub(crate) fn read_plain_pickle(bytes: &[u8]) -> Result<StateDict, Fault> {
    unpickle(bytes, 0, None)?;
    Err(Fault::Format(
        "a plain pickle with no tensor storages: not a torch.save file".into(),
    ))
}

pub(crate) fn read_zip(src: &Source, opts: &ReadOptions) -> Result<StateDict, Fault> {
    let archive = Archive::open(src)?;
    let root = archive
        .entries
        .iter()
        .filter_map(|e| e.name.strip_suffix("data.pkl"))
        .filter(|r| r.is_empty() || r.ends_with('/'))
        .min_by_key(|r| r.len())
        .map(str::to_string)
        .ok_or_else(|| {
            Fault::Format("a zip archive without data.pkl: not a torch.save file".into())
        })?;
    if let Some(e) = archive.get(&format!("{root}byteorder")) {
        let order = archive.read(src, e)?;
        if order.trim_ascii() == b"big" {
            return Err(Fault::Format(
                "saved on a big-endian machine; only little-endian files are supported".into(),
            ));
        }
    }
    let pkl_entry = archive
        .get(&format!("{root}data.pkl"))
        .ok_or_else(|| Fault::Format("data.pkl vanished".into()))?;
    let pkl = archive.read(src, pkl_entry)?;

    let mut storages = Storages::default();
    let mut load = |pid: &Value, arena: &Arena| storages.load(pid, arena, false);
    let Unpickled {
        root: value, arena, ..
    } = unpickle(&pkl, 0, Some(&mut load))?;

    let locate = |key: &str| -> Result<Located, Fault> {
        let name = format!("{root}data/{key}");
        let entry = archive.get(&name).ok_or_else(|| {
            Fault::Format(format!(
                "the pickle refers to storage '{key}' but the archive has no record '{name}' \
                 (damaged or incomplete file)"
            ))
        })?;
        let (offset, len) = archive.data_range(src, entry)?;
        Ok(Located {
            offset,
            len,
            entry: Some(entry.clone()),
        })
    };
    finish(src, &arena, &value, opts, Format::Zip, &locate)
}

pub(crate) fn read_legacy(bytes: &[u8], opts: &ReadOptions) -> Result<StateDict, Fault> {
    let header_end = legacy_header(bytes)?;
    let mut storages = Storages::default();
    let main = {
        let mut load = |pid: &Value, arena: &Arena| storages.load(pid, arena, true);
        unpickle(bytes, header_end, Some(&mut load))?
    };
    let keys = unpickle(bytes, main.end, None)?;
    let Value::List(keys_id) = keys.root else {
        return Err(Fault::Format("legacy storage key list is missing".into()));
    };
    let ranges = legacy_ranges(bytes, keys.end, keys.arena.items(keys_id), &storages)?;
    let locate = |key: &str| -> Result<Located, Fault> {
        let &(offset, len) = ranges.get(key).ok_or_else(|| {
            Fault::Format(format!(
                "storage '{key}' is not in the file's storage list (damaged file)"
            ))
        })?;
        Ok(Located {
            offset,
            len,
            entry: None,
        })
    };
    finish(
        &Source::Memory(bytes),
        &main.arena,
        &main.root,
        opts,
        Format::Legacy,
        &locate,
    )
}

/// The three pickles a legacy file opens with (magic number, protocol version, system
/// info), checked; returns where the main pickle starts.
fn legacy_header(bytes: &[u8]) -> Result<usize, Fault> {
    let magic = unpickle(bytes, 0, None)?;
    let version = unpickle(bytes, magic.end, None)?;
    if !matches!(version.root, Value::Int(1001)) {
        return Err(Fault::Format(
            "legacy torch.save header with an unknown protocol version".into(),
        ));
    }
    let sys_info = unpickle(bytes, version.end, None)?;
    if let Value::Dict(id) = sys_info.root {
        if matches!(
            sys_info.arena.dict(id).get_str("little_endian"),
            Some(Value::Bool(false))
        ) {
            return Err(Fault::Format(
                "saved on a big-endian machine; only little-endian files are supported".into(),
            ));
        }
    }
    Ok(sys_info.end)
}

/// Where each storage's bytes are: they follow the key list in its order, each an i64
/// element count and then its bytes.
fn legacy_ranges(
    bytes: &[u8],
    start: usize,
    keys: &[Value],
    storages: &Storages,
) -> Result<HashMap<String, (u64, u64)>, Fault> {
    let mut ranges = HashMap::new();
    let mut at = start as u64;
    let len = bytes.len() as u64;
    for k in keys {
        let Value::Str(k) = k else {
            return Err(Fault::Format("legacy storage key is not a string".into()));
        };
        let (numel, size) = storages.size(k).ok_or_else(|| {
            Fault::Format(format!(
                "legacy storage '{k}' is listed but never described"
            ))
        })?;
        let count = legacy_count(bytes, at).ok_or_else(|| {
            Fault::Format(format!("the file ends before storage '{k}' (truncated?)"))
        })?;
        if u64::try_from(count).ok() != Some(numel) {
            return Err(Fault::Format(format!(
                "legacy storage '{k}' holds {count} elements but the pickle says {numel}"
            )));
        }
        let nbytes = numel.saturating_mul(size);
        let start = at + 8;
        let end = start.saturating_add(nbytes);
        if end > len {
            return Err(Fault::Format(format!(
                "storage '{k}' ({nbytes} bytes) runs past the end of the file (truncated?)"
            )));
        }
        ranges.insert(k.to_string(), (start, nbytes));
        at = end;
    }
    Ok(ranges)
}

/// The i64 element count in front of a legacy storage's bytes.
fn legacy_count(bytes: &[u8], at: u64) -> Option<i64> {
    let at = usize::try_from(at).ok()?;
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(i64::from_le_bytes(a))
}

/// Select the weights, then copy each tensor out of its storage.
fn finish(
    src: &Source,
    arena: &Arena,
    root: &Value,
    opts: &ReadOptions,
    format: Format,
    locate: &dyn Fn(&str) -> Result<Located, Fault>,
) -> Result<StateDict, Fault> {
    let Selected {
        tensors: refs,
        entry,
        skipped,
        alternatives,
    } = select(arena, root, opts.entry.as_deref())?;

    // Views may overlap (expand() has stride 0), so a small file can describe huge
    // tensors. No real checkpoint materializes to more than a few times its size.
    let budget = src.len().saturating_mul(4).saturating_add(256 << 20);
    let mut spent = 0u64;
    let mut jobs = Vec::with_capacity(refs.len());
    let mut located: HashMap<String, Located> = HashMap::new();
    for (index, (key, t)) in refs.iter().enumerate() {
        let numel = t.shape.iter().product::<usize>();
        let nbytes = (numel as u64).saturating_mul(t.storage.dtype.size() as u64);
        spent = spent.saturating_add(nbytes);
        if spent > budget {
            return Err(Fault::Format(format!(
                "tensor '{key}' would bring the total to {spent} bytes, far more than the file \
                 holds ({} bytes): its views overlap more than any checkpoint does",
                src.len()
            )));
        }
        if numel > 0 && !located.contains_key(&t.storage.key) {
            let loc = storage_location(&t.storage, locate).map_err(|f| in_tensor(key, f))?;
            located.insert(t.storage.key.clone(), loc);
        }
        jobs.push(Job {
            index,
            storage: t.storage.key.clone(),
            dtype: t.storage.dtype,
            whole: is_contiguous(&t.shape, &t.stride)
                && t.offset == 0
                && numel as u64 == t.storage.numel,
            offset: t.offset,
            shape: t.shape.clone(),
            stride: t.stride.clone(),
            numel,
        });
    }

    let mut data = copy_out(src, &located, jobs)
        .into_iter()
        .map(|(i, r)| r.map_err(|f| in_tensor(&refs[i].0, f)))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let tensors = refs
        .iter()
        .map(|(key, t)| {
            let bytes = data.next().unwrap_or_default();
            (
                key.clone(),
                Tensor {
                    dtype: t.storage.dtype,
                    shape: t.shape.clone(),
                    data: bytes,
                },
            )
        })
        .collect();
    Ok(StateDict {
        tensors,
        entry,
        format,
        skipped,
        alternatives,
        metadata: BTreeMap::new(),
    })
}

fn in_tensor(key: &str, f: Fault) -> Fault {
    match f {
        Fault::Format(m) => Fault::Format(format!("tensor '{key}': {m}")),
        other => other,
    }
}

/// One tensor to copy out of its storage, as plain data that can cross threads.
struct Job {
    index: usize,
    storage: String,
    dtype: DType,
    /// The tensor is its whole storage, so its bytes can be read straight into place.
    whole: bool,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
    numel: usize,
}

type Copied = Vec<(usize, Result<Vec<u8>, Fault>)>;

/// Copy every tensor out, results in job order. A storage shared by several views (a
/// weight and its transpose, slices of one buffer) is read once.
///
/// This stays on one thread on purpose: the cost is the kernel handing out fresh pages
/// for the weights, and on the machines measured (see `bench/read_vs_torch.sh`) several
/// threads faulting at once were slower, not faster.
fn copy_out(src: &Source, located: &HashMap<String, Located>, jobs: Vec<Job>) -> Copied {
    let mut groups: BTreeMap<&str, Vec<&Job>> = BTreeMap::new();
    for j in &jobs {
        groups.entry(j.storage.as_str()).or_default().push(j);
    }
    let mut results: Copied = groups
        .values()
        .flat_map(|g| copy_group(src, located, g))
        .collect();
    results.sort_by_key(|(i, _)| *i);
    results
}

/// The tensors of one storage.
fn copy_group(src: &Source, located: &HashMap<String, Located>, group: &[&Job]) -> Copied {
    let mut storage: Option<Result<Vec<u8>, Fault>> = None;
    group
        .iter()
        .map(|j| {
            let r = (|| {
                if j.numel == 0 {
                    return Ok(Vec::new());
                }
                let loc = located
                    .get(&j.storage)
                    .ok_or_else(|| Fault::Format(format!("storage '{}' not located", j.storage)))?;
                let mut data = if j.whole {
                    // The common case: one read, straight into the tensor's buffer.
                    read_storage(src, &j.storage, loc)?
                } else {
                    let bytes = storage.get_or_insert_with(|| read_storage(src, &j.storage, loc));
                    match bytes {
                        Ok(b) => gather(b, j.offset, &j.shape, &j.stride, j.numel, j.dtype.size())?,
                        Err(f) => return Err(clone_fault(f)),
                    }
                };
                if j.dtype == DType::Bool {
                    for b in &mut data {
                        *b = u8::from(*b != 0);
                    }
                }
                Ok(data)
            })();
            (j.index, r)
        })
        .collect()
}

fn clone_fault(f: &Fault) -> Fault {
    match f {
        Fault::Format(m) => Fault::Format(m.clone()),
        Fault::Entry(m) => Fault::Entry(m.clone()),
        Fault::Refused { what, global } => Fault::Refused {
            what,
            global: global.clone(),
        },
        Fault::Io(action, e) => Fault::Io(action, std::io::Error::new(e.kind(), e.to_string())),
    }
}

fn read_storage(src: &Source, key: &str, loc: &Located) -> Result<Vec<u8>, Fault> {
    let bytes = src.read_vec(loc.offset, loc.len, &format!("storage '{key}'"))?;
    if let Some(e) = &loc.entry {
        check_crc(e, &bytes)?;
    }
    Ok(bytes)
}

/// Row-major with no gaps, ignoring strides of size-1 dimensions as PyTorch does.
fn is_contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}

fn storage_location(
    s: &StorageRef,
    locate: &dyn Fn(&str) -> Result<Located, Fault>,
) -> Result<Located, Fault> {
    let loc = locate(&s.key)?;
    let want = s.numel.saturating_mul(s.dtype.size() as u64);
    if loc.len != want {
        return Err(Fault::Format(format!(
            "storage '{}' holds {} bytes but the pickle declares {} {} elements ({want} bytes)",
            s.key, loc.len, s.numel, s.dtype
        )));
    }
    Ok(loc)
}

/// Copy a strided view out of its storage into row-major order. The view was checked
/// against the storage's size when the pickle was read; indexing is checked again anyway.
fn gather(
    storage: &[u8],
    offset: usize,
    shape: &[usize],
    stride: &[usize],
    numel: usize,
    es: usize,
) -> Result<Vec<u8>, Fault> {
    let out_of_range = || Fault::Format("view reaches outside its storage".into());
    if is_contiguous(shape, stride) {
        let start = offset.checked_mul(es).ok_or_else(out_of_range)?;
        let end = numel
            .checked_mul(es)
            .and_then(|n| n.checked_add(start))
            .ok_or_else(out_of_range)?;
        return storage
            .get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or_else(out_of_range);
    }
    let mut out = Vec::with_capacity(numel * es);
    let rank = shape.len();
    // rank >= 1 here: a scalar is always contiguous.
    let (inner_len, inner_stride) = (shape[rank - 1], stride[rank - 1]);
    let outer = &shape[..rank - 1];
    let mut index = vec![0usize; outer.len()];
    loop {
        let base = offset
            + index
                .iter()
                .zip(stride)
                .map(|(&i, &s)| i * s)
                .sum::<usize>();
        for k in 0..inner_len {
            let at = (base + k * inner_stride) * es;
            out.extend_from_slice(storage.get(at..at + es).ok_or_else(out_of_range)?);
        }
        // Advance the odometer over the outer dimensions.
        let mut d = outer.len();
        loop {
            if d == 0 {
                return Ok(out);
            }
            d -= 1;
            index[d] += 1;
            if index[d] < outer[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(
        offset: usize,
        shape: Vec<usize>,
        stride: Vec<usize>,
    ) -> (usize, Vec<usize>, Vec<usize>) {
        (offset, shape, stride)
    }

    fn gather_view(storage: &[u8], v: &(usize, Vec<usize>, Vec<usize>), numel: usize) -> Vec<u8> {
        gather(storage, v.0, &v.1, &v.2, numel, 1).unwrap()
    }

    #[test]
    fn gathers_transpose_and_expand() {
        let storage: Vec<u8> = (0..12).collect();
        // 3x4 row-major, transposed to 4x3.
        let t = view(0, vec![4, 3], vec![1, 4]);
        assert_eq!(
            gather_view(&storage, &t, 12),
            vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
        );
        let e = view(2, vec![2, 3], vec![0, 1]);
        assert_eq!(gather_view(&storage, &e, 6), vec![2, 3, 4, 2, 3, 4]);
        let s = view(5, vec![2, 2], vec![2, 1]);
        assert_eq!(gather_view(&storage, &s, 4), vec![5, 6, 7, 8]);
    }

    #[test]
    fn contiguity_ignores_unit_dims() {
        assert!(is_contiguous(&[3, 1, 4], &[4, 99, 1]));
        assert!(!is_contiguous(&[4, 3], &[1, 4]));
        assert!(is_contiguous(&[], &[]));
    }
}
