//! How the process's C allocator treats freed memory.
//!
//! libtorch's CPU tensors come from `malloc`. With glibc's defaults every training step maps
//! fresh pages for its larger activations and gradients (`mmap` above a threshold, and the
//! heap top handed back to the kernel once enough of it is free), then faults them in again,
//! page by page, on the next step: on the 2-core benchmark machine that was over half a
//! million page faults per 80 small-CNN steps, and made the trainer slower than the PyTorch
//! script it replaces (see the README's benchmarks). A step allocates the same sizes every
//! time, so we keep what it freed: no `mmap` for single allocations and no trimming of the
//! heap top. The resident size then stays at the peak of one step, which it reaches every
//! step anyway; PyTorch's own CUDA caching allocator makes the same trade on the GPU.
//!
//! Anyone who has tuned glibc's malloc through its environment variables keeps their setting.

/// glibc's environment settings that mean "the user has chosen": we leave malloc alone then.
const USER_SETTINGS: [&str; 4] = [
    "MALLOC_MMAP_MAX_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
];

/// What [`keep_freed_memory`] did, for `trainer doctor`.
pub fn describe() -> &'static str {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        "the platform's defaults"
    } else if user_has_chosen() {
        "glibc, as the MALLOC_* / GLIBC_TUNABLES environment sets it"
    } else {
        "glibc, freed memory kept for reuse (no mmap, no trim)"
    }
}

fn user_has_chosen() -> bool {
    USER_SETTINGS.iter().any(|v| std::env::var_os(v).is_some())
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."))
}

/// Tells glibc to serve every allocation from its heaps and never return the heap top to the
/// kernel, unless the environment already tunes malloc. Call it once, first thing in `main`.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if !user_has_chosen() {
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time
        // and merely returns 0 for a value it refuses. M_TRIM_THRESHOLD's -1 is SIZE_MAX.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, -1);
        }
    }
}
