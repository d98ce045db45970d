//! The trainer's C++ shim (`crates/trainer/cpp/`, compiled by `build.rs`): the parts of
//! libtorch's C++ API that tch does not expose, behind `extern "C"` functions declared here
//! and wrapped in safe types.
//!
//! Every fallible shim function returns null or an error message (C++ exceptions are caught
//! on the C++ side and never cross the boundary); [`check`] turns that into the crate's
//! error. Tensors cross as tch's own `C_tensor` pointers, so a tensor from the shim is an
//! ordinary `tch::Tensor`.
//!
//! * [`ScriptModule`]: a TorchScript module's tree, tensors, modes, forward and saving.
//! * [`Store`], [`Group`], [`Reducer`]: c10d's TCPStore, process group and DDP's Reducer.
//! * [`foreach`]: the optimizer's list arithmetic (`_foreach_*`, scalar arguments).
//! * [`amp`]: autocast for either low-precision dtype on either device type, GradScaler's
//!   unscale-and-check, the channels-last memory format.
//! * [`device`]: pinned host memory, host copies read without a wait, cuDNN's switches, a
//!   count of CUDA syncs.

pub mod amp;
pub mod device;
mod distributed;
pub mod foreach;
mod script_module;

use std::ffi::{CStr, c_char};

pub use distributed::{Group, Reducer, Store, nccl_compiled};
pub use foreach::Kernels;
pub use script_module::{ModuleInfo, ScriptModule, TensorInfo};

use crate::error::{Error, Result};

unsafe extern "C" {
    fn lrplan_free_string(s: *mut c_char);
}

/// `Ok` for a null result, else the shim's message (freed here).
fn check(err: *mut c_char) -> Result<()> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null result is a NUL-terminated string the shim allocated for us to free.
    let message = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .trim_end()
        .to_string();
    unsafe { lrplan_free_string(err) };
    Err(Error::Libtorch(message))
}

/// A string the shim lends (valid while its handle lives), copied.
///
/// # Safety
/// `s` must be a NUL-terminated string.
unsafe fn copy_str(s: *const c_char) -> String {
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}
