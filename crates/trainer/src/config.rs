//! `trainer train`'s flags turned into a validated configuration before any work starts, the
//! way ripgrep turns its low-level flags into `HiArgs`: the resumed run's stored command line
//! merged in, every flag checked, the device resolved, the plan read and compiled, the data
//! listed and held against the plan. Everything after this works from a [`RunConfig`] and
//! never sees a raw flag, so an error here costs the user no decoding, no model build, no
//! training.

use std::path::{Path, PathBuf};

use clap::Parser;
use lrplan_schedule::{Schedule, batches_per_epoch, plan_file};
use tch::Device;

use crate::checkpoint::{self, Meta};
use crate::cli::{DeviceArg, TrainArgs};
use crate::data::{self, Listing};
use crate::error::{Error, Result};
use crate::groups::GroupBy;
use crate::model::ModelSpec;
use crate::pretrained::WeightOptions;

/// Everything a run needs to know, checked.
pub struct RunConfig {
    /// The run folder.
    pub out: PathBuf,
    pub device: Device,
    pub threads: Option<i32>,
    /// Where the plan came from (named in messages) and its text (stored in the run).
    pub plan_path: PathBuf,
    pub plan_text: String,
    pub schedule: Schedule,
    pub data: DataSource,
    pub image_size: usize,
    pub seed: u64,
    pub model: ModelSpec,
    /// Pretrained weights to load into a fresh run (never on resume: the checkpoint has them).
    pub weights: Option<(PathBuf, WeightOptions)>,
    pub group_by: GroupBy,
    pub head_lr_mult: f64,
    pub augment: Augment,
    pub limits: Limits,
    pub validate: bool,
    pub charts: bool,
    /// The checkpoint record to continue from.
    pub resume: Option<Meta>,
    /// The `train` arguments to store in the checkpoint, re-parsed by `--resume`.
    pub argv: Vec<String>,
}

/// Where the images come from.
pub enum DataSource {
    /// An image folder's two splits, listed.
    Folder {
        train: Listing,
        val: Listing,
        skip_bad: bool,
    },
    /// `n` random training images in memory, 10 classes (benchmarks).
    Synthetic { n: usize },
}

impl DataSource {
    /// Training images, as far as the listing knows (`--skip-bad-images` may drop some).
    pub fn train_len(&self) -> usize {
        match self {
            DataSource::Folder { train, .. } => train.len(),
            DataSource::Synthetic { n } => *n,
        }
    }
}

/// Training-time augmentation of the images.
#[derive(Debug, Clone, Copy)]
pub struct Augment {
    /// Random crop (and flip) at all.
    pub enabled: bool,
    pub flip: bool,
}

/// Reasons to stop before the plan's last epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Optimizer steps in total (benchmarks).
    pub max_steps: Option<u64>,
    /// Epochs trained by this invocation (tests of resume).
    pub stop_after_epochs: Option<u32>,
}

impl RunConfig {
    /// Checks `args` (the command line `argv`, stored for `--resume`) and prepares the run.
    pub fn from_args(args: TrainArgs, argv: Vec<String>) -> Result<RunConfig> {
        let (args, argv, resume) = match &args.resume {
            Some(dir) => merge_resume(&args, dir)?,
            None => (args, stored_argv(argv), None),
        };
        check_flags(&args)?;
        let device = resolve_device(&args.device)?;
        let out = args.out.clone().ok_or_else(|| {
            Error::flag("--out", "is required unless --resume names the run folder")
        })?;
        let plan_path = args.plan.clone().unwrap_or_else(|| out.join("plan.toml"));
        let plan_text = match &resume {
            Some(m) => m.plan.clone(),
            None => std::fs::read_to_string(&plan_path)
                .map_err(|e| Error::io(&plan_path, "read plan", e))?,
        };
        let plan_error = |error| Error::Plan {
            path: plan_path.clone(),
            error,
        };
        let plan = plan_file::from_toml(&plan_text).map_err(plan_error)?;
        let schedule = Schedule::new(&plan).map_err(plan_error)?;
        let data = DataSource::list(&args)?;
        check_plan_against_data(&plan_path, &schedule, data.train_len())?;
        let weights = match (&args.weights, &resume) {
            (Some(w), None) => Some((w.clone(), weight_options(&args))),
            _ => None,
        };
        Ok(RunConfig {
            out,
            device,
            threads: args.threads,
            plan_path,
            plan_text,
            schedule,
            data,
            image_size: args.image_size,
            seed: args.seed,
            model: ModelSpec::Builtin {
                arch: args.model,
                init: args.init,
            },
            weights,
            group_by: args.group_by,
            head_lr_mult: args.head_lr_mult,
            augment: Augment {
                enabled: !args.no_augment,
                flip: !args.no_flip,
            },
            limits: Limits {
                max_steps: args.max_steps,
                stop_after_epochs: args.stop_after_epochs,
            },
            validate: !args.no_val,
            charts: !args.no_charts,
            resume,
            argv,
        })
    }
}

/// Resuming: the original command line decides everything but a few run-time knobs
/// (`--threads`, `--max-steps`, `--stop-after-epochs`).
fn merge_resume(args: &TrainArgs, dir: &Path) -> Result<(TrainArgs, Vec<String>, Option<Meta>)> {
    let meta = checkpoint::load_meta(dir, "last")?;
    let stored = std::iter::once("train".to_string()).chain(meta.argv.iter().cloned());
    let mut orig = TrainArgs::try_parse_from(stored).map_err(|e| Error::Checkpoint {
        path: dir.join("last.json"),
        reason: format!("stored command line does not parse: {e}"),
    })?;
    orig.out = Some(dir.to_path_buf());
    orig.stop_after_epochs = args.stop_after_epochs;
    orig.max_steps = args.max_steps.or(orig.max_steps);
    if args.threads.is_some() {
        orig.threads = args.threads;
    }
    Ok((orig, meta.argv.clone(), Some(meta)))
}

/// The arguments after `train`, as `--resume` will re-parse them.
fn stored_argv(argv: Vec<String>) -> Vec<String> {
    argv.into_iter()
        .skip_while(|a| a != "train")
        .skip(1)
        .collect()
}

/// The rules clap cannot express.
fn check_flags(args: &TrainArgs) -> Result<()> {
    if args.threads.is_some_and(|n| n < 1) {
        return Err(Error::flag("--threads", "must be at least 1"));
    }
    if args.image_size < 8 {
        return Err(Error::flag("--image-size", "must be at least 8 pixels"));
    }
    if args.group_by == GroupBy::Kind && args.head_lr_mult != 1.0 {
        return Err(Error::flag(
            "--head-lr-mult",
            "applies to --group-by subnet only (kind groups all use the schedule's lr)",
        ));
    }
    if !(args.head_lr_mult.is_finite() && args.head_lr_mult > 0.0) {
        return Err(Error::flag("--head-lr-mult", "must be a positive number"));
    }
    if args.synthetic == Some(0) {
        return Err(Error::flag("--synthetic", "needs at least one image"));
    }
    Ok(())
}

pub fn resolve_device(arg: &DeviceArg) -> Result<Device> {
    match arg {
        DeviceArg::Auto => Ok(Device::cuda_if_available()),
        DeviceArg::Cpu => Ok(Device::Cpu),
        DeviceArg::Cuda(n) => {
            let count = tch::Cuda::device_count() as usize;
            if *n >= count {
                Err(Error::flag(
                    "--device",
                    format!("cuda:{n} requested but {count} CUDA device(s) are available"),
                ))
            } else {
                Ok(Device::Cuda(*n))
            }
        }
    }
}

fn weight_options(args: &TrainArgs) -> WeightOptions {
    WeightOptions {
        entry: args.weights_entry.clone(),
        strip_prefix: args.strip_prefix.clone(),
        add_prefix: args.add_prefix.clone(),
        rename: args.rename.clone(),
        auto_prefix: args.auto_prefix,
    }
}

impl DataSource {
    fn list(args: &TrainArgs) -> Result<DataSource> {
        if let Some(n) = args.synthetic {
            return Ok(DataSource::Synthetic { n });
        }
        let dir = args
            .data
            .as_deref()
            .ok_or_else(|| Error::flag("--data", "is required unless --synthetic is given"))?;
        let train = data::list_split(dir, "train", None)?;
        let val = data::list_split(dir, "val", Some(&train.classes))?;
        Ok(DataSource::Folder {
            train,
            val,
            skip_bad: args.skip_bad_images,
        })
    }
}

/// Per-iteration plans fix the iterations per epoch; the loader must yield exactly those.
/// A per-epoch plan's `dataset_size` plays no part in its lrs (the page keeps the field while
/// the user switches granularity), so it is not held against the data.
pub fn check_plan_against_data(plan_path: &Path, schedule: &Schedule, n: usize) -> Result<()> {
    let plan = schedule.plan();
    let mismatch = |reason: String| Error::Mismatch {
        path: plan_path.to_path_buf(),
        reason,
    };
    if !schedule.per_iteration() {
        return Ok(());
    }
    if let Some(size) = plan.updates.dataset_size {
        if size != n as u64 {
            return Err(mismatch(format!(
                "updates.dataset_size is {size} but the train set has {n} images; \
                 set dataset_size = {n}"
            )));
        }
    }
    let drop_last = plan.updates.drop_last;
    for p in schedule.phases() {
        let yields = batches_per_epoch(n as u64, p.batch_size, drop_last);
        if yields != p.iters_per_epoch {
            return Err(mismatch(format!(
                "the {} phase plans {} iterations per epoch but {n} images at batch size {} \
                 give {yields} ({}, updates.drop_last = {drop_last})",
                p.phase.name(),
                p.iters_per_epoch,
                p.batch_size,
                if drop_last { "floor" } else { "ceil" },
            )));
        }
    }
    Ok(())
}
