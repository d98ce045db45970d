//! `trainer doctor --check-cuda`: the small CNN trained a few steps on the GPU and on the CPU
//! from the same weights and batches, through the trainer's own step ([`Learner`]), and the
//! losses and parameters compared within [`TOLERANCE`]. It exercises what only a GPU runs:
//! batches in pinned memory uploaded without a wait, the optimizer's multi-tensor kernels, the
//! loss read one step behind, cuDNN's autotuned convolutions; and it counts the host syncs of
//! a GPU step (libtorch's sync debug mode), which `scripts/bench-trainer-gpu.sh` reports.

use std::fmt::Write;
use std::sync::Arc;

use lrplan_schedule::{Schedule, plan_file};
use tch::{Device, Kind, Tensor};

use crate::data::{Dataset, LoaderSpec, Normalize, Style, Transforms, spawn_loader};
use crate::error::{Error, Result};
use crate::groups::{self, GroupBy};
use crate::learner::{Learner, PendingLoss};
use crate::model::{Arch, Builtin, Init, Mode, Network};
use crate::optim::Optimizer;
use crate::shim::device;
use crate::state::Position;

/// Steps each device trains.
pub const STEPS: usize = 8;
/// GPU steps before the sync count starts (cuDNN's autotuning, the allocators' warm-up).
const WARMUP: usize = 2;
/// Largest relative difference allowed. The GPU is not expected to match the CPU's bits:
/// libtorch's default TF32 convolutions round products to 10-bit mantissas (Ampere and later)
/// and cuDNN's algorithms add in other orders, which after a few steps is a few parts in 10⁴.
pub const TOLERANCE: f64 = 1e-2;
const BATCH: usize = 16;
const SIZE: usize = 32;

/// One device's steps.
pub struct Trace {
    pub losses: Vec<f64>,
    /// Every tensor of the model after the last step (on the CPU, as f64).
    pub tensors: Vec<(String, Tensor)>,
    /// Host syncs per step after [`WARMUP`] steps, where libtorch can count them (CUDA).
    pub syncs_per_step: Option<f64>,
}

/// The check: on a machine without CUDA an error that says so (exit status 1).
pub fn run() -> Result<String> {
    if !tch::Cuda::is_available() {
        return Err(Error::flag(
            "--check-cuda",
            "no CUDA device is visible to this libtorch (see `trainer doctor`); the check \
             compares a GPU with the CPU and needs one",
        ));
    }
    device::set_cudnn_mode(false);
    let cpu = train(Device::Cpu, STEPS)?;
    let gpu = train(Device::Cuda(0), STEPS)?;
    compare(&cpu, &gpu, "cuda:0")
}

/// Trains the small CNN `steps` steps on `device` with the benchmark plan, from weights and
/// batches that depend on nothing but fixed seeds.
pub fn train(device: Device, steps: usize) -> Result<Trace> {
    let text = include_str!("../../../scripts/bench-plan.toml.in");
    let plan_error = |e| Error::Libtorch(format!("the check's plan: {e}"));
    let plan = plan_file::from_toml(&text.replace("@BATCH@", &BATCH.to_string()));
    let schedule = Schedule::new(&plan.map_err(plan_error)?).map_err(plan_error)?;
    let model = same_weights(device)?;
    let specs = groups::build(model.registry(), GroupBy::Kind, 1.0);
    let opt = Optimizer::for_groups(&schedule.plan().optimizer, model.registry(), &specs);
    let mut learner = Learner::new(&model, &schedule, opt, device);
    let transform = Transforms {
        style: Style::Cifar,
        flip: true,
        normalize: Normalize::IMAGENET,
    };
    let data = Arc::new(Dataset::synthetic(steps * BATCH, transform.train(SIZE), 0));
    let spec = LoaderSpec {
        batch_size: BATCH,
        drop_last: false,
        train: true,
        seed: 0,
        epoch: 0,
        first_batch: 0,
        pinned: device.is_cuda(),
    };
    let (mut losses, mut pending, mut counted) = (Vec::new(), None::<PendingLoss>, None);
    for batch in spawn_loader(data, spec) {
        let batch = batch?;
        let i = batch.index as u64;
        if batch.index == WARMUP && device.is_cuda() && device::start_sync_count() {
            counted = Some(device::sync_count());
        }
        learner.apply_lr(0, i);
        let at = Position {
            step: i,
            epoch: 0,
            iteration: i,
        };
        if let Some(p) = pending.replace(learner.train_step(&batch, Mode::Train, at)?) {
            losses.push(learner.finish_loss(p)?.0);
        }
    }
    if let Some(p) = pending {
        losses.push(learner.finish_loss(p)?.0);
    }
    let syncs_per_step =
        counted.map(|c| (device::sync_count() - c) as f64 / (steps - WARMUP) as f64);
    let tensors = model.registry().entries.iter().map(|e| {
        Ok((
            e.name.clone(),
            e.tensor.f_to_kind(Kind::Double)?.f_to_device(Device::Cpu)?,
        ))
    });
    Ok(Trace {
        losses,
        tensors: tensors.collect::<Result<_>>()?,
        syncs_per_step,
    })
}

/// The small CNN on `device` with the weights a CPU model of seed 0 gets (a GPU's random
/// numbers differ from the CPU's).
fn same_weights(device: Device) -> Result<Builtin> {
    tch::manual_seed(0);
    let cpu = Builtin::new(Arch::SmallCnn, 10, Device::Cpu, Init::Normal)?;
    let model = Builtin::new(Arch::SmallCnn, 10, device, Init::Normal)?;
    let _guard = tch::no_grad_guard();
    for (dst, src) in model.registry().entries.iter().zip(&cpu.registry().entries) {
        dst.tensor.shallow_clone().f_copy_(&src.tensor)?;
    }
    Ok(model)
}

/// The report of `other` against the CPU's `cpu`, or an error naming the first step or
/// tensor that differs by more than [`TOLERANCE`].
pub fn compare(cpu: &Trace, other: &Trace, name: &str) -> Result<String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "CUDA check: small-cnn, {SIZE} px, batch {BATCH}, {} steps on {name} and on the CPU",
        cpu.losses.len()
    );
    let fail = |what: String| {
        Error::Libtorch(format!(
            "CUDA check failed: {what} (tolerance {TOLERANCE:e})"
        ))
    };
    if cpu.losses.len() != other.losses.len() {
        return Err(fail(format!(
            "{} steps on the CPU, {} on {name}",
            cpu.losses.len(),
            other.losses.len()
        )));
    }
    for (i, (a, b)) in cpu.losses.iter().zip(&other.losses).enumerate() {
        let rel = (a - b).abs() / a.abs().max(f64::MIN_POSITIVE);
        let within = rel <= TOLERANCE;
        let _ = writeln!(
            out,
            "  step {i}: loss {a:.6} (CPU)  {b:.6} ({name})  relative difference {rel:.1e}"
        );
        if !within {
            return Err(fail(format!(
                "the loss of step {i} is {b} on {name}, {a} on the CPU"
            )));
        }
    }
    let mut worst = (0.0, "");
    for ((n, a), (_, b)) in cpu.tensors.iter().zip(&other.tensors) {
        let rel = max_abs(&a.f_sub(b)?)? / max_abs(a)?.max(f64::MIN_POSITIVE);
        let within = rel <= TOLERANCE;
        if !within {
            return Err(fail(format!(
                "{n} differs by {rel:.1e} of its largest value"
            )));
        }
        if rel > worst.0 {
            worst = (rel, n);
        }
    }
    let _ = writeln!(
        out,
        "  tensors after the last step: largest relative difference {:.1e} ({})",
        worst.0, worst.1
    );
    if let Some(s) = other.syncs_per_step {
        let _ = writeln!(
            out,
            "  host syncs per step (libtorch's sync debug mode): {s:.2}"
        );
    }
    let _ = writeln!(out, "CUDA check: ok");
    Ok(out)
}

/// The largest magnitude in `t`.
fn max_abs(t: &Tensor) -> Result<f64> {
    Ok(t.f_abs()?.f_max()?.f_double_value(&[])?)
}
