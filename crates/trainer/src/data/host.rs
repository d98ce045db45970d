//! A batch's host memory: an ordinary vector, or, for a run on a CUDA device, a pinned
//! (page-locked) host tensor that the loader thread fills in place. A copy from pinned memory
//! to the GPU runs without the host waiting (`non_blocking`); one from pageable memory makes
//! the host wait for the GPU to finish everything queued before it.

use std::ops::{Deref, DerefMut};

use tch::Tensor;
use tch::kind::Element;

use crate::error::Result;
use crate::shim::device;

/// `len` elements of `T` on the host.
pub enum HostBuf<T> {
    Heap(Vec<T>),
    /// A 1-d pinned tensor of `len > 0` elements (so its data pointer is never null), owned
    /// by this buffer alone: it is shared only once the batch is uploaded, through
    /// [`HostBuf::tensor`], and never written again.
    Pinned(Tensor),
}

impl<T: Element + Copy> HostBuf<T> {
    /// `len` zeros, pinned when `pinned` (which needs a CUDA libtorch and device) and there is
    /// anything to pin.
    pub fn zeros(len: usize, pinned: bool) -> Result<Self> {
        if pinned && len > 0 {
            Ok(HostBuf::Pinned(device::empty_pinned(
                &[len as i64],
                T::KIND,
            )?))
        } else {
            Ok(HostBuf::Heap(vec![T::ZERO; len]))
        }
    }

    /// The values as a 1-d CPU tensor: the pinned tensor itself, or a copy of the vector.
    pub fn tensor(&self) -> Tensor {
        match self {
            HostBuf::Heap(v) => Tensor::from_slice(v),
            HostBuf::Pinned(t) => t.shallow_clone(),
        }
    }

    /// Whether a copy to the GPU may run without the host waiting.
    pub fn is_pinned(&self) -> bool {
        matches!(self, HostBuf::Pinned(_))
    }
}

impl<T: Element> Deref for HostBuf<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            HostBuf::Heap(v) => v,
            // SAFETY: a contiguous CPU tensor of `numel` elements of `T::KIND` (made by
            // `zeros`, zero-filled, so every element is initialised), alive as long as `self`.
            HostBuf::Pinned(t) => unsafe {
                std::slice::from_raw_parts(t.data_ptr() as *const T, t.numel())
            },
        }
    }
}

impl<T: Element> DerefMut for HostBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            HostBuf::Heap(v) => v,
            // SAFETY: as in `deref`; `&mut self` is the only handle that writes it (see
            // `HostBuf::Pinned`).
            HostBuf::Pinned(t) => unsafe {
                std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, t.numel())
            },
        }
    }
}
