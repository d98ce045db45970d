//! A TorchScript module through the shim (`cpp/script_module.cpp`).
//!
//! tch's `CModule` loads and runs TorchScript too, but does not expose the module tree: not
//! the class of each submodule (which decides a parameter's group), not a submodule's own
//! train/eval flag (the freeze phase runs the frozen part in eval mode), not the dotted
//! state-dict names (its `VarStore` names replace `.` with `_`, which is lossy).

use std::ffi::{CString, c_char};
use std::path::Path;
use std::ptr::NonNull;

use tch::{Device, Tensor};
use torch_sys::C_tensor;

use super::{check, copy_str};
use crate::error::{Error, Result};

#[repr(C)]
struct Handle {
    _opaque: [u8; 0],
}

unsafe extern "C" {
    fn lrplan_sm_load(path: *const c_char, device: i32, out: *mut *mut Handle) -> *mut c_char;
    fn lrplan_sm_free(h: *mut Handle);
    fn lrplan_sm_module_count(h: *const Handle) -> usize;
    fn lrplan_sm_module_info(
        h: *const Handle,
        i: usize,
        name: *mut *const c_char,
        class: *mut *const c_char,
    ) -> *mut c_char;
    fn lrplan_sm_tensor_count(h: *const Handle) -> usize;
    fn lrplan_sm_tensor_info(
        h: *const Handle,
        i: usize,
        module: *mut usize,
        attribute: *mut *const c_char,
        parameter: *mut bool,
    ) -> *mut c_char;
    fn lrplan_sm_tensor_get(h: *const Handle, i: usize, out: *mut *mut C_tensor) -> *mut c_char;
    fn lrplan_sm_tensor_set(h: *mut Handle, i: usize, value: *const C_tensor) -> *mut c_char;
    fn lrplan_sm_set_training(h: *mut Handle, i: usize, on: bool) -> *mut c_char;
    fn lrplan_sm_forward(
        h: *mut Handle,
        x: *const C_tensor,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn lrplan_sm_save(h: *const Handle, bytes: *mut *mut c_char, len: *mut usize) -> *mut c_char;
}

/// One module of the tree, in `named_modules()` order (the root first, named "").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Dotted name, as in `named_modules()`.
    pub name: String,
    /// The Python class it was scripted or traced from (`BatchNorm2d`, `Linear`, `Block`).
    pub class: String,
}

/// One parameter or buffer, in `state_dict()` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Index of the owning module in [`ScriptModule::modules`].
    pub module: usize,
    /// Its attribute name in that module (`weight`, `running_mean`).
    pub attribute: String,
    pub parameter: bool,
}

/// A loaded TorchScript module. Its tree is read once at load; indices into
/// [`ScriptModule::modules`] and [`ScriptModule::tensors`] address modules and tensors.
pub struct ScriptModule {
    handle: NonNull<Handle>,
    modules: Vec<ModuleInfo>,
    tensors: Vec<TensorInfo>,
}

impl Drop for ScriptModule {
    fn drop(&mut self) {
        // SAFETY: the handle came from lrplan_sm_load and is freed once, here.
        unsafe { lrplan_sm_free(self.handle.as_ptr()) }
    }
}

/// Wraps a tensor the shim allocated for us.
fn owned(ptr: *mut C_tensor) -> Tensor {
    // SAFETY: the shim returns a `new torch::Tensor`, tch's own representation, ours to free.
    unsafe { Tensor::from_ptr(ptr) }
}

fn device_int(device: Device) -> Result<i32> {
    match device {
        Device::Cpu => Ok(-1),
        Device::Cuda(n) => Ok(n as i32),
        other => Err(Error::flag(
            "--device",
            format!("{other:?}: TorchScript models train on cpu or cuda only"),
        )),
    }
}

impl ScriptModule {
    /// Loads a TorchScript file (`torch.jit.save`) with its tensors on `device`.
    pub fn load(path: &Path, device: Device) -> Result<ScriptModule> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::flag("--model", "the path contains a NUL byte"))?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: a valid C string and out-pointer; the shim sets `raw` only on success.
        check(unsafe { lrplan_sm_load(c_path.as_ptr(), device_int(device)?, &mut raw) })?;
        let handle =
            NonNull::new(raw).ok_or_else(|| Error::Libtorch("load gave no module".into()))?;
        let mut m = ScriptModule {
            handle,
            modules: Vec::new(),
            tensors: Vec::new(),
        };
        m.modules = m.read_modules()?;
        m.tensors = m.read_tensors()?;
        Ok(m)
    }

    fn read_modules(&self) -> Result<Vec<ModuleInfo>> {
        let h = self.handle.as_ptr();
        // SAFETY: a live handle; the strings it lends are copied before the next call.
        let n = unsafe { lrplan_sm_module_count(h) };
        (0..n)
            .map(|i| {
                let (mut name, mut class) = (std::ptr::null(), std::ptr::null());
                check(unsafe { lrplan_sm_module_info(h, i, &mut name, &mut class) })?;
                Ok(ModuleInfo {
                    name: unsafe { copy_str(name) },
                    class: unsafe { copy_str(class) },
                })
            })
            .collect()
    }

    fn read_tensors(&self) -> Result<Vec<TensorInfo>> {
        let h = self.handle.as_ptr();
        // SAFETY: as in read_modules.
        let n = unsafe { lrplan_sm_tensor_count(h) };
        (0..n)
            .map(|i| {
                let (mut module, mut attribute, mut parameter) = (0, std::ptr::null(), false);
                check(unsafe {
                    lrplan_sm_tensor_info(h, i, &mut module, &mut attribute, &mut parameter)
                })?;
                Ok(TensorInfo {
                    module,
                    attribute: unsafe { copy_str(attribute) },
                    parameter,
                })
            })
            .collect()
    }

    /// Every module, root first, in `named_modules()` order.
    pub fn modules(&self) -> &[ModuleInfo] {
        &self.modules
    }

    /// Every parameter and buffer, in `state_dict()` order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The state-dict name of tensor `i` (`features.0.bn.weight`).
    pub fn tensor_name(&self, i: usize) -> String {
        let t = &self.tensors[i];
        match self.modules[t.module].name.as_str() {
            "" => t.attribute.clone(),
            m => format!("{m}.{}", t.attribute),
        }
    }

    /// Tensor `i` itself: storage and autograd identity shared with the module.
    pub fn tensor(&self, i: usize) -> Result<Tensor> {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live handle and an out-pointer.
        check(unsafe { lrplan_sm_tensor_get(self.handle.as_ptr(), i, &mut out) })?;
        Ok(owned(out))
    }

    /// Makes forward read `value` for tensor `i` (the shim stores its own reference).
    pub fn set_tensor(&mut self, i: usize, value: &Tensor) -> Result<()> {
        // SAFETY: a live handle; `value` is borrowed for the call only.
        check(unsafe { lrplan_sm_tensor_set(self.handle.as_ptr(), i, value.as_ptr()) })
    }

    /// Sets module `i`'s own `training` flag (its children keep theirs).
    pub fn set_training(&mut self, i: usize, on: bool) -> Result<()> {
        // SAFETY: a live handle.
        check(unsafe { lrplan_sm_set_training(self.handle.as_ptr(), i, on) })
    }

    /// `forward(x)`, which must return one tensor.
    pub fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut out = std::ptr::null_mut();
        // SAFETY: a live handle; `x` is borrowed for the call only.
        check(unsafe { lrplan_sm_forward(self.handle.as_ptr(), x.as_ptr(), &mut out) })?;
        Ok(owned(out))
    }

    /// The module as a TorchScript file's bytes (`torch.jit.load` reads them).
    pub fn save(&self) -> Result<Vec<u8>> {
        let (mut bytes, mut len) = (std::ptr::null_mut(), 0usize);
        // SAFETY: a live handle; on success `bytes` holds `len` bytes for us to free.
        check(unsafe { lrplan_sm_save(self.handle.as_ptr(), &mut bytes, &mut len) })?;
        let copy = unsafe { std::slice::from_raw_parts(bytes as *const u8, len) }.to_vec();
        unsafe { super::lrplan_free_string(bytes) };
        Ok(copy)
    }
}
