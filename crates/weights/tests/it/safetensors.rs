//! Writing safetensors and reading them back, here and in Python.

use crate::support::{assert_same, read, run_python};
use lrplan_weights::{DType, Format, ReadOptions, Tensor, read_file, write_safetensors};
use std::collections::BTreeMap;

#[test]
fn round_trip_every_dtype_here_and_in_python() {
    let sd = read("zip_basic.pt");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.safetensors");
    let mut meta = BTreeMap::new();
    meta.insert("step".to_string(), "1200".to_string());
    write_safetensors(&path, &sd.tensors, Some(&meta)).unwrap();
    // Nothing left behind but the file itself.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);

    let back = read_file(&path, &ReadOptions::default()).unwrap();
    assert_eq!(back.format, Format::Safetensors);
    assert_eq!(back.metadata, meta);
    let mut a = sd.tensors.clone();
    let mut b = back.tensors.clone();
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(a, b);

    // Python's safetensors reads what we wrote, bit for bit.
    let json = run_python("read_safetensors.py", &[&path]);
    let theirs: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_same("python load_file", &sd.tensors, &theirs);
}

#[test]
fn writer_refuses_inconsistent_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let bad = Tensor {
        dtype: DType::F32,
        shape: vec![2, 2],
        data: vec![0; 15],
    };
    let err = write_safetensors(&path, &[("w".into(), bad)], None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.safetensors") && err.contains("'w'"),
        "{err}"
    );
    let t = Tensor::from_f32(vec![1], &[1.0]);
    let err = write_safetensors(&path, &[("w".into(), t.clone()), ("w".into(), t)], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("two tensors are named 'w'"), "{err}");
    assert!(!path.exists());
}
