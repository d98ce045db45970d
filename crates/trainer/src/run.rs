//! `trainer train` from a [`RunConfig`]: load the data, build the model, load pretrained
//! weights, make the groups and the optimizer, open the run folder (fresh or resumed), wrap
//! the model for data-parallel training when the process is a rank of a job, then hand
//! everything to the [`Fit`] loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::amp::{LossScaler, Precision};
use crate::config::{DataSource, RunConfig};
use crate::data::{Dataset, Shard};
use crate::ema::Ema;
use crate::error::{Error, Result};
use crate::groups;
use crate::interrupt::Interrupter;
use crate::learner::{Fit, Learner, Numerics, Stop, Throughput};
use crate::log::EpochMetrics;
use crate::model::{DataParallel, Network};
use crate::optim::Optimizer;
use crate::state::RunState;

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// A resumed run that had nothing left to train.
    pub already_finished: bool,
    pub out: PathBuf,
    pub metrics: Vec<EpochMetrics>,
    pub seconds: f64,
    pub steps: u64,
    /// Seconds spent in training iterations (waiting for the batch, forward, backward,
    /// update), after the first [`crate::learner::WARMUP_STEPS`] steps of this invocation.
    pub train_seconds: f64,
    /// Steps timed in `train_seconds`.
    pub timed_steps: u64,
}

/// Trains the configured run until it finishes or stops; an interruption is an error that
/// says how to resume.
pub fn train(cfg: RunConfig, interrupter: Interrupter) -> Result<Outcome> {
    if cfg.finished() {
        return Ok(Outcome::finished_before(&cfg));
    }
    if let Some(n) = cfg.threads {
        tch::set_num_threads(n);
    }
    if cfg.device.is_cuda() {
        crate::shim::device::set_cudnn_mode(cfg.args.deterministic);
    }
    let (train_set, val_set) = load_data(&cfg)?;
    tch::manual_seed(cfg.seed as i64);
    let model = cfg.model.build(train_set.classes.len(), cfg.device)?;
    if cfg.numerics.channels_last {
        crate::model::to_channels_last(model.as_ref())?;
    }
    println!(
        "model: {} ({} parameters) on {:?}",
        model.name(),
        model.parameter_count(),
        cfg.device
    );
    for note in model.notes() {
        println!("  {note}");
    }
    // A job's other ranks receive rank 0's weights by broadcast.
    if let (Some((path, opts)), true) = (&cfg.weights, cfg.writes()) {
        let loaded = crate::pretrained::load(model.as_ref(), path, opts)?;
        println!("weights: {}\n{}", path.display(), loaded.report);
    }
    let mut opt = optimizer(&cfg, model.as_ref());
    let (state, ema) = open_state(&cfg, model.as_ref(), &mut opt)?;
    let (model, interrupter) = parallel(&cfg, model, (&mut opt, ema.as_ref()), interrupter)?;
    let numerics = numerics(&cfg, &state, ema)?;
    let mut fit = Fit {
        learner: Learner::new(model.as_ref(), &cfg.schedule, opt, cfg.device)
            .with_numerics(numerics),
        state,
        train: Arc::new(train_set),
        val: cfg.validate.then(|| Arc::new(val_set)),
        seed: cfg.seed,
        shard: cfg.job.as_ref().map_or(Shard::WHOLE, |j| Shard {
            rank: j.rank(),
            count: j.world(),
        }),
        limits: cfg.limits,
        charts: cfg.charts && cfg.writes(),
        interrupter,
        throughput: Throughput::default(),
    };
    let started = Instant::now();
    let steps_before = fit.state.meta.optimizer_steps;
    if fit.run()? == Stop::Interrupted {
        return Err(Error::Interrupted { path: cfg.out });
    }
    Ok(Outcome {
        already_finished: false,
        out: cfg.out.clone(),
        metrics: fit.state.meta.metrics.clone(),
        seconds: started.elapsed().as_secs_f64(),
        steps: fit.state.meta.optimizer_steps - steps_before,
        train_seconds: fit.throughput.seconds,
        timed_steps: fit.throughput.steps,
    })
}

impl Outcome {
    /// The report of a run whose every epoch was already trained.
    fn finished_before(cfg: &RunConfig) -> Outcome {
        let metrics = cfg
            .resume
            .as_ref()
            .map(|m| m.metrics.clone())
            .unwrap_or_default();
        Outcome {
            already_finished: true,
            out: cfg.out.clone(),
            metrics,
            seconds: 0.0,
            steps: 0,
            train_seconds: 0.0,
            timed_steps: 0,
        }
    }
}

/// Decodes the configured data (train, val) and says what it holds.
fn load_data(cfg: &RunConfig) -> Result<(Dataset, Dataset)> {
    let size = cfg.image_size;
    let (train_tf, val_tf) = (cfg.transforms.train(size), cfg.transforms.eval(size));
    let (train, val) = match &cfg.data {
        DataSource::Synthetic { n, val } => {
            let train = Dataset::synthetic(*n, train_tf, cfg.seed);
            (train, Dataset::synthetic(*val, val_tf, cfg.seed + 1))
        }
        DataSource::Folder {
            train,
            val,
            skip_bad,
        } => {
            let train = Dataset::load(train.clone(), train_tf, *skip_bad)?;
            let val = Dataset::load(val.clone(), val_tf, *skip_bad)?;
            for set in [&train, &val] {
                report_skipped(set);
            }
            if !train.skipped.is_empty() {
                // The listing was checked against the plan; the usable images decide.
                crate::config::check_plan_against_data(&cfg.plan_path, &cfg.schedule, train.len())?;
            }
            (train, val)
        }
    };
    println!(
        "data: {} train / {} val images, {} classes, {size}x{size} pixels",
        train.len(),
        val.len(),
        train.classes.len(),
    );
    Ok((train, val))
}

fn report_skipped(set: &Dataset) {
    if set.skipped.is_empty() {
        return;
    }
    println!(
        "skipped {} undecodable image(s) (--skip-bad-images):",
        set.skipped.len()
    );
    for (p, why) in &set.skipped {
        println!("  {}: {why}", p.display());
    }
}

/// The parameter groups (printed) and the plan's optimizer over them.
fn optimizer(cfg: &RunConfig, model: &dyn Network) -> Optimizer {
    let registry = model.registry();
    let specs = groups::build(registry, cfg.group_by, cfg.head_lr_mult);
    let settings = &cfg.schedule.plan().optimizer;
    print!(
        "{}",
        groups::summary(registry, &specs, settings.weight_decay)
    );
    Optimizer::for_groups(settings, registry, &specs)
}

/// The model as the loop trains it, and the interrupter the loop asks: in a data-parallel
/// job, the model wrapped ([`DataParallel`]: rank 0's parameters, buffers, average of the
/// weights and, when resuming, optimizer state on every rank) and an interrupter that stops
/// every rank at the same step.
fn parallel(
    cfg: &RunConfig,
    model: Box<dyn Network>,
    (opt, ema): (&mut Optimizer, Option<&Ema>),
    interrupter: Interrupter,
) -> Result<(Box<dyn Network>, Interrupter)> {
    let Some(job) = &cfg.job else {
        return Ok((model, interrupter));
    };
    let agreed = Interrupter::new();
    let dp = DataParallel::new(model, job.clone(), cfg.device, interrupter, agreed.clone())?;
    if cfg.resume.is_some() {
        dp.share_optimizer(opt)?;
    }
    if let Some(ema) = ema {
        dp.share_tensors(ema.tensors())?;
    }
    println!("  {}", dp.describe());
    Ok((Box::new(dp), agreed))
}

/// The run's record, and with `--ema` the average of the weights: restored from the
/// checkpoint when resuming, else fresh (the average starting at the model's weights); a
/// job's ranks other than 0 keep the record in memory only, and get rank 0's average by
/// broadcast ([`parallel`]).
fn open_state(
    cfg: &RunConfig,
    model: &dyn Network,
    opt: &mut Optimizer,
) -> Result<(RunState, Option<Ema>)> {
    let with_average_of_model = |state: RunState| -> Result<(RunState, Option<Ema>)> {
        let ema = match cfg.numerics.ema {
            Some((decay, tau)) => {
                let updates = state.meta.ema_updates.unwrap_or(0);
                Some(Ema::new(model.registry(), decay, tau, updates)?)
            }
            None => None,
        };
        Ok((state, ema))
    };
    if !cfg.writes() {
        return with_average_of_model(RunState::mirror(cfg));
    }
    let Some(meta) = cfg.resume.clone() else {
        return with_average_of_model(RunState::start(cfg)?);
    };
    // Counted from 1 like the progress lines ("epoch 15/20"); the CSVs count from 0.
    println!(
        "resuming {} at epoch {}/{}, iteration {} (epoch {} in the logs)",
        cfg.out.display(),
        meta.epoch + 1,
        cfg.schedule.plan().epochs.total,
        meta.iteration,
        meta.epoch
    );
    RunState::resume(cfg, meta, model, opt)
}

/// The learner's precision, loss scaler (fp16: fresh, or as the checkpoint left it), average
/// of the weights and memory format.
fn numerics(cfg: &RunConfig, state: &RunState, ema: Option<Ema>) -> Result<Numerics> {
    let n = &cfg.numerics;
    let scaler = match n.precision {
        Precision::Fp16 => {
            let at = state.meta.scaler.unwrap_or_default();
            Some(LossScaler::new(cfg.device, n.loss_scale_interval, at)?)
        }
        _ => None,
    };
    if let Some(line) = n.describe() {
        println!("{line}");
    }
    if n.precision == Precision::Fp16 && !cfg.device.is_cuda() {
        println!(
            "  note: fp16 is a GPU format: libtorch's CPU float16 kernels are tens of times \
             slower than fp32 (bf16 is the CPU's low precision)"
        );
    }
    Ok(Numerics {
        precision: n.precision,
        scaler,
        ema,
        channels_last: n.channels_last,
    })
}
