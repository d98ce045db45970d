//! PyTorch's c10d through the shim (`cpp/distributed.cpp`): the TCPStore, a process group
//! (gloo, or NCCL on CUDA), its collectives, and DDP's gradient `Reducer`.
//!
//! tch exposes none of `torch.distributed`; these are libtorch's own implementations, the
//! ones `DistributedDataParallel` runs on, driven from Rust.

use std::ffi::{CString, c_char};
use std::ptr::NonNull;
use std::time::Duration;

use tch::{Device, Tensor};
use torch_sys::C_tensor;

use super::check;
use crate::error::{Error, Result};

#[repr(C)]
struct StoreHandle {
    _opaque: [u8; 0],
}

#[repr(C)]
struct GroupHandle {
    _opaque: [u8; 0],
}

#[repr(C)]
struct ReducerHandle {
    _opaque: [u8; 0],
}

unsafe extern "C" {
    fn lrplan_dist_nccl_compiled() -> bool;
    fn lrplan_store_connect(
        host: *const c_char,
        port: u16,
        world: i32,
        server: bool,
        timeout_ms: i64,
        out: *mut *mut StoreHandle,
    ) -> *mut c_char;
    fn lrplan_store_prefixed(
        s: *mut StoreHandle,
        prefix: *const c_char,
        out: *mut *mut StoreHandle,
    ) -> *mut c_char;
    fn lrplan_store_clone(s: *mut StoreHandle, out: *mut *mut StoreHandle) -> *mut c_char;
    fn lrplan_store_free(s: *mut StoreHandle);
    fn lrplan_store_set(
        s: *mut StoreHandle,
        key: *const c_char,
        data: *const u8,
        len: usize,
    ) -> *mut c_char;
    fn lrplan_store_get(
        s: *mut StoreHandle,
        key: *const c_char,
        data: *mut *mut u8,
        len: *mut usize,
    ) -> *mut c_char;
    fn lrplan_store_add(
        s: *mut StoreHandle,
        key: *const c_char,
        delta: i64,
        out: *mut i64,
    ) -> *mut c_char;
    fn lrplan_store_check(s: *mut StoreHandle, key: *const c_char, out: *mut bool) -> *mut c_char;
    fn lrplan_group_new(
        s: *mut StoreHandle,
        rank: i32,
        world: i32,
        backend: i32,
        device: i32,
        timeout_ms: i64,
        out: *mut *mut GroupHandle,
    ) -> *mut c_char;
    fn lrplan_group_free(g: *mut GroupHandle);
    fn lrplan_group_broadcast(
        g: *mut GroupHandle,
        ts: *const *mut C_tensor,
        n: usize,
    ) -> *mut c_char;
    fn lrplan_group_allreduce_sum(g: *mut GroupHandle, t: *mut C_tensor) -> *mut c_char;
    fn lrplan_group_verify(g: *mut GroupHandle, ts: *const *mut C_tensor, n: usize) -> *mut c_char;
    fn lrplan_reducer_new(
        g: *mut GroupHandle,
        ps: *const *mut C_tensor,
        n: usize,
        out: *mut *mut ReducerHandle,
    ) -> *mut c_char;
    fn lrplan_reducer_free(r: *mut ReducerHandle);
    fn lrplan_reducer_forward(r: *mut ReducerHandle) -> *mut c_char;
    fn lrplan_reducer_backward(
        r: *mut ReducerHandle,
        loss: *mut C_tensor,
        ps: *const *mut C_tensor,
        n: usize,
        grads: *mut *mut C_tensor,
    ) -> *mut c_char;
}

/// Whether this build has the NCCL process group (a CUDA libtorch, see `build.rs`).
pub fn nccl_compiled() -> bool {
    // SAFETY: no arguments, no state.
    unsafe { lrplan_dist_nccl_compiled() }
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Libtorch(format!("{s:?} holds a NUL byte")))
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// The pointers behind `ts` for one call (tch's `C_tensor`s; the shim only borrows them).
fn pointers(ts: &[Tensor]) -> Vec<*mut C_tensor> {
    ts.iter().map(|t| t.as_ptr() as *mut C_tensor).collect()
}

/// A connection to c10d's `TCPStore`: the key-value store a job's processes meet at.
pub struct Store {
    handle: NonNull<StoreHandle>,
}

// SAFETY: a TCPStore client is an owned socket with its own lock; the handle moves to the
// thread that uses it (each thread keeps its own connection, see `try_clone`).
unsafe impl Send for Store {}

impl Drop for Store {
    fn drop(&mut self) {
        // SAFETY: the handle came from the shim and is freed once, here.
        unsafe { lrplan_store_free(self.handle.as_ptr()) }
    }
}

impl Store {
    fn wrap(raw: *mut StoreHandle) -> Result<Store> {
        let handle = NonNull::new(raw).ok_or_else(|| Error::Libtorch("no store".into()))?;
        Ok(Store { handle })
    }

    /// Connects to the store at `host:port`, starting it there first when `server`. Every
    /// wait (connecting included) gives up after `timeout`.
    pub fn connect(
        host: &str,
        port: u16,
        world: usize,
        server: bool,
        timeout: Duration,
    ) -> Result<Store> {
        let host = c_string(host)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: a valid C string and out-pointer; `raw` is set only on success.
        check(unsafe {
            lrplan_store_connect(
                host.as_ptr(),
                port,
                world as i32,
                server,
                millis(timeout),
                &mut raw,
            )
        })?;
        Store::wrap(raw)
    }

    /// The keys of this store under `prefix/` (c10d's `PrefixStore`).
    pub fn prefixed(&self, prefix: &str) -> Result<Store> {
        let prefix = c_string(prefix)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live handle, a C string, an out-pointer.
        check(unsafe { lrplan_store_prefixed(self.handle.as_ptr(), prefix.as_ptr(), &mut raw) })?;
        Store::wrap(raw)
    }

    /// The same store over a new connection, for another thread.
    pub fn try_clone(&self) -> Result<Store> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live handle and an out-pointer.
        check(unsafe { lrplan_store_clone(self.handle.as_ptr(), &mut raw) })?;
        Store::wrap(raw)
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let key = c_string(key)?;
        // SAFETY: a live handle; key and value are borrowed for the call.
        check(unsafe {
            lrplan_store_set(
                self.handle.as_ptr(),
                key.as_ptr(),
                value.as_ptr(),
                value.len(),
            )
        })
    }

    /// The value of `key`, waiting for it up to the store's timeout.
    pub fn get(&self, key: &str) -> Result<Vec<u8>> {
        let key = c_string(key)?;
        let (mut data, mut len) = (std::ptr::null_mut(), 0usize);
        // SAFETY: a live handle; on success `data` holds `len` bytes for us to free.
        check(unsafe {
            lrplan_store_get(self.handle.as_ptr(), key.as_ptr(), &mut data, &mut len)
        })?;
        let value = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
        unsafe { super::lrplan_free_string(data as *mut c_char) };
        Ok(value)
    }

    /// Adds `delta` to the counter `key` (created at 0) and returns its new value.
    pub fn add(&self, key: &str, delta: i64) -> Result<i64> {
        let key = c_string(key)?;
        let mut value = 0;
        // SAFETY: a live handle, a C string, an out-pointer.
        check(unsafe { lrplan_store_add(self.handle.as_ptr(), key.as_ptr(), delta, &mut value) })?;
        Ok(value)
    }

    /// Whether `key` exists now.
    pub fn check(&self, key: &str) -> Result<bool> {
        let key = c_string(key)?;
        let mut found = false;
        // SAFETY: a live handle, a C string, an out-pointer.
        check(unsafe { lrplan_store_check(self.handle.as_ptr(), key.as_ptr(), &mut found) })?;
        Ok(found)
    }
}

/// A c10d process group: gloo on the CPU, NCCL on a CUDA device.
pub struct Group {
    handle: NonNull<GroupHandle>,
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: the handle came from the shim and is freed once, here.
        unsafe { lrplan_group_free(self.handle.as_ptr()) }
    }
}

impl Group {
    /// The job's process group for tensors on `device`, meeting through `store`; every
    /// collective gives up after `timeout`.
    pub fn new(
        store: &Store,
        rank: usize,
        world: usize,
        device: Device,
        timeout: Duration,
    ) -> Result<Group> {
        let (backend, index) = match device {
            Device::Cpu => (0, -1),
            Device::Cuda(n) => (1, n as i32),
            other => {
                return Err(Error::flag(
                    "--device",
                    format!("{other:?}: data-parallel training runs on cpu or cuda"),
                ));
            }
        };
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live store handle (the group keeps its own reference) and an out-pointer.
        check(unsafe {
            lrplan_group_new(
                store.handle.as_ptr(),
                rank as i32,
                world as i32,
                backend,
                index,
                millis(timeout),
                &mut raw,
            )
        })?;
        let handle = NonNull::new(raw).ok_or_else(|| Error::Libtorch("no group".into()))?;
        Ok(Group { handle })
    }

    /// Rank 0's values into `ts` on every rank (in place, without autograd).
    pub fn broadcast(&self, ts: &[Tensor]) -> Result<()> {
        let ps = pointers(ts);
        // SAFETY: a live handle; the tensors are borrowed for the call.
        check(unsafe { lrplan_group_broadcast(self.handle.as_ptr(), ps.as_ptr(), ps.len()) })
    }

    /// The sum over every rank, in place.
    pub fn all_sum(&self, t: &Tensor) -> Result<()> {
        // SAFETY: a live handle; the tensor is borrowed for the call.
        check(unsafe { lrplan_group_allreduce_sum(self.handle.as_ptr(), t.as_ptr() as *mut _) })
    }

    /// Refuses parameters that differ from rank 0's in number, shape or dtype.
    pub fn verify(&self, params: &[Tensor]) -> Result<()> {
        let ps = pointers(params);
        // SAFETY: a live handle; the tensors are borrowed for the call.
        check(unsafe { lrplan_group_verify(self.handle.as_ptr(), ps.as_ptr(), ps.len()) })
    }
}

/// DDP's gradient `Reducer` over a set of parameters: bucketed sums over the ranks, started
/// during backward as each bucket's gradients are ready.
pub struct Reducer {
    handle: NonNull<ReducerHandle>,
}

impl Drop for Reducer {
    fn drop(&mut self) {
        // SAFETY: the handle came from the shim and is freed once, here; freeing removes
        // the Reducer's autograd hooks from the parameters.
        unsafe { lrplan_reducer_free(self.handle.as_ptr()) }
    }
}

impl Reducer {
    /// A Reducer summing the gradients of `params` (each requiring grad, none twice) over
    /// `group`. It must outlive no `group`: the shim keeps its own reference.
    pub fn new(group: &Group, params: &[Tensor]) -> Result<Reducer> {
        let ps = pointers(params);
        let mut raw = std::ptr::null_mut();
        // SAFETY: a live group, borrowed tensors (the Reducer keeps its own references).
        check(unsafe {
            lrplan_reducer_new(group.handle.as_ptr(), ps.as_ptr(), ps.len(), &mut raw)
        })?;
        let handle = NonNull::new(raw).ok_or_else(|| Error::Libtorch("no reducer".into()))?;
        Ok(Reducer { handle })
    }

    /// Before a training forward pass.
    pub fn before_forward(&self) -> Result<()> {
        // SAFETY: a live handle.
        check(unsafe { lrplan_reducer_forward(self.handle.as_ptr()) })
    }

    /// `loss.backward()` with every gradient of `params` cleared first; returns each
    /// parameter's gradient summed over the ranks (undefined where the loss does not reach).
    pub fn backward(&self, loss: &Tensor, params: &[Tensor]) -> Result<Vec<Tensor>> {
        let ps = pointers(params);
        let mut grads = vec![std::ptr::null_mut(); ps.len()];
        // SAFETY: a live handle; borrowed tensors; `grads` receives one new tensor per
        // parameter, each ours to free (tch's Tensor owns it from here).
        check(unsafe {
            lrplan_reducer_backward(
                self.handle.as_ptr(),
                loss.as_ptr() as *mut _,
                ps.as_ptr(),
                ps.len(),
                grads.as_mut_ptr(),
            )
        })?;
        Ok(grads
            .into_iter()
            .map(|g| unsafe { Tensor::from_ptr(g) })
            .collect())
    }
}
