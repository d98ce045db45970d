//! The user's own model: a TorchScript file (`torch.jit.script(m).save(p)` or
//! `torch.jit.trace`) behind the [`Network`] seam, so the loop, the groups, the freeze phase,
//! pretrained weights and checkpoints treat it as they treat a built-in model.
//!
//! * Tensors: every parameter and buffer the module holds, under its `state_dict()` name, is
//!   the module's own tensor (the shim hands out references, not copies), so the optimizer's
//!   in-place updates and a checkpoint's copies are the module's state.
//! * Kinds, hence groups, follow the original's loop over `named_modules()` exactly: a
//!   module's `bias` → group 2; its `weight` → group 0 when the module is a `BatchNorm1d/2d/3d`
//!   or its name contains `bn`, else group 1 (decay). The class comes from the TorchScript
//!   type, the Python class the module was scripted from. A parameter named otherwise (a
//!   class token, a layer scale), which that loop never reaches and so never trains, is
//!   trained in group 1 here, and named before training.
//! * Modes: train and eval set every module's `training` flag; the freeze phase sets it per
//!   module ([`split`]) and hands forward detached aliases of the backbone's parameters, so
//!   no gradient reaches them and the optimizer leaves them as they are.

mod split;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

pub use split::Split;

use super::{Entry, Mode, Network, Registry, Subnet, TensorKind};
use crate::error::{Error, Result};
use crate::shim::{ModuleInfo, ScriptModule, TensorInfo};

/// A TorchScript model and the registry of its tensors.
pub struct TorchScript {
    path: PathBuf,
    name: String,
    device: Device,
    /// Forward and the mode flags need the module mutably; the trainer is single-threaded.
    module: RefCell<ScriptModule>,
    registry: Registry,
    split: split::Resolved,
    /// Registry indices of the backbone's parameters.
    frozen_params: Vec<usize>,
    /// The mode the module's `training` flags are set for.
    mode: Cell<Option<Mode>>,
    /// Parameters the original's rule does not place (not named weight or bias).
    outside_rule: Vec<String>,
}

impl TorchScript {
    /// Loads `path` onto `device` and reads its tree. Errors name the file or the flag.
    pub fn load(path: &Path, split: &Split, device: Device) -> Result<TorchScript> {
        std::fs::metadata(path).map_err(|e| Error::io(path, "read model", e))?;
        let module = ScriptModule::load(path, device).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            reason: not_torchscript(&e.to_string()),
        })?;
        if !module.tensors().iter().any(|t| t.parameter) {
            return Err(Error::Model {
                path: path.to_path_buf(),
                reason: "the model has no parameters: there is nothing to train".into(),
            });
        }
        let split = split.resolve(&module)?;
        let registry = registry(&module, &split.backbone)?;
        if let Some((a, b)) = tied(&registry) {
            return Err(Error::Model {
                path: path.to_path_buf(),
                reason: format!(
                    "{a} and {b} are one tensor (tied weights), which the trainer cannot \
                     train yet: it would update it twice per step"
                ),
            });
        }
        let outside_rule = module
            .tensors()
            .iter()
            .enumerate()
            .filter(|(_, t)| t.parameter && !matches!(t.attribute.as_str(), "weight" | "bias"))
            .map(|(i, _)| module.tensor_name(i))
            .collect();
        let frozen_params = (registry.entries.iter().enumerate())
            .filter(|(_, e)| e.kind.trainable() && e.subnet == Subnet::Backbone)
            .map(|(i, _)| i)
            .collect();
        Ok(TorchScript {
            path: path.to_path_buf(),
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            device,
            module: RefCell::new(module),
            registry,
            split,
            frozen_params,
            mode: Cell::new(None),
            outside_rule,
        })
    }

    /// Runs the model once the way training will, on a batch of two blank images, and checks
    /// what the trainer relies on: logits `[N, classes]`, and buffers updated in place (a
    /// buffer reassigned in forward would leave the checkpoint holding a stale tensor).
    /// Meant for a throwaway copy: the train-mode pass moves its running statistics.
    pub fn probe(&self, image_size: usize, classes: usize) -> Result<()> {
        let s = image_size as i64;
        let x = Tensor::zeros([2, 3, s, s], (Kind::Float, self.device));
        let bad = |reason: String| Error::Model {
            path: self.path.clone(),
            reason,
        };
        let _guard = tch::no_grad_guard();
        let y = self.forward(&x, Mode::Eval).map_err(|e| {
            bad(format!(
                "forward on a float batch [2, 3, {s}, {s}] (--image-size {s}) failed: {e}"
            ))
        })?;
        let shape = y.size();
        if shape.len() != 2 || shape[0] != 2 {
            return Err(bad(format!(
                "forward returns shape {shape:?} for a batch [2, 3, {s}, {s}]; the trainer \
                 needs logits [N, classes], here [2, {classes}]"
            )));
        }
        if shape[1] != classes as i64 {
            return Err(bad(format!(
                "the model outputs {} classes but the data has {classes}; give it a last \
                 layer with {classes} outputs before scripting it",
                shape[1]
            )));
        }
        drop(
            self.forward(&x, Mode::Train)
                .map_err(|e| bad(format!("forward in train mode failed: {e}")))?,
        );
        self.check_in_place().map_err(|name| {
            bad(format!(
                "forward replaces {name} instead of updating it in place (`self.x = ...` \
                 rather than `self.x.copy_(...)`), so the trainer could not checkpoint it"
            ))
        })
    }

    /// Err(name) of a tensor whose module slot no longer holds the registry's tensor.
    fn check_in_place(&self) -> std::result::Result<(), String> {
        let module = self.module.borrow();
        for (i, e) in self.registry.entries.iter().enumerate() {
            let now = module.tensor(i).map_err(|_| e.name.clone())?;
            if now.data_ptr() != e.tensor.data_ptr() {
                return Err(e.name.clone());
            }
        }
        Ok(())
    }

    /// Sets every module's `training` flag for `mode`, unless already set.
    fn set_mode(&self, module: &mut ScriptModule, mode: Mode) -> Result<()> {
        if self.mode.get() == Some(mode) {
            return Ok(());
        }
        for (i, &frozen_flag) in self.split.freeze_training.iter().enumerate() {
            let on = match mode {
                Mode::Train => true,
                Mode::Eval => false,
                Mode::TrainFrozen => frozen_flag,
            };
            module.set_training(i, on)?;
        }
        self.mode.set(Some(mode));
        Ok(())
    }

    /// Forward with the backbone's parameters swapped for detached aliases (same storage, no
    /// autograd), then swapped back even when forward failed.
    fn forward_frozen(&self, module: &mut ScriptModule, x: &Tensor) -> Result<Tensor> {
        let entries = &self.registry.entries;
        for &i in &self.frozen_params {
            module.set_tensor(i, &entries[i].tensor.detach())?;
        }
        let y = module.forward(x);
        for &i in &self.frozen_params {
            module.set_tensor(i, &entries[i].tensor)?;
        }
        y
    }
}

/// Why torch.jit.load refused a file, said for the person who passed it. libtorch's own
/// message goes on about corrupted checkpoints after its first sentence; a `torch.save` file
/// (no `constants.pkl`) is the likely mix-up and gets its own advice.
fn not_torchscript(error: &str) -> String {
    let how = "save the model with torch.jit.script(model).save(PATH)";
    if error.contains("constants.pkl") {
        return format!(
            "a torch.save file (weights), not a TorchScript model: {how}, and pass weights \
             with --weights"
        );
    }
    let first = error.split(". ").next().unwrap_or(error);
    format!("not a TorchScript file ({first}); {how} or torch.jit.trace(model, example)")
}

/// The original's rule for one tensor of `module` (see the module documentation).
fn kind(module: &ModuleInfo, t: &TensorInfo) -> TensorKind {
    if !t.parameter {
        return TensorKind::Buffer;
    }
    match t.attribute.as_str() {
        "bias" => TensorKind::Bias,
        "weight" if is_batch_norm(&module.class) || module.name.contains("bn") => {
            TensorKind::BnWeight
        }
        _ => TensorKind::Weight,
    }
}

/// `BatchNorm1d`, `BatchNorm2d`, `BatchNorm3d`: the original's `isinstance(v, BatchNorm2d)`,
/// widened to every dimension.
fn is_batch_norm(class: &str) -> bool {
    matches!(class, "BatchNorm1d" | "BatchNorm2d" | "BatchNorm3d")
}

fn registry(m: &ScriptModule, backbone: &[bool]) -> Result<Registry> {
    let entries = m
        .tensors()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let kind = kind(&m.modules()[t.module], t);
            let tensor = m.tensor(i)?;
            let tensor = if kind.trainable() {
                tensor.f_set_requires_grad(true)?
            } else {
                tensor
            };
            Ok(Entry {
                name: m.tensor_name(i),
                tensor,
                kind,
                subnet: if backbone[i] {
                    Subnet::Backbone
                } else {
                    Subnet::Head
                },
            })
        })
        .collect::<Result<_>>()?;
    Ok(Registry { entries })
}

/// Two parameter names of one tensor, if the model shares any.
fn tied(registry: &Registry) -> Option<(String, String)> {
    let mut seen = std::collections::HashMap::new();
    for e in (registry.entries.iter()).filter(|e| e.kind.trainable() && e.tensor.numel() > 0) {
        if let Some(first) = seen.insert(e.tensor.data_ptr() as usize, &e.name) {
            return Some((first.clone(), e.name.clone()));
        }
    }
    None
}

impl Network for TorchScript {
    fn name(&self) -> &str {
        &self.name
    }

    fn registry(&self) -> &Registry {
        &self.registry
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut module = self.module.borrow_mut();
        self.set_mode(&mut module, mode)?;
        match mode {
            Mode::TrainFrozen => self.forward_frozen(&mut module, x),
            Mode::Train | Mode::Eval => module.forward(x),
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "freeze phase and --group-by subnet: {}",
            self.split.description
        )];
        if !self.outside_rule.is_empty() {
            notes.push(format!(
                "parameters not named weight or bias, which the original's group rule does not \
                 place, join group 1 (decay): {}",
                self.outside_rule.join(", ")
            ));
        }
        notes
    }

    /// `<name>.pt`: the module with the checkpoint's weights, in train mode as a freshly
    /// scripted module is, for `torch.jit.load`.
    fn checkpoint_files(&self, name: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut module = self.module.borrow_mut();
        self.set_mode(&mut module, Mode::Train)?;
        Ok(vec![(format!("{name}.pt"), module.save()?)])
    }
}
