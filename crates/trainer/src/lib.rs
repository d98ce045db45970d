//! lrplan's native trainer: trains image classifiers with libtorch (through tch) using
//! exactly the learning rates a plan file describes, bit for bit the values the planner page
//! shows, because every lr comes from `lrplan-schedule` and is only multiplied by a group's
//! multiplier (1 by default) before it is applied.
//!
//! Modules, from the inside out:
//! * [`model`]: the [`model::Network`] seam every model is trained through, and the built-in
//!   small CNN and ResNet-18/34/50 behind it, with a registry that records each tensor's
//!   torchvision name, kind and sub-network; a user's TorchScript file behind the same seam;
//! * `shim`: the C++ shim (`cpp/`) for what tch does not expose of libtorch (a TorchScript
//!   module's tree and per-module modes);
//! * [`groups`]: parameter groups decided by tensor kind (or sub-network);
//! * [`optim`]: SGD/Adam/AdamW with torch.optim semantics (its multi-tensor kernels) and
//!   exportable state;
//! * [`data`]: image folders listed, decoded into memory, and a prefetching, augmenting loader;
//! * [`tensors`]: the one crossing between `lrplan-weights` tensors and tch tensors;
//!   [`pretrained`]: weight files matched and loaded through it;
//! * [`config`]: the command line turned into a checked [`config::RunConfig`];
//! * [`learner`]: the training step, validation and the epoch loop; [`state`]: the run's
//!   record; [`interrupt`]: stopping a run from outside;
//! * [`distributed`]: data-parallel jobs (torchrun): the rendezvous, heartbeats, rank 0's
//!   description of the run; the model side is [`model::DataParallel`];
//! * [`run`]: `trainer train`, wiring the above; [`run_dir`]: the run folder's lock and
//!   guard; [`log`], [`checkpoint`], [`charts`],
//!   [`progress`] its outputs;
//! * [`cli`], [`doctor`]: the command line, and [`cuda_check`], the GPU's step against the
//!   CPU's; [`malloc`]: the C allocator's setting for training.

pub mod amp;
pub mod charts;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod cuda_check;
pub mod data;
pub mod distributed;
pub mod doctor;
pub mod ema;
mod error;
pub mod groups;
pub mod interrupt;
pub mod learner;
pub mod log;
pub mod malloc;
pub mod model;
pub mod optim;
pub mod pretrained;
pub mod progress;
pub mod run;
pub mod run_dir;
mod shim;
pub mod state;
pub mod tensors;

pub use error::{Error, Result};
