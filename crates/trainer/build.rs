//! Compiles the C++ shim (`cpp/`) against the libtorch torch-sys links, and adds the link-time
//! settings the trainer needs beyond what torch-sys emits.
//!
//! * The libtorch lib folder comes from torch-sys itself (`DEP_TCH_LIBTORCH_LIB`, passed to
//!   direct dependents through its `links = "tch"`), so the shim, tch and the binary can
//!   never disagree on which libtorch they use; headers sit beside it in `../include`.
//! * The shim is compiled with the C++ ABI that libtorch was built with, as torch-sys
//!   compiles its own glue: the Python package says which, a plain libtorch is assumed to
//!   use the new ABI unless `LIBTORCH_CXX11_ABI` says otherwise.
//! * An rpath to that folder, so `trainer` runs without `LD_LIBRARY_PATH`.
//! * `libtorch_cuda.so` kept as a needed library: rustc links with `--as-needed`, and since
//!   no Rust code calls into it directly the linker would drop it, leaving a binary that
//!   silently reports "no CUDA" on a GPU machine.
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shim's sources, one file per concern (see `cpp/shim.h`).
const SHIM_SOURCES: &[&str] = &["cpp/script_module.cpp"];

fn main() {
    for var in [
        "LIBTORCH_USE_PYTORCH",
        "LIBTORCH",
        "LIBTORCH_LIB",
        "LIBTORCH_CXX11_ABI",
        "VIRTUAL_ENV",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cpp");
    println!("cargo:rustc-env=LRPLAN_TCH_VERSION=0.24.0");
    let lib = PathBuf::from(
        std::env::var("DEP_TCH_LIBTORCH_LIB")
            .expect("torch-sys did not pass its libtorch lib folder (DEP_TCH_LIBTORCH_LIB)"),
    );
    println!("cargo:rustc-env=LRPLAN_LIBTORCH_VERSION={}", version(&lib));
    println!("cargo:rustc-env=LRPLAN_TORCH_LIB={}", lib.display());
    compile_shim(&lib);
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

fn compile_shim(lib: &Path) {
    let include = lib
        .parent()
        .expect("lib folder has a parent")
        .join("include");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .std("c++17")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .define("_GLIBCXX_USE_CXX11_ABI", cxx11_abi())
        // libtorch's own headers warn under -Wall; the shim's warnings would drown.
        .warnings(false);
    for src in SHIM_SOURCES {
        build.file(src);
    }
    build.compile("lrplan_shim");
    for l in ["torch_cpu", "c10"] {
        println!("cargo:rustc-link-lib=dylib={l}");
    }
}

/// `1` or `0`, as libtorch was built.
fn cxx11_abi() -> &'static str {
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_none() {
        return match std::env::var("LIBTORCH_CXX11_ABI").as_deref() {
            Ok("0") => "0",
            _ => "1",
        };
    }
    // The interpreter torch-sys asks: `python` inside a virtualenv, else `python3`.
    let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
        "python"
    } else {
        "python3"
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} to ask torch for its C++ ABI: {e}"));
    match String::from_utf8_lossy(&out.stdout).trim() {
        "0" => "0",
        "1" => "1",
        other => panic!(
            "{python} did not say torch's C++ ABI (got {other:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// libtorch's version: `build-version` in a libtorch download, `version.py` in the Python
/// package (`__version__ = '2.11.0+cpu'`).
fn version(lib: &Path) -> String {
    let root = lib.parent().unwrap_or(lib);
    if let Ok(v) = std::fs::read_to_string(root.join("build-version")) {
        return v.trim().to_string();
    }
    std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim().trim_matches('\'').to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
