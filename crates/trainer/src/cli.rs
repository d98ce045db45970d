//! Command-line interface (clap derive). Lives in the library so tests and the binary share
//! one definition of every flag.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, Parser, Subcommand};

use crate::amp::{self, Precision};
use crate::data::Style;
use crate::ema;
use crate::groups::GroupBy;
use crate::model::{Init, ModelArg};

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
    Doctor(DoctorArgs),
    /// Train a model on an image folder with the plan's learning-rate schedule.
    Train(Box<TrainArgs>),
    /// Images per second through the data pipeline alone (decode, transform, batch tensor).
    #[command(hide = true)]
    BenchData(BenchDataArgs),
}

/// The flags of `trainer doctor`.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Then train the small CNN a few steps on cuda:0 and on the CPU from the same weights
    /// and batches, compare losses and weights (relative tolerance 1e-2: TF32 and cuDNN's
    /// algorithms round differently) and count the host syncs per GPU step. Exits 1 when
    /// they differ, and when no CUDA device is visible (saying so).
    #[arg(long)]
    pub check_cuda: bool,
}

/// The flags of `trainer bench-data` (scripts/bench-data.sh).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchDataArgs {
    /// Image folder (DIR/train/<class>/*, DIR/val/<class>/*).
    #[arg(long, value_name = "DIR", required_unless_present = "synthetic")]
    pub data: Option<PathBuf>,

    /// N random images in memory instead of --data (batch assembly alone).
    #[arg(long, value_name = "N")]
    pub synthetic: Option<usize>,

    /// The split whose transform runs: train (random, shuffled) or val.
    #[arg(long, default_value = "train", value_parser = ["train", "val"])]
    pub split: String,

    #[arg(long, default_value_t = 224)]
    pub image_size: usize,

    #[arg(long, value_enum, default_value = "imagenet")]
    pub augment: Style,

    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,

    /// Passes over the split; each is timed on its own.
    #[arg(long, default_value_t = 3)]
    pub epochs: u32,

    /// Time the loader's batches alone, not their conversion to a tensor: the loader's
    /// share when the consuming thread is free (as on a GPU, which copies the batch itself).
    #[arg(long)]
    pub batches_only: bool,
}

/// Where tensors live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// `--dist-timeout`'s default: ten minutes, as PyTorch's for NCCL.
pub const DEFAULT_DIST_TIMEOUT: u64 = 600;

fn default_dist_timeout() -> u64 {
    DEFAULT_DIST_TIMEOUT
}

/// The flags of `trainer train`. A run's checkpoint keeps them (resolved: paths absolute), so
/// `--resume` continues with exactly these settings.
#[derive(Debug, Clone, Parser, serde::Serialize, serde::Deserialize)]
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
    /// optimizer state) with the settings it started with. Only --data (the same classes
    /// and images, moved), --device, --threads, --deterministic, --no-charts and
    /// --dist-timeout may be given with it; under a launcher every rank may name RUN_DIR, only rank 0 reads it.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,

    /// Start a fresh run in --out even though it holds one: the old run is moved aside to
    /// RUN_DIR.previous-N (never deleted).
    #[arg(long)]
    pub start_over: bool,

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

    /// A built-in architecture (small-cnn, resnet18, resnet34, resnet50; ResNets use
    /// torchvision's tensor names) or a TorchScript file (torch.jit.script / torch.jit.trace)
    /// whose forward maps [N, 3, H, W] to logits [N, classes], trained from its own weights.
    #[arg(long, default_value = "small-cnn", value_name = "NAME|FILE")]
    pub model: ModelArg,

    /// TorchScript models: tensors whose names start with PREFIX are the backbone, frozen in
    /// the freeze phase and group 0 of --group-by subnet (repeatable). Default: everything
    /// but the module holding the last parameter (fc in a ResNet).
    #[arg(long, value_name = "PREFIX", conflicts_with = "head_prefix")]
    pub freeze_prefix: Vec<String>,

    /// TorchScript models: tensors whose names start with PREFIX are the head, the rest the
    /// backbone (repeatable); the other way to say what --freeze-prefix says.
    #[arg(long, value_name = "PREFIX")]
    pub head_prefix: Vec<String>,

    /// Model input size: images become SIZE x SIZE pixels (see --augment for how).
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,

    /// Seed for weight init, data order (seed + epoch) and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Fresh-weight init of a built-in model: normal = conv N(0,0.02), BN weight N(1,0.02) (the original);
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

    /// No augmentation at all (benchmarks against a script that has none): --augment none.
    #[arg(long)]
    pub no_augment: bool,

    /// Transforms. imagenet: torchvision's RandomResizedCrop(size) + horizontal flip in
    /// training, Resize(round(size / 0.875)) + CenterCrop(size) for validation (photos,
    /// pretrained backbones, 224 px); cifar: the image squashed to the square, a random crop
    /// after zero padding + flip in training (small images; the default); none: squashed only.
    #[arg(long, value_enum, value_name = "STYLE", conflicts_with = "no_augment")]
    #[serde(default)]
    pub augment: Option<Style>,

    /// Normalisation mean per channel after scaling to [0, 1] (default: ImageNet's
    /// 0.485,0.456,0.406).
    #[arg(
        long,
        value_name = "R,G,B",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    #[serde(default)]
    pub mean: Vec<f32>,

    /// Normalisation standard deviation per channel (default: ImageNet's 0.229,0.224,0.225).
    #[arg(long, value_name = "R,G,B", value_delimiter = ',')]
    #[serde(default)]
    pub std: Vec<f32>,

    /// Skip (and count, and list) images that cannot be decoded instead of stopping.
    #[arg(long)]
    pub skip_bad_images: bool,

    /// Train on N random in-memory images instead of --data (benchmarks); 10 classes.
    #[arg(long, value_name = "N")]
    pub synthetic: Option<usize>,

    /// libtorch intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,

    /// CUDA runs: cuDNN's deterministic algorithms only, without its autotuning (benchmark
    /// mode, on by default: it times the convolution algorithms for each new shape and keeps
    /// the fastest, which may differ from run to run). Slower; runs on the same GPU then
    /// repeat bit for bit. No effect on the CPU, which is always deterministic.
    #[arg(long)]
    #[serde(default)]
    pub deterministic: bool,

    /// What the forward pass computes in: fp32; bf16 (autocast to bfloat16); fp16 (autocast
    /// to float16 with a dynamic loss scaler, PyTorch GradScaler's rules: a step whose
    /// gradients are inf or NaN is skipped, logged in skipped.csv, and halves the scale).
    /// Weights, optimizer state and the loss stay fp32; the lrs are the plan's at every step.
    #[arg(long, value_enum, default_value = "fp32")]
    #[serde(default, skip_serializing_if = "Precision::is_default")]
    pub precision: Precision,

    /// --precision fp16: good steps in a row after which the loss scale doubles
    /// (GradScaler's growth_interval).
    #[arg(long, value_name = "STEPS", default_value_t = amp::GROWTH_INTERVAL)]
    #[serde(
        default = "default_loss_scale_interval",
        skip_serializing_if = "is_default_loss_scale_interval"
    )]
    pub loss_scale_interval: u32,

    /// Keep an exponential moving average of the weights (the original's ModelEMA), updated
    /// after every step; validation, best.* and the checkpoints' weights are the average.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub ema: bool,

    /// --ema: D in the decay D·(1 − exp(−updates / TAU)), from 0 (no averaging) up to 1.
    #[arg(long, value_name = "D", default_value_t = ema::DECAY, requires = "ema")]
    #[serde(
        default = "default_ema_decay",
        skip_serializing_if = "is_default_ema_decay"
    )]
    pub ema_decay: f64,

    /// --ema: TAU in the decay, in steps: how soon the average slows down to D.
    #[arg(long, value_name = "TAU", default_value_t = ema::TAU, requires = "ema")]
    #[serde(
        default = "default_ema_tau",
        skip_serializing_if = "is_default_ema_tau"
    )]
    pub ema_tau: f64,

    /// Convolutional models: weights and input batches in the channels-last (NHWC) memory
    /// format, which GPU convolutions in bf16/fp16 run fastest in. Same values, same results
    /// up to float rounding.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub channels_last: bool,

    /// Data-parallel runs (torchrun): seconds a collective, the start-up or a silent rank may
    /// take before every rank stops with a message naming the one that failed (a silent rank
    /// is declared lost after at most 15 s). Not stored in the run: each invocation says.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_DIST_TIMEOUT)]
    #[serde(skip, default = "default_dist_timeout")]
    pub dist_timeout: u64,

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

// Defaults of the flags added after runs were first recorded: a record leaves them out while
// they have their default, so an older run's record reads (and checks) the same.
fn is_false(b: &bool) -> bool {
    !*b
}

fn default_loss_scale_interval() -> u32 {
    amp::GROWTH_INTERVAL
}

fn is_default_loss_scale_interval(n: &u32) -> bool {
    *n == amp::GROWTH_INTERVAL
}

fn default_ema_decay() -> f64 {
    ema::DECAY
}

fn is_default_ema_decay(d: &f64) -> bool {
    *d == ema::DECAY
}

fn default_ema_tau() -> f64 {
    ema::TAU
}

fn is_default_ema_tau(t: &f64) -> bool {
    *t == ema::TAU
}

/// The long names (without dashes) of the flags given on the command line, as opposed to
/// defaults: `--resume` accepts only some of them.
pub fn given_flags(matches: &ArgMatches) -> Vec<String> {
    let train = TrainArgs::command();
    train
        .get_arguments()
        .filter(|a| matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}
