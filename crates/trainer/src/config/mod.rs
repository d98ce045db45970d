//! `trainer train`'s flags turned into a validated configuration before any work starts, the
//! way ripgrep turns its low-level flags into `HiArgs`: the resumed run's stored command line
//! merged in, every flag checked, the device resolved, the plan read and compiled, the data
//! listed and held against the plan. Everything after this works from a [`RunConfig`] and
//! never sees a raw flag, so an error here costs the user no decoding, no model build, no
//! training.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use lrplan_schedule::{Schedule, batches_per_epoch, plan_file};
use tch::Device;

use crate::amp::{self, Precision};
use crate::checkpoint::{self, Meta};
use crate::cli::{DeviceArg, TrainArgs};
use crate::data::{self, Listing, Normalize, Style, Transforms};
use crate::distributed::Job;
use crate::error::{Error, Result};
use crate::groups::GroupBy;
use crate::model::{ModelArg, ModelSpec};
use crate::pretrained::WeightOptions;
use crate::run_dir::RunDir;

mod parallel;
mod resume;

/// Everything a run needs to know, checked.
pub struct RunConfig {
    /// The run folder (absolute), locked by this process for the whole run.
    pub out: PathBuf,
    /// The lock of `out`; `None` on the ranks of a data-parallel job other than 0, which
    /// neither read nor write the run folder.
    pub run_dir: Option<RunDir>,
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
    /// How files become model inputs (`--augment`, `--no-flip`, `--mean`, `--std`).
    pub transforms: Transforms,
    pub limits: Limits,
    /// `--precision`, the loss scaler, `--ema` and `--channels-last`.
    pub numerics: NumericSettings,
    pub validate: bool,
    pub charts: bool,
    /// The checkpoint record to continue from.
    pub resume: Option<Meta>,
    /// The settings to store in the checkpoint (paths absolute), continued by `--resume`.
    pub args: TrainArgs,
    /// The `train` arguments as typed, stored for people.
    pub argv: Vec<String>,
    /// The data-parallel job this process is a rank of; `None` for a single process.
    pub job: Option<Rc<Job>>,
}

/// Where the images come from.
pub enum DataSource {
    /// An image folder's two splits, listed.
    Folder {
        train: Listing,
        val: Listing,
        skip_bad: bool,
    },
    /// Random images in memory (benchmarks): `n` to train on, `val` to validate on.
    Synthetic { n: usize, val: usize },
}

impl DataSource {
    /// Training images, as far as the listing knows (`--skip-bad-images` may drop some).
    pub fn train_len(&self) -> usize {
        self.counts().0 as usize
    }

    /// The number of training images when it is certain before decoding, i.e. unless
    /// undecodable images are skipped.
    pub fn exact_train_len(&self) -> Option<usize> {
        match self {
            DataSource::Folder { skip_bad: true, .. } => None,
            _ => Some(self.train_len()),
        }
    }

    /// Listed train and val images.
    pub fn counts(&self) -> (u64, u64) {
        match self {
            DataSource::Folder { train, val, .. } => (train.len() as u64, val.len() as u64),
            DataSource::Synthetic { n, val } => (*n as u64, *val as u64),
        }
    }

    /// The class names in label order.
    pub fn classes(&self) -> Vec<String> {
        match self {
            DataSource::Folder { train, .. } => train.classes.clone(),
            DataSource::Synthetic { .. } => data::synthetic_classes(),
        }
    }

    /// What to name in a message about the data.
    pub fn describe(&self) -> PathBuf {
        match self {
            DataSource::Folder { train, .. } => train
                .split_dir
                .parent()
                .map_or_else(|| train.split_dir.clone(), Path::to_path_buf),
            DataSource::Synthetic { .. } => PathBuf::from("--synthetic"),
        }
    }
}

/// How the numbers of a step are made, beyond the plan: precision, the average of the
/// weights, the memory format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericSettings {
    pub precision: Precision,
    /// fp16: good steps before the loss scale doubles.
    pub loss_scale_interval: u32,
    /// `--ema`'s decay D and its TAU.
    pub ema: Option<(f64, f64)>,
    pub channels_last: bool,
}

impl NumericSettings {
    fn from_args(args: &TrainArgs) -> NumericSettings {
        NumericSettings {
            precision: args.precision,
            loss_scale_interval: args.loss_scale_interval,
            ema: args.ema.then_some((args.ema_decay, args.ema_tau)),
            channels_last: args.channels_last,
        }
    }

    /// One line for the run's start, unless everything is the default (fp32, NCHW, no EMA).
    pub fn describe(&self) -> Option<String> {
        let mut parts = vec![self.precision.name().to_string()];
        if self.precision == Precision::Fp16 {
            parts[0] += &format!(
                " (loss scaler: doubles after {} good steps)",
                self.loss_scale_interval
            );
        }
        if let Some((d, tau)) = self.ema {
            parts.push(format!("EMA of the weights (decay {d}, tau {tau})"));
        }
        if self.channels_last {
            parts.push("channels-last".into());
        }
        let default = self.precision == Precision::Fp32 && parts.len() == 1;
        (!default).then(|| format!("numerics: {}", parts.join(", ")))
    }
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
    /// Checks `args` and prepares the run. `given` names the flags given on the command line
    /// (long names, without dashes) and `argv` is the command line, stored for people. In a
    /// data-parallel `job`, rank 0 prepares the run as a single process would and describes
    /// it to the others, which check their own part ([`parallel`]); every rank agrees before
    /// the configuration is returned.
    pub fn from_args(
        args: TrainArgs,
        given: &[String],
        argv: Vec<String>,
        job: Option<Rc<Job>>,
    ) -> Result<RunConfig> {
        let argv = argv
            .into_iter()
            .skip_while(|a| a != "train")
            .skip(1)
            .collect();
        let follower = job.as_deref().filter(|j| !j.writes());
        let mut cfg = match (follower, args.resume.clone()) {
            (Some(job), _) => parallel::follow(&args, given, argv, job)?,
            (None, Some(dir)) => RunConfig::resumed(&args, given, &dir, argv, job.as_deref())?,
            (None, None) => RunConfig::fresh(absolute_paths(args)?, argv, job.as_deref())?,
        };
        if let Some(job) = &job {
            parallel::join(&cfg, job)?;
        }
        cfg.job = job;
        Ok(cfg)
    }

    /// Whether this process writes the run folder: a single process, or rank 0 of a job.
    pub fn writes(&self) -> bool {
        self.run_dir.is_some()
    }

    /// A new run: everything from the flags; the run folder claimed once the data is listed,
    /// before anything is decoded.
    fn fresh(args: TrainArgs, argv: Vec<String>, job: Option<&Job>) -> Result<RunConfig> {
        check_flags(&args)?;
        let plan_path = args
            .plan
            .clone()
            .ok_or_else(|| Error::flag("--plan", "is required"))?;
        let plan_bytes =
            std::fs::read(&plan_path).map_err(|e| Error::io(&plan_path, "read plan", e))?;
        let schedule = compile(&plan_path, &plan_bytes)?;
        parallel::check_world(&plan_path, &schedule, job)?;
        // UTF-8, or `compile` would have refused it.
        let plan_text = String::from_utf8_lossy(&plan_bytes).into_owned();
        let data = DataSource::list(&args)?;
        check_plan_against_data(&plan_path, &schedule, data.train_len())?;
        check_memory(&args, &schedule)?;
        let device = device(&args, job)?;
        check_model(&args, &data, device)?;
        let out = args
            .out
            .clone()
            .ok_or_else(|| Error::flag("--out", "is required"))?;
        let run_dir = RunDir::create(&out, args.start_over)?;
        let plan = (plan_path, plan_text, schedule);
        let place = (run_dir.path().to_path_buf(), Some(run_dir), device);
        RunConfig::assemble(args, argv, place, plan, data, None)
    }

    /// A resumed run: the stored settings, the few flags that may change, and every check
    /// of what the checkpoint trusts (its record, its plan, its data).
    fn resumed(
        args: &TrainArgs,
        given: &[String],
        dir: &Path,
        argv: Vec<String>,
        job: Option<&Job>,
    ) -> Result<RunConfig> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io(dir, "resolve", e))?;
        let run_dir = RunDir::open(&dir)?;
        let meta = checkpoint::load_meta(&dir, "last")?;
        let args = resume::merge(absolute_paths(args.clone())?, given, &dir, &meta)?;
        check_flags(&args)?;
        let plan_path = dir.join("plan.toml");
        resume::check_plan_file(&plan_path, &meta.plan)?;
        let schedule = compile(&plan_path, meta.plan.as_bytes())?;
        parallel::check_world(&plan_path, &schedule, job)?;
        let data = DataSource::list(&args)?;
        resume::check_data(&data, &meta)?;
        resume::check_record(&meta, &schedule, data.exact_train_len(), &dir)?;
        check_memory(&args, &schedule)?;
        let device = device(&args, job)?;
        check_model(&args, &data, device)?;
        let plan = (plan_path, meta.plan.clone(), schedule);
        let place = (dir, Some(run_dir), device);
        RunConfig::assemble(args, argv, place, plan, data, Some(meta))
    }

    /// The configuration from its checked parts; `place` is the run folder, its lock (rank 0
    /// of a job, or a single process) and the device.
    fn assemble(
        args: TrainArgs,
        argv: Vec<String>,
        (out, run_dir, device): (PathBuf, Option<RunDir>, Device),
        (plan_path, plan_text, schedule): (PathBuf, String, Schedule),
        data: DataSource,
        resume: Option<Meta>,
    ) -> Result<RunConfig> {
        let weights = match (&args.weights, &resume) {
            (Some(w), None) => Some((w.clone(), weight_options(&args))),
            _ => None,
        };
        Ok(RunConfig {
            out,
            run_dir,
            device,
            threads: args.threads,
            plan_path,
            plan_text,
            schedule,
            data,
            image_size: args.image_size,
            seed: args.seed,
            model: model_spec(&args)?,
            weights,
            group_by: args.group_by,
            head_lr_mult: args.head_lr_mult,
            transforms: transforms(&args)?,
            limits: Limits {
                max_steps: args.max_steps,
                stop_after_epochs: args.stop_after_epochs,
            },
            numerics: NumericSettings::from_args(&args),
            validate: !args.no_val,
            charts: !args.no_charts,
            resume,
            args,
            argv,
            job: None,
        })
    }

    /// Whether the resumed run has nothing left to train.
    pub fn finished(&self) -> bool {
        self.resume
            .as_ref()
            .is_some_and(|m| m.epoch >= self.schedule.plan().epochs.total)
    }
}

/// Reads and compiles a plan file's bytes (as the CLI and the page read them: UTF-8, with
/// or without a byte-order mark), errors naming its file.
fn compile(path: &Path, bytes: &[u8]) -> Result<Schedule> {
    let plan_error = |error| Error::Plan {
        path: path.to_path_buf(),
        error,
    };
    let plan = plan_file::from_bytes(bytes).map_err(plan_error)?;
    Schedule::new(&plan).map_err(plan_error)
}

/// The path flags made absolute, so the stored run resumes from any working directory.
fn absolute_paths(mut args: TrainArgs) -> Result<TrainArgs> {
    for p in [
        &mut args.plan,
        &mut args.data,
        &mut args.out,
        &mut args.weights,
    ] {
        if let Some(path) = p.as_mut() {
            *path = std::path::absolute(&*path).map_err(|e| Error::io(path, "resolve", e))?;
        }
    }
    if let ModelArg::File(path) = &mut args.model {
        *path = std::path::absolute(&*path).map_err(|e| Error::io(path, "resolve", e))?;
    }
    Ok(args)
}

fn model_spec(args: &TrainArgs) -> Result<ModelSpec> {
    ModelSpec::from_args(
        &args.model,
        args.init,
        &args.freeze_prefix,
        &args.head_prefix,
    )
}

/// The model held against the data before anything is decoded: a model file is loaded,
/// split and run once ([`ModelSpec::check`]).
fn check_model(args: &TrainArgs, data: &DataSource, device: Device) -> Result<()> {
    model_spec(args)?.check(data.classes().len(), args.image_size, device)
}

/// `--device` resolved: for a single process as given, for a rank of a job its own GPU
/// ([`Job::device`]).
fn device(args: &TrainArgs, job: Option<&Job>) -> Result<Device> {
    match job {
        Some(job) => job.device(&args.device),
        None => resolve_device(&args.device),
    }
}

/// A batch too large for the machine's memory is refused here, by the flags and plan that
/// make it, instead of aborting in an allocation mid-run. The loader holds up to four
/// batches at once (two queued, one being built, one training).
fn check_memory(args: &TrainArgs, schedule: &Schedule) -> Result<()> {
    let batch = schedule.phases().map(|p| p.batch_size).max().unwrap_or(1) as u128;
    let size = args.image_size as u128;
    let need = 4 * batch * 3 * size * size * 4;
    let have = physical_memory().unwrap_or(u128::MAX);
    if need > have {
        return Err(Error::flag(
            "--image-size",
            format!(
                "{size}x{size} pixels at batch size {batch} need {} of memory for the \
                 loader's batches, more than this machine's {}; lower --image-size or the \
                 plan's batch size",
                gigabytes(need),
                gigabytes(have)
            ),
        ));
    }
    Ok(())
}

/// Bytes of RAM (Linux and other Unix with `_SC_PHYS_PAGES`).
fn physical_memory() -> Option<u128> {
    // SAFETY: sysconf reads system constants and has no preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages > 0 && page > 0).then(|| pages as u128 * page as u128)
}

fn gigabytes(bytes: u128) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
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
    if args.dist_timeout == 0 {
        return Err(Error::flag("--dist-timeout", "must be at least 1 second"));
    }
    check_numerics(args)
}

/// `--loss-scale-interval`, `--ema-decay` and `--ema-tau`.
fn check_numerics(args: &TrainArgs) -> Result<()> {
    if args.loss_scale_interval != amp::GROWTH_INTERVAL && args.precision != Precision::Fp16 {
        return Err(Error::flag(
            "--loss-scale-interval",
            "applies to --precision fp16 only (bf16 and fp32 need no loss scaling)",
        ));
    }
    if args.loss_scale_interval == 0 {
        return Err(Error::flag(
            "--loss-scale-interval",
            "must be at least 1 step",
        ));
    }
    if !(0.0..1.0).contains(&args.ema_decay) {
        return Err(Error::flag(
            "--ema-decay",
            "must be at least 0 and less than 1 (at 1 the average would never move)",
        ));
    }
    if !(args.ema_tau.is_finite() && args.ema_tau > 0.0) {
        return Err(Error::flag(
            "--ema-tau",
            "must be a positive number of steps",
        ));
    }
    Ok(())
}

/// `--augment` (`--no-augment` is `none`), `--no-flip`, `--mean` and `--std`, checked.
fn transforms(args: &TrainArgs) -> Result<Transforms> {
    let style = match (args.no_augment, args.augment) {
        (true, _) => Style::None,
        (false, style) => style.unwrap_or(Style::Cifar),
    };
    if style == Style::Imagenet && args.synthetic.is_some() {
        return Err(Error::flag(
            "--augment",
            "imagenet crops from the decoded photos, and --synthetic has none: use cifar or none",
        ));
    }
    let channels = |flag: &'static str, given: &[f32], default: [f32; 3], positive: bool| {
        let values: [f32; 3] = match given {
            [] => default,
            [r, g, b] => [*r, *g, *b],
            _ => return Err(Error::flag(flag, "takes three values, R,G,B")),
        };
        match values
            .iter()
            .all(|v| v.is_finite() && (!positive || *v > 0.0))
        {
            true => Ok(values),
            false if positive => Err(Error::flag(flag, "values must be positive numbers")),
            false => Err(Error::flag(flag, "values must be finite numbers")),
        }
    };
    let imagenet = Normalize::IMAGENET;
    Ok(Transforms {
        style,
        flip: !args.no_flip,
        normalize: Normalize {
            mean: channels("--mean", &args.mean, imagenet.mean, false)?,
            std: channels("--std", &args.std, imagenet.std, true)?,
        },
    })
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
            let val = if args.no_val { 10 } else { (n / 5).max(10) };
            return Ok(DataSource::Synthetic { n, val });
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
    if let Some(size) = plan.updates.dataset_size
        && size != n as u64
    {
        return Err(mismatch(format!(
            "updates.dataset_size is {size} but the train set has {n} images; \
             set dataset_size = {n}"
        )));
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
