//! Command-line interface (clap derive). Lives in the library so tests and the binary share
//! one definition of every flag.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::groups::GroupBy;
use crate::model::{Arch, Init};

#[derive(Debug, Parser)]
#[command(
    name = "trainer",
    version,
    about = "Train with exactly the learning rates an lrplan plan file describes (libtorch via tch)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print tch/libtorch versions, CUDA and cuDNN availability, devices and threads.
    Doctor,
    /// Train a model on an image folder with the plan's learning-rate schedule.
    Train(Box<TrainArgs>),
}

/// Where tensors live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceArg::Auto),
            "cpu" => Ok(DeviceArg::Cpu),
            "cuda" => Ok(DeviceArg::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceArg::Cuda)
                .ok_or_else(|| format!("{s:?} is not auto, cpu, cuda or cuda:N")),
        }
    }
}

#[derive(Debug, Clone, Parser)]
pub struct TrainArgs {
    /// Plan file (TOML, as the planner page downloads it): the only source of learning rates,
    /// batch sizes, epochs, phases and optimizer settings.
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    pub plan: Option<PathBuf>,

    /// Image folder with train/<class>/* and val/<class>/* (png, jpeg); classes are sorted
    /// by name as torchvision's ImageFolder. Not needed with --synthetic.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["synthetic", "resume"])]
    pub data: Option<PathBuf>,

    /// Run folder for lr.csv, steps.csv, metrics.csv, plan.toml, checkpoints and charts.
    #[arg(long, value_name = "RUN_DIR", required_unless_present = "resume")]
    pub out: Option<PathBuf>,

    /// Continue the run in RUN_DIR from its last checkpoint (same plan, data order, lrs and
    /// optimizer state); the other flags are taken from the checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,

    /// Pretrained weights (safetensors or torch.save file), matched by name and shape; the
    /// match report is printed before training. Tensors whose shape differs are refused.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,

    /// Entry of a checkpoint dict that holds the state dict (e.g. state_dict, model).
    #[arg(long, value_name = "NAME")]
    pub weights_entry: Option<String>,

    /// Remove this prefix from file keys before matching (repeatable), e.g. "module.".
    #[arg(long, value_name = "PREFIX")]
    pub strip_prefix: Vec<String>,

    /// Add this prefix to file keys before matching.
    #[arg(long, value_name = "PREFIX")]
    pub add_prefix: Option<String>,

    /// Rename file keys matching a regex: PATTERN=REPLACEMENT (repeatable).
    #[arg(long, value_name = "PATTERN=REPLACEMENT")]
    pub rename: Vec<String>,

    /// Find and strip a common prefix automatically when nothing matches as is.
    #[arg(long)]
    pub auto_prefix: bool,

    /// auto (CUDA when available), cpu, or cuda:N.
    #[arg(long, default_value = "auto", value_name = "auto|cpu|cuda:N")]
    pub device: DeviceArg,

    /// Architecture. ResNets use torchvision's tensor names.
    #[arg(long, value_enum, default_value = "small-cnn")]
    pub model: Arch,

    /// Images are resized to this square size (pixels).
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,

    /// Seed for weight init, data order (seed + epoch) and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Fresh-weight init: normal = conv N(0,0.02), BN weight N(1,0.02) (the original);
    /// kaiming = torchvision's.
    #[arg(long, value_enum, default_value = "normal")]
    pub init: Init,

    /// Parameter groups: kind = BN weights / other weights (decay) / biases;
    /// subnet = backbone / head (head lr × --head-lr-mult).
    #[arg(long, value_enum, default_value = "kind")]
    pub group_by: GroupBy,

    /// Multiplier of the head group's lr with --group-by subnet (group 0 always has 1).
    #[arg(long, default_value_t = 1.0)]
    pub head_lr_mult: f64,

    /// No random horizontal flip in training (for data where a mirror image is another
    /// class or no image at all, such as digits); the random crop stays.
    #[arg(long)]
    pub no_flip: bool,

    /// No augmentation at all (benchmarks against a script that has none).
    #[arg(long)]
    pub no_augment: bool,

    /// Skip (and count, and list) images that cannot be decoded instead of stopping.
    #[arg(long)]
    pub skip_bad_images: bool,

    /// Train on N random in-memory images instead of --data (benchmarks); 10 classes.
    #[arg(long, value_name = "N")]
    pub synthetic: Option<usize>,

    /// libtorch intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,

    /// Stop after this many optimizer steps in total (benchmarks); checkpoints still saved.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,

    /// Skip validation (benchmarks).
    #[arg(long)]
    pub no_val: bool,

    /// Skip the PNG charts.
    #[arg(long)]
    pub no_charts: bool,

    /// Stop (as if killed) after this many epochs of this invocation, leaving the run
    /// resumable; for tests of --resume.
    #[arg(long, hide = true)]
    pub stop_after_epochs: Option<u32>,
}
