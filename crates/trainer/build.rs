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
//! * Data-parallel training (`cpp/distributed.cpp`): c10d's headers declare the gloo process
//!   group only with `USE_C10D_GLOO`, and include gloo's headers, which the torch wheel lacks:
//!   they come from Debian's `libgloo-dev` (or `LRPLAN_GLOO_INCLUDE`), while the code that
//!   runs is torch's own gloo inside `libtorch_cpu`. Against a CUDA libtorch the NCCL process
//!   group is compiled too (`USE_C10D_NCCL`), from the headers of the NCCL and CUDA wheels
//!   torch depends on (`nvidia/*/include` beside torch; `CUDA_HOME/include` otherwise), unless
//!   `LRPLAN_NCCL=0`. A CPU-only libtorch builds without it.
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shim's sources, one file per concern (see `cpp/shim.h`).
const SHIM_SOURCES: &[&str] = &[
    "cpp/script_module.cpp",
    "cpp/distributed.cpp",
    "cpp/foreach.cpp",
    "cpp/device.cpp",
    "cpp/amp.cpp",
];

fn main() {
    for var in [
        "LIBTORCH_USE_PYTORCH",
        "LIBTORCH",
        "LIBTORCH_LIB",
        "LIBTORCH_CXX11_ABI",
        "VIRTUAL_ENV",
        "LRPLAN_GLOO_INCLUDE",
        "LRPLAN_NCCL",
        "CUDA_HOME",
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
        .warnings(false)
        // Nothing of the shim is exported, so no inline function it instantiates from a
        // header (gloo's are not torch's copy) can interpose on libtorch's own.
        .flag("-fvisibility=hidden")
        .flag("-fvisibility-inlines-hidden");
    distributed(&mut build, lib);
    for src in SHIM_SOURCES {
        build.file(src);
    }
    build.compile("lrplan_shim");
    for l in ["torch_cpu", "c10"] {
        println!("cargo:rustc-link-lib=dylib={l}");
    }
}

/// The defines and include folders of `cpp/distributed.cpp`: gloo always, NCCL against a
/// CUDA libtorch (see the module documentation).
fn distributed(build: &mut cc::Build, lib: &Path) {
    let gloo = std::env::var_os("LRPLAN_GLOO_INCLUDE")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/include", "/usr/local/include"].map(PathBuf::from))
        .find(|d| d.join("gloo/algorithm.h").exists())
        .unwrap_or_else(|| {
            panic!(
                "the gloo headers (gloo/algorithm.h) are missing: install Debian's libgloo-dev \
                 (scripts/setup.sh does), or set LRPLAN_GLOO_INCLUDE to the folder holding gloo/"
            )
        });
    build.include(gloo).define("USE_C10D_GLOO", None);
    let cuda = lib.join("libtorch_cuda.so").exists();
    if !cuda || std::env::var("LRPLAN_NCCL").as_deref() == Ok("0") {
        return;
    }
    let dirs = cuda_includes(lib);
    for header in [
        "nccl.h",
        "cuda_runtime_api.h",
        "crt/host_config.h",
        "nv/target",
    ] {
        if !dirs.iter().any(|d| d.join(header).exists()) {
            panic!(
                "{} is a CUDA libtorch, but {header} is in none of {dirs:?}: install the NCCL \
                 and CUDA header wheels (scripts/requirements.txt: nvidia-cuda-crt, \
                 nvidia-cuda-cccl), or build without NCCL with LRPLAN_NCCL=0",
                lib.display()
            );
        }
    }
    for d in dirs {
        build.include(d);
    }
    build
        .define("USE_C10D_NCCL", None)
        .define("LRPLAN_NCCL", None);
    println!("cargo:rustc-link-lib=dylib=c10_cuda");
}

/// Where a CUDA libtorch's NCCL and CUDA headers are: the `nvidia/*/include` folders of the
/// wheels installed beside torch's (`site-packages/torch/lib` → `site-packages/nvidia`), then
/// a CUDA toolkit's.
fn cuda_includes(lib: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(site) = lib.parent().and_then(Path::parent)
        && let Ok(entries) = std::fs::read_dir(site.join("nvidia"))
    {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("include"))
            .filter(|d| d.is_dir())
            .collect();
        found.sort();
        dirs.extend(found);
    }
    let toolkit = std::env::var_os("CUDA_HOME").map_or("/usr/local/cuda".into(), PathBuf::from);
    dirs.push(toolkit.join("include"));
    dirs
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
