//! `crmath::cos` and `crmath::pow` against mpmath, bit for bit: a million arguments each, most
//! in the schedules' ranges, plus constructed hard cases and exact midpoints
//! (`scripts/crmath-reference.py` draws them and computes the correctly rounded values). The
//! fast paths answer almost every argument, so the exact fallbacks are also checked on their
//! own, on every hard case and a sample of the rest.
//!
//! The reference files are generated once per seed and count, under cargo's target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use lrplan_schedule::crmath;

const SEED: u64 = 20_261_129;
const COUNT: usize = 1_000_000;
/// The exact fallbacks alone are checked on every hard case and every `EXACT_EVERY`-th record
/// (and through `cos` and `pow` on every record the fast paths leave to them).
const EXACT_EVERY: usize = 50;

fn python() -> PathBuf {
    std::env::var_os("LRPLAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"))
}

/// The reference files for this seed and count, generating them on first use (once: the two
/// tests run in parallel threads).
fn reference() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(generate).clone()
}

fn generate() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("crmath-reference")
        .join(format!("seed{SEED}-n{COUNT}"));
    if dir.join("cos.bin").exists() && dir.join("pow.bin").exists() {
        return dir;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/crmath-reference.py");
    let py = python();
    let out = Command::new(&py)
        .arg(&script)
        .arg(SEED.to_string())
        .arg(&dir)
        .arg(COUNT.to_string())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run scripts/setup.sh to create the venv with mpmath, \
                 or set LRPLAN_PYTHON",
                py.display()
            )
        });
    assert!(
        out.status.success(),
        "{} failed (run scripts/setup.sh: it installs mpmath and gmpy2 from \
         scripts/requirements.txt):\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
    dir
}

/// The file's records of `width` u64 bit patterns.
fn records(path: &Path, width: usize) -> Vec<Vec<u64>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        bytes.len(),
        COUNT * width * 8,
        "{}: truncated",
        path.display()
    );
    bytes
        .chunks_exact(width * 8)
        .map(|r| {
            r.chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                .collect()
        })
        .collect()
}

/// Panics listing the first wrong results, if any.
fn expect_none_wrong(what: &str, wrong: &[String], checked: usize) {
    assert!(
        wrong.is_empty(),
        "{what}: {} of {checked} not correctly rounded, e.g.\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

#[test]
fn cos_is_correctly_rounded() {
    let recs = records(&reference().join("cos.bin"), 3);
    let (mut wrong, mut wrong_exact, mut exact_checked, mut libm_off) =
        (Vec::new(), Vec::new(), 0, 0);
    for (i, r) in recs.iter().enumerate() {
        let (x, want, hard) = (f64::from_bits(r[0]), r[1], r[2] == 1);
        if crmath::cos(x).to_bits() != want {
            wrong.push(format!("cos({x:e} = {:#x}) = {:e}", r[0], crmath::cos(x)));
        }
        if hard || i % EXACT_EVERY == 0 {
            exact_checked += 1;
            if crmath::exact::cos(x).to_bits() != want {
                wrong_exact.push(format!("exact cos({x:e} = {:#x})", r[0]));
            }
        }
        libm_off += usize::from(libm::cos(x).to_bits() != want);
    }
    println!("cos: {COUNT} arguments, libm 0.2 misrounds {libm_off}");
    expect_none_wrong("cos", &wrong, COUNT);
    expect_none_wrong("exact cos", &wrong_exact, exact_checked);
}

#[test]
fn pow_is_correctly_rounded() {
    let recs = records(&reference().join("pow.bin"), 4);
    let (mut wrong, mut wrong_exact, mut exact_checked, mut libm_off) =
        (Vec::new(), Vec::new(), 0, 0);
    for (i, r) in recs.iter().enumerate() {
        let (x, y, want) = (f64::from_bits(r[0]), f64::from_bits(r[1]), r[2]);
        let hard = r[3] == 1;
        if crmath::pow(x, y).to_bits() != want {
            wrong.push(format!(
                "pow({x:e}, {y:e}) [{:#x}, {:#x}] = {:e}",
                r[0],
                r[1],
                crmath::pow(x, y)
            ));
        }
        if hard || i % EXACT_EVERY == 0 {
            exact_checked += 1;
            if crmath::exact::pow(x, y).to_bits() != want {
                wrong_exact.push(format!(
                    "exact pow({x:e}, {y:e}) [{:#x}, {:#x}]",
                    r[0], r[1]
                ));
            }
        }
        libm_off += usize::from(libm::pow(x, y).to_bits() != want);
    }
    println!("pow: {COUNT} arguments, libm 0.2 misrounds {libm_off}");
    expect_none_wrong("pow", &wrong, COUNT);
    expect_none_wrong("exact pow", &wrong_exact, exact_checked);
}
