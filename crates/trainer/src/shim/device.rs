//! Device helpers through the shim (`cpp/device.cpp`): pinned host tensors, host copies read
//! later without a wait, cuDNN's deterministic switch and a count of
//! libtorch's synchronising CUDA calls.

use std::ffi::c_char;
use std::ptr::NonNull;

use tch::{Kind, Tensor};
use torch_sys::C_tensor;

use super::check;
use crate::error::{Error, Result};

#[repr(C)]
struct Handle {
    _opaque: [u8; 0],
}

unsafe extern "C" {
    fn lrplan_empty_pinned(
        sizes: *const i64,
        ndim: usize,
        dtype: i8,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn lrplan_host_copy_start(t: *const C_tensor, out: *mut *mut Handle) -> *mut c_char;
    fn lrplan_host_copy_finish(h: *mut Handle, out: *mut *mut C_tensor) -> *mut c_char;
    fn lrplan_host_copy_free(h: *mut Handle);
    fn lrplan_set_cudnn_deterministic(on: bool);
    fn lrplan_sync_count_start() -> bool;
    fn lrplan_sync_count() -> u64;
}

/// at::ScalarType's number of the kinds a batch holds.
fn scalar_type(kind: Kind) -> Result<i8> {
    match kind {
        Kind::Uint8 => Ok(0),
        Kind::Int64 => Ok(4),
        Kind::Float => Ok(6),
        other => Err(Error::Libtorch(format!("no pinned buffers of {other:?}"))),
    }
}

fn owned(ptr: *mut C_tensor) -> Tensor {
    // SAFETY: the shim returns a `new torch::Tensor`, ours to free (shim.h).
    unsafe { Tensor::from_ptr(ptr) }
}

/// A zero-filled tensor of `kind` and `shape` in pinned host memory (from libtorch's caching
/// host allocator), which a non-blocking copy to a CUDA device reads without the host waiting.
pub fn empty_pinned(shape: &[i64], kind: Kind) -> Result<Tensor> {
    let mut out = std::ptr::null_mut();
    // SAFETY: `shape.len()` sizes and an out-pointer.
    check(unsafe {
        lrplan_empty_pinned(shape.as_ptr(), shape.len(), scalar_type(kind)?, &mut out)
    })?;
    Ok(owned(out))
}

/// A copy of a (small) tensor to the host, queued behind the work that makes it: reading it
/// ([`HostCopy::finish`]) after the GPU has passed that point costs no wait. On the CPU the
/// value is simply kept.
pub struct HostCopy {
    handle: NonNull<Handle>,
}

// SAFETY: the handle owns a tensor and an event, both usable from any thread.
unsafe impl Send for HostCopy {}

impl HostCopy {
    pub fn start(t: &Tensor) -> Result<HostCopy> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live tensor and an out-pointer, set on success.
        check(unsafe { lrplan_host_copy_start(t.as_ptr(), &mut raw) })?;
        let handle = NonNull::new(raw).ok_or_else(|| Error::Libtorch("no host copy".into()))?;
        Ok(HostCopy { handle })
    }

    /// The host tensor, once the copy is done.
    pub fn finish(self) -> Result<Tensor> {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live handle (freed by drop) and an out-pointer.
        check(unsafe { lrplan_host_copy_finish(self.handle.as_ptr(), &mut out) })?;
        Ok(owned(out))
    }
}

impl Drop for HostCopy {
    fn drop(&mut self) {
        // SAFETY: the handle came from lrplan_host_copy_start and is freed once, here.
        unsafe { lrplan_host_copy_free(self.handle.as_ptr()) }
    }
}

/// cuDNN's autotuning (`torch.backends.cudnn.benchmark`), or, when `deterministic`, its
/// deterministic algorithms only (`torch.backends.cudnn.deterministic`, benchmark off).
pub fn set_cudnn_mode(deterministic: bool) {
    tch::Cuda::cudnn_set_benchmark(!deterministic);
    // SAFETY: sets a global flag.
    unsafe { lrplan_set_cudnn_deterministic(deterministic) }
}

/// Turns on libtorch's sync debug mode ("warn") and counts its warnings on this thread from
/// now on; false where libtorch has no CUDA.
pub fn start_sync_count() -> bool {
    // SAFETY: see cpp/device.cpp: sets libtorch's own switch and this thread's handler.
    unsafe { lrplan_sync_count_start() }
}

/// libtorch's synchronising CUDA calls since [`start_sync_count`].
pub fn sync_count() -> u64 {
    // SAFETY: reads a counter.
    unsafe { lrplan_sync_count() }
}
