//! Link-time settings the trainer needs beyond what torch-sys emits.
//!
//! * An rpath to the torch lib folder of the Python environment that provided libtorch, so
//!   `trainer` runs without `LD_LIBRARY_PATH`.
//! * `libtorch_cuda.so` kept as a needed library: rustc links with `--as-needed`, and since
//!   no Rust code calls into it directly the linker would drop it, leaving a binary that
//!   silently reports "no CUDA" on a GPU machine.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=LRPLAN_TCH_VERSION=0.24.0");
    let Some((lib, version)) = torch_lib_dir() else {
        println!("cargo:warning=could not locate the torch lib folder; no rpath added");
        println!("cargo:rustc-env=LRPLAN_LIBTORCH_VERSION=unknown");
        println!("cargo:rustc-env=LRPLAN_TORCH_LIB=unknown");
        return;
    };
    println!("cargo:rustc-env=LRPLAN_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=LRPLAN_TORCH_LIB={}", lib.display());
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

/// The same folder torch-sys links against: `LIBTORCH_LIB`, `$LIBTORCH/lib`, or the torch
/// package of the active Python (`python` inside a virtualenv, else `python3`).
fn torch_lib_dir() -> Option<(PathBuf, String)> {
    let given = |root: String| {
        let root = PathBuf::from(root);
        let version = std::fs::read_to_string(root.join("build-version"))
            .unwrap_or_else(|_| "unknown".into());
        Some((root.join("lib"), version.trim().to_string()))
    };
    if let Ok(lib) = std::env::var("LIBTORCH_LIB") {
        return given(lib);
    }
    if let Ok(root) = std::env::var("LIBTORCH") {
        return given(root);
    }
    let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
        "python"
    } else {
        "python3"
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib')); print(torch.__version__)",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let path = PathBuf::from(lines.next()?.trim());
    let version = lines.next().unwrap_or("unknown").trim().to_string();
    path.is_dir().then_some((path, version))
}
