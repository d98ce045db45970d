//! Shared fixtures: the Python script runs once per test binary, into a temp directory.

use lrplan_weights::{ReadOptions, StateDict, Tensor, read_file};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What to do when the Python these tests compare against is missing.
pub const SETUP: &str = "run scripts/setup.sh, which creates <workspace>/.venv with torch, \
                         numpy and safetensors (or set LRPLAN_PYTHON to a Python that has them)";

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

/// Run a support script with the venv's Python: its stdout, or why it could not run,
/// naming the set-up command.
pub fn try_python(script: &str, args: &[&Path]) -> Result<String, String> {
    let py = python();
    let out = Command::new(&py)
        .arg(support_script(script))
        .args(args)
        .output()
        .map_err(|e| {
            format!(
                "these tests compare with PyTorch, but {} could not be run ({e}): {SETUP}",
                py.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "{} {script} failed: {}\n(if a module is missing: {SETUP})",
            py.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// As [`try_python`]; the test fails (never skips) with the message when Python is missing.
pub fn run_python(script: &str, args: &[&Path]) -> String {
    try_python(script, args).unwrap_or_else(|why| panic!("{why}"))
}

struct Fixtures {
    dir: tempfile::TempDir,
    expected: Value,
}

/// The fixtures, written once per test binary; every test that needs them fails with the
/// same message if they could not be (Python is not run again for each).
fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Result<Fixtures, String>> = OnceLock::new();
    let made = F.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("weights-fixtures-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .map_err(|e| format!("cannot make a temporary folder: {e}"))?;
        try_python("make_fixtures.py", &[dir.path()])?;
        let text = std::fs::read_to_string(dir.path().join("expected.json"))
            .map_err(|e| format!("make_fixtures.py wrote no expected.json: {e}"))?;
        let expected = serde_json::from_str(&text)
            .map_err(|e| format!("make_fixtures.py wrote a bad expected.json: {e}"))?;
        Ok(Fixtures { dir, expected })
    });
    made.as_ref().unwrap_or_else(|why| panic!("{why}"))
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
