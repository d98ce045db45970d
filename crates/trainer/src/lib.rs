//! lrplan's native trainer: trains image classifiers with libtorch (through tch) using
//! exactly the learning rates a plan file describes, bit for bit the values the planner page
//! shows, because every lr comes from `lrplan-schedule` and is only multiplied by a group's
//! multiplier (1 by default) before it is applied.
//!
//! Modules, from the inside out:
//! * [`model`]: small CNN and ResNet-18/34/50 over a registry that records each tensor's
//!   torchvision name, module kind and sub-network;
//! * [`groups`]: parameter groups decided by module kind (or sub-network);
//! * [`optim`]: SGD/Adam/AdamW with torch.optim semantics and exportable state;
//! * [`data`]: image folders decoded into memory and a prefetching, augmenting loader;
//! * [`pretrained`]: weight files through `lrplan-weights`;
//! * [`run`]: the training loop; [`log`], [`checkpoint`], [`charts`], [`progress`] its outputs;
//! * [`cli`], [`doctor`]: the command line; [`malloc`]: the C allocator's setting for training.

pub mod charts;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod doctor;
mod error;
pub mod groups;
pub mod log;
pub mod malloc;
pub mod model;
pub mod optim;
pub mod pretrained;
pub mod progress;
pub mod run;

pub use error::{Error, Result};
