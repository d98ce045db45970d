//! Arithmetic over lists of tensors through the shim (`cpp/foreach.cpp`): the ops torch.optim
//! calls, with their `alpha`/`value` scalars, either as torch's multi-tensor `_foreach_*`
//! kernels or as the single-tensor op per element ([`Kernels`]).
//!
//! Every list of one call has the same length; the functions check it, because the C side
//! reads that many pointers from each.

use std::borrow::Borrow;
use std::ffi::c_char;

use tch::Tensor;
use torch_sys::C_tensor;

use super::check;
use crate::error::{Error, Result};

/// How a list op runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// torch's `_foreach_*` ops (torch.optim's default on CUDA): one kernel per list on CUDA.
    Foreach,
    /// The single-tensor op once per tensor (torch.optim's `foreach=False`).
    PerTensor,
}

impl Kernels {
    fn foreach(self) -> bool {
        self == Kernels::Foreach
    }
}

type Ptrs = Vec<*const C_tensor>;

unsafe extern "C" {
    fn lrplan_fe_add_list_(
        a: *const *const C_tensor,
        b: *const *const C_tensor,
        n: usize,
        alpha: f64,
        fe: bool,
    ) -> *mut c_char;
    fn lrplan_fe_add_scalar_(a: *const *const C_tensor, n: usize, s: f64, fe: bool) -> *mut c_char;
    fn lrplan_fe_mul_scalar_(a: *const *const C_tensor, n: usize, s: f64, fe: bool) -> *mut c_char;
    fn lrplan_fe_div_scalars_(
        a: *const *const C_tensor,
        n: usize,
        s: *const f64,
        fe: bool,
    ) -> *mut c_char;
    fn lrplan_fe_lerp_scalar_(
        a: *const *const C_tensor,
        b: *const *const C_tensor,
        n: usize,
        w: f64,
        fe: bool,
    ) -> *mut c_char;
    fn lrplan_fe_addcmul_scalar_(
        a: *const *const C_tensor,
        b: *const *const C_tensor,
        c: *const *const C_tensor,
        n: usize,
        v: f64,
        fe: bool,
    ) -> *mut c_char;
    fn lrplan_fe_addcdiv_scalars_(
        a: *const *const C_tensor,
        b: *const *const C_tensor,
        c: *const *const C_tensor,
        n: usize,
        s: *const f64,
        fe: bool,
    ) -> *mut c_char;
    fn lrplan_fe_sqrt(
        a: *const *const C_tensor,
        n: usize,
        fe: bool,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn lrplan_fe_clone(a: *const *const C_tensor, n: usize, out: *mut *mut C_tensor)
    -> *mut c_char;
}

/// The borrowed pointers of `ts`, checked to be `n` long.
fn ptrs<T: Borrow<Tensor>>(ts: &[T], n: usize) -> Result<Ptrs> {
    if ts.len() != n {
        return Err(Error::Libtorch(format!(
            "tensor lists of different lengths ({} and {n})",
            ts.len()
        )));
    }
    Ok(ts.iter().map(|t| t.borrow().as_ptr()).collect())
}

/// Runs a shim call that fills `n` new tensors into its out-array, and takes them over.
fn collect(n: usize, call: impl FnOnce(*mut *mut C_tensor) -> *mut c_char) -> Result<Vec<Tensor>> {
    let mut out: Vec<*mut C_tensor> = vec![std::ptr::null_mut(); n];
    check(call(out.as_mut_ptr()))?;
    // SAFETY: on success every slot holds a `new torch::Tensor`, ours to own (shim.h).
    Ok(out
        .into_iter()
        .map(|p| unsafe { Tensor::from_ptr(p) })
        .collect())
}

/// `a[i] += alpha * b[i]`.
pub fn add_<A: Borrow<Tensor>, B: Borrow<Tensor>>(
    k: Kernels,
    a: &[A],
    b: &[B],
    alpha: f64,
) -> Result<()> {
    let n = a.len();
    let (pa, pb) = (ptrs(a, n)?, ptrs(b, n)?);
    // SAFETY: `n` live tensors in each list, borrowed for the call.
    check(unsafe { lrplan_fe_add_list_(pa.as_ptr(), pb.as_ptr(), n, alpha, k.foreach()) })
}

/// `a[i] += s`.
pub fn add_scalar_<T: Borrow<Tensor>>(k: Kernels, a: &[T], s: f64) -> Result<()> {
    let pa = ptrs(a, a.len())?;
    // SAFETY: live tensors, borrowed for the call.
    check(unsafe { lrplan_fe_add_scalar_(pa.as_ptr(), a.len(), s, k.foreach()) })
}

/// `a[i] *= s`.
pub fn mul_<T: Borrow<Tensor>>(k: Kernels, a: &[T], s: f64) -> Result<()> {
    let pa = ptrs(a, a.len())?;
    // SAFETY: live tensors, borrowed for the call.
    check(unsafe { lrplan_fe_mul_scalar_(pa.as_ptr(), a.len(), s, k.foreach()) })
}

/// `a[i] /= s[i]`.
pub fn div_<T: Borrow<Tensor>>(k: Kernels, a: &[T], s: &[f64]) -> Result<()> {
    let pa = ptrs(a, s.len())?;
    // SAFETY: `s.len()` live tensors and scalars.
    check(unsafe { lrplan_fe_div_scalars_(pa.as_ptr(), s.len(), s.as_ptr(), k.foreach()) })
}

/// `a[i].lerp_(b[i], w)`.
pub fn lerp_<A: Borrow<Tensor>, B: Borrow<Tensor>>(
    k: Kernels,
    a: &[A],
    b: &[B],
    w: f64,
) -> Result<()> {
    let n = a.len();
    let (pa, pb) = (ptrs(a, n)?, ptrs(b, n)?);
    // SAFETY: `n` live tensors in each list.
    check(unsafe { lrplan_fe_lerp_scalar_(pa.as_ptr(), pb.as_ptr(), n, w, k.foreach()) })
}

/// `a[i] += v * b[i] * c[i]`.
pub fn addcmul_<A: Borrow<Tensor>, B: Borrow<Tensor>, C: Borrow<Tensor>>(
    k: Kernels,
    a: &[A],
    b: &[B],
    c: &[C],
    v: f64,
) -> Result<()> {
    let n = a.len();
    let (pa, pb, pc) = (ptrs(a, n)?, ptrs(b, n)?, ptrs(c, n)?);
    // SAFETY: `n` live tensors in each list.
    check(unsafe {
        lrplan_fe_addcmul_scalar_(pa.as_ptr(), pb.as_ptr(), pc.as_ptr(), n, v, k.foreach())
    })
}

/// `a[i] += s[i] * b[i] / c[i]`.
pub fn addcdiv_<A: Borrow<Tensor>, B: Borrow<Tensor>, C: Borrow<Tensor>>(
    k: Kernels,
    a: &[A],
    b: &[B],
    c: &[C],
    s: &[f64],
) -> Result<()> {
    let n = s.len();
    let (pa, pb, pc) = (ptrs(a, n)?, ptrs(b, n)?, ptrs(c, n)?);
    // SAFETY: `n` live tensors in each list and `n` scalars.
    check(unsafe {
        lrplan_fe_addcdiv_scalars_(
            pa.as_ptr(),
            pb.as_ptr(),
            pc.as_ptr(),
            n,
            s.as_ptr(),
            k.foreach(),
        )
    })
}

/// `sqrt(a[i])`, new tensors.
pub fn sqrt<T: Borrow<Tensor>>(k: Kernels, a: &[T]) -> Result<Vec<Tensor>> {
    let pa = ptrs(a, a.len())?;
    // SAFETY: live tensors; `out` has room for all of them.
    collect(a.len(), |out| unsafe {
        lrplan_fe_sqrt(pa.as_ptr(), a.len(), k.foreach(), out)
    })
}

/// `a[i].detach().clone()`: the same values in the same memory format.
pub fn clone<T: Borrow<Tensor>>(a: &[T]) -> Result<Vec<Tensor>> {
    let pa = ptrs(a, a.len())?;
    // SAFETY: live tensors; `out` has room for all of them.
    collect(a.len(), |out| unsafe {
        lrplan_fe_clone(pa.as_ptr(), a.len(), out)
    })
}
