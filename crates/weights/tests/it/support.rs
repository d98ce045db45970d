//! Shared fixtures: the Python script runs once per test binary, into a temp directory.

use lrplan_weights::{ReadOptions, StateDict, Tensor, read_file};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The interpreter with torch: `LRPLAN_PYTHON`, else the workspace's `.venv`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LRPLAN_PYTHON") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}

pub fn support_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// Run a support script with the venv's Python; fail (never skip) when it is missing.
pub fn run_python(script: &str, args: &[&Path]) -> String {
    let py = python();
    let out = Command::new(&py)
        .arg(support_script(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "these tests need Python with torch, numpy and safetensors, but {} could not \
                 be run ({e}); create the venv at <workspace>/.venv or set LRPLAN_PYTHON",
                py.display()
            )
        });
    assert!(
        out.status.success(),
        "{} {script} failed (is torch installed in it? set LRPLAN_PYTHON to one that has \
         torch, numpy and safetensors):\n{}",
        py.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Fixtures {
    dir: tempfile::TempDir,
    expected: Value,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("weights-fixtures-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("temp dir");
        run_python("make_fixtures.py", &[dir.path()]);
        let text = std::fs::read_to_string(dir.path().join("expected.json")).unwrap();
        let expected = serde_json::from_str(&text).unwrap();
        Fixtures { dir, expected }
    })
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().dir.path().join(name)
}

pub fn read(name: &str) -> StateDict {
    read_file(&fixture(name), &ReadOptions::default())
        .unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare tensors against `{key: {dtype, shape, hex}}` JSON, bit for bit and in order.
pub fn assert_same(what: &str, tensors: &[(String, Tensor)], expected: &Value) {
    let expected = expected.as_object().expect("expected is an object");
    let ours: Vec<&str> = tensors.iter().map(|(k, _)| k.as_str()).collect();
    let theirs: Vec<&str> = expected.keys().map(String::as_str).collect();
    let mut ours_sorted = ours.clone();
    ours_sorted.sort();
    let mut theirs_sorted = theirs.clone();
    theirs_sorted.sort();
    assert_eq!(ours_sorted, theirs_sorted, "{what}: key sets differ");
    for (k, t) in tensors {
        let e = &expected[k];
        assert_eq!(t.dtype.name(), e["dtype"], "{what}: dtype of {k}");
        let shape: Vec<usize> = serde_json::from_value(e["shape"].clone()).unwrap();
        assert_eq!(t.shape, shape, "{what}: shape of {k}");
        assert_eq!(
            hex(&t.data),
            e["hex"].as_str().unwrap(),
            "{what}: values of {k}"
        );
    }
}

/// As [`assert_same`] against what torch read from the fixture, and in torch's order.
pub fn assert_matches_torch(name: &str, sd: &StateDict) {
    let expected = &fixtures().expected[name];
    assert!(expected.is_object(), "no expectations for {name}");
    assert_same(name, &sd.tensors, &expected["tensors"]);
    let order: Vec<&str> = sd.tensors.iter().map(|(k, _)| k.as_str()).collect();
    let torch_order: Vec<&str> = expected["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(order, torch_order, "{name}: keys not in file order");
}
