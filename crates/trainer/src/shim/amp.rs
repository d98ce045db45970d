//! Autocast, GradScaler's unscale and the channels-last memory format through the shim
//! (`cpp/amp.cpp`): tch 0.24 sets only CUDA's legacy fp16 autocast switch, binds no
//! `_amp_foreach_*` op (it generates no tensor-list ops) and has no memory-format API.

use std::ffi::c_char;
use std::marker::PhantomData;

use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

use super::check;
use crate::error::{Error, Result};

#[repr(C)]
#[derive(Default)]
struct State {
    enabled: bool,
    dtype: i8,
    cache_enabled: bool,
}

unsafe extern "C" {
    fn lrplan_autocast_enter(cuda: i32, dtype: i8, prev: *mut State) -> *mut c_char;
    fn lrplan_autocast_exit(cuda: i32, prev: *const State) -> *mut c_char;
    fn lrplan_autocast_enabled(cuda: i32) -> bool;
    fn lrplan_amp_unscale_(
        grads: *const *const C_tensor,
        n: usize,
        found_inf: *const C_tensor,
        inv_scale: *const C_tensor,
    ) -> *mut c_char;
    fn lrplan_channels_last(t: *const C_tensor, out: *mut *mut C_tensor) -> *mut c_char;
    fn lrplan_set_channels_last(t: *const C_tensor) -> *mut c_char;
}

/// at::ScalarType's number of a low-precision dtype.
fn scalar_type(kind: Kind) -> Result<i8> {
    match kind {
        Kind::Half => Ok(5),
        Kind::BFloat16 => Ok(15),
        other => Err(Error::Libtorch(format!(
            "autocast runs in float16 or bfloat16, not {other:?}"
        ))),
    }
}

fn cuda(device: Device) -> i32 {
    i32::from(device.is_cuda())
}

/// `torch.autocast(device.type, dtype)` while it lives: ops on `device`'s type that autocast
/// lists run in `dtype`. Autocast is per thread, so the guard cannot leave its thread.
pub struct Autocast {
    device: Device,
    prev: State,
    _not_send: PhantomData<*const ()>,
}

impl Autocast {
    pub fn enter(device: Device, dtype: Kind) -> Result<Autocast> {
        let mut prev = State::default();
        // SAFETY: plain values and an out-pointer to a repr(C) struct.
        check(unsafe { lrplan_autocast_enter(cuda(device), scalar_type(dtype)?, &mut prev) })?;
        Ok(Autocast {
            device,
            prev,
            _not_send: PhantomData,
        })
    }

    /// Whether autocast is on for `device`'s type on this thread.
    pub fn enabled(device: Device) -> bool {
        // SAFETY: reads thread-local state.
        unsafe { lrplan_autocast_enabled(cuda(device)) }
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: restores the state `enter` saved. It only sets thread-local flags, which
        // cannot fail; an error here could only be reported by aborting, so it is dropped.
        let _ = check(unsafe { lrplan_autocast_exit(cuda(self.device), &self.prev) });
    }
}

/// `torch._amp_foreach_non_finite_check_and_unscale_`: every gradient times `inv_scale`,
/// and `found_inf` set to 1 if any of them holds an inf or NaN. No host wait.
pub fn unscale_(grads: &[Tensor], found_inf: &Tensor, inv_scale: &Tensor) -> Result<()> {
    let p: Vec<*const C_tensor> = grads.iter().map(Tensor::as_ptr).collect();
    // SAFETY: live tensors borrowed for the call.
    check(unsafe {
        lrplan_amp_unscale_(p.as_ptr(), p.len(), found_inf.as_ptr(), inv_scale.as_ptr())
    })
}

/// `t.contiguous(memory_format=torch.channels_last)`: a 4-d batch laid out NHWC.
pub fn channels_last(t: &Tensor) -> Result<Tensor> {
    let mut out = std::ptr::null_mut();
    // SAFETY: a live tensor borrowed; on success `out` holds a new tensor that we own.
    check(unsafe { lrplan_channels_last(t.as_ptr(), &mut out) })?;
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// Lays a model's 4-d tensor out channels-last in place, as `module.to(memory_format=
/// torch.channels_last)` does: every handle to it (the module's, the registry's) sees the
/// new layout, and its values are unchanged.
pub fn set_channels_last(t: &Tensor) -> Result<()> {
    // SAFETY: a live tensor; the shim replaces its data under the same TensorImpl.
    check(unsafe { lrplan_set_channels_last(t.as_ptr()) })
}
