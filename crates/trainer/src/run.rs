//! The training run: setup (plan, data, model, weights, groups, optimizer), the epoch loop
//! that applies the schedule's lr before every epoch or iteration, validation, logs,
//! checkpoints, charts, interruption and resuming.
//!
//! The lr rule: the value applied at a step is `schedule.lr(epoch, iteration)` times the
//! group's multiplier, nothing else; lr.csv records the value read back from group 0.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Parser;
use lrplan_schedule::{Phase, Schedule, plan_file};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{self, Meta};
use crate::cli::{DeviceArg, TrainArgs};
use crate::data::{self, Dataset, LoaderSpec};
use crate::error::{Error, Result};
use crate::groups;
use crate::log::{EpochMetrics, Logs};
use crate::model::Model;
use crate::optim::Optimizer;
use crate::progress::Progress;

/// Ctrl-C presses seen so far (set by the handler installed in main).
pub static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub out: PathBuf,
    pub metrics: Vec<EpochMetrics>,
    pub seconds: f64,
    pub steps: u64,
    /// Seconds spent in training iterations (waiting for the batch, forward, backward,
    /// update), after the first [`WARMUP_STEPS`] steps of this invocation.
    pub train_seconds: f64,
    /// Steps timed in `train_seconds`.
    pub timed_steps: u64,
}

/// Steps excluded from the throughput figure (allocator and kernel warm-up).
pub const WARMUP_STEPS: u64 = 5;

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

/// Entry point of `trainer train`. `argv` is the command line, stored for `--resume`.
pub fn train(args: TrainArgs, argv: Vec<String>) -> Result<Outcome> {
    // Resuming: the original command line decides everything but a few run-time knobs.
    let (args, argv, resume) = match &args.resume {
        Some(dir) => {
            let meta = checkpoint::load_meta(dir, "last")?;
            let mut orig = TrainArgs::try_parse_from(
                std::iter::once("train".to_string()).chain(meta.argv.iter().cloned()),
            )
            .map_err(|e| Error::Checkpoint {
                path: dir.join("last.json"),
                reason: format!("stored command line does not parse: {e}"),
            })?;
            orig.out = Some(dir.clone());
            orig.stop_after_epochs = args.stop_after_epochs;
            orig.max_steps = args.max_steps.or(orig.max_steps);
            if args.threads.is_some() {
                orig.threads = args.threads;
            }
            (orig, meta.argv.clone(), Some(meta))
        }
        None => (args, argv, None),
    };
    if let Some(n) = args.threads {
        if n < 1 {
            return Err(Error::flag("--threads", "must be at least 1"));
        }
        tch::set_num_threads(n);
    }
    let device = resolve_device(&args.device)?;
    let out = args
        .out
        .clone()
        .expect("clap requires --out without --resume");

    // Plan: the resumed run trains the plan stored in its checkpoint.
    let plan_path = args.plan.clone().unwrap_or_else(|| out.join("plan.toml"));
    let plan_text = match &resume {
        Some(m) => m.plan.clone(),
        None => std::fs::read_to_string(&plan_path)
            .map_err(|e| Error::io(&plan_path, "read plan", e))?,
    };
    let plan = plan_file::from_toml(&plan_text).map_err(|error| Error::Plan {
        path: plan_path.clone(),
        error,
    })?;
    let schedule = Schedule::new(&plan).map_err(|error| Error::Plan {
        path: plan_path.clone(),
        error,
    })?;
    if args.image_size < 8 {
        return Err(Error::flag("--image-size", "must be at least 8 pixels"));
    }
    if args.group_by == groups::GroupBy::Kind && args.head_lr_mult != 1.0 {
        return Err(Error::flag(
            "--head-lr-mult",
            "applies to --group-by subnet only (kind groups all use the schedule's lr)",
        ));
    }
    if !(args.head_lr_mult.is_finite() && args.head_lr_mult > 0.0) {
        return Err(Error::flag("--head-lr-mult", "must be a positive number"));
    }

    // Data.
    let (train_set, val_set) = load_data(&args)?;
    check_plan_against_data(&plan_path, &schedule, train_set.len())?;
    println!(
        "data: {} train / {} val images, {} classes, {}x{} pixels",
        train_set.len(),
        val_set.len(),
        train_set.classes.len(),
        args.image_size,
        args.image_size
    );

    // Model, weights, groups, optimizer.
    tch::manual_seed(args.seed as i64);
    let model = Model::new(args.model, train_set.classes.len(), device, args.init)?;
    println!(
        "model: {} ({} parameters) on {device:?}",
        args.model.name(),
        model.parameter_count()
    );
    if let (Some(w), None) = (&args.weights, &resume) {
        let opts = crate::pretrained::WeightOptions {
            entry: args.weights_entry.clone(),
            strip_prefix: args.strip_prefix.clone(),
            add_prefix: args.add_prefix.clone(),
            rename: args.rename.clone(),
            auto_prefix: args.auto_prefix,
        };
        let loaded = crate::pretrained::load(&model, w, &opts)?;
        println!("weights: {}\n{}", w.display(), loaded.report);
    }
    let specs = groups::build(&model, args.group_by, args.head_lr_mult);
    print!(
        "{}",
        groups::summary(&model, &specs, plan.optimizer.weight_decay)
    );
    let mut opt = Optimizer::new(
        plan.optimizer.kind,
        plan.optimizer.momentum,
        plan.optimizer.weight_decay,
        specs
            .iter()
            .map(|g| {
                let params = g
                    .members
                    .iter()
                    .zip(&g.decays)
                    .map(|(&i, &d)| {
                        let e = &model.registry.entries[i];
                        (e.name.clone(), e.tensor.shallow_clone(), d)
                    })
                    .collect();
                (g.lr_mult, params)
            })
            .collect(),
    );

    // Run folder.
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, "create run folder", e))?;
    let mut state = match resume {
        Some(meta) => {
            restore(&out, &model, &mut opt)?;
            let logs = Logs::resume(&out, &meta.log_lengths)?;
            // Counted from 1 like the progress lines ("epoch 15/20"); the CSVs count from 0.
            println!(
                "resuming {} at epoch {}/{}, iteration {} (epoch {} in the logs)",
                out.display(),
                meta.epoch + 1,
                schedule.plan().epochs.total,
                meta.iteration,
                meta.epoch
            );
            RunState { meta, logs }
        }
        None => {
            let copy = out.join("plan.toml");
            if plan_path != copy {
                std::fs::write(&copy, &plan_text).map_err(|e| Error::io(&copy, "write", e))?;
            }
            let logs = Logs::create(&out)?;
            let argv = argv
                .into_iter()
                .skip_while(|a| a != "train")
                .skip(1)
                .collect();
            RunState {
                meta: Meta {
                    argv,
                    plan: plan_text.clone(),
                    seed: args.seed,
                    epoch: plan.epochs.start,
                    iteration: 0,
                    optimizer_steps: 0,
                    epoch_loss_sum: 0.0,
                    epoch_loss_count: 0,
                    metrics: Vec::new(),
                    best_val_acc: None,
                    log_lengths: Vec::new(),
                },
                logs,
            }
        }
    };

    let ctx = Ctx {
        args: &args,
        out: &out,
        device,
        schedule: &schedule,
        model: &model,
        train_set: Arc::new(train_set),
        val_set: Arc::new(val_set),
    };
    let started = Instant::now();
    let steps_before = state.meta.optimizer_steps;
    let mut timing = Timing::default();
    ctx.epochs(&mut opt, &mut state, &mut timing)?;
    Ok(Outcome {
        out: out.clone(),
        metrics: state.meta.metrics.clone(),
        seconds: started.elapsed().as_secs_f64(),
        steps: state.meta.optimizer_steps - steps_before,
        train_seconds: timing.seconds,
        timed_steps: timing.steps,
    })
}

fn load_data(args: &TrainArgs) -> Result<(Dataset, Dataset)> {
    let size = args.image_size;
    if let Some(n) = args.synthetic {
        if n == 0 {
            return Err(Error::flag("--synthetic", "needs at least one image"));
        }
        return Ok((
            Dataset::synthetic(n, 10, size, args.seed),
            Dataset::synthetic(
                if args.no_val { 10 } else { (n / 5).max(10) },
                10,
                size,
                args.seed + 1,
            ),
        ));
    }
    let dir = args.data.as_deref().expect("clap requires --data");
    let train = data::load_split(dir, "train", None, size, args.skip_bad_images)?;
    let val = data::load_split(dir, "val", Some(&train.classes), size, args.skip_bad_images)?;
    for set in [&train, &val] {
        if !set.skipped.is_empty() {
            println!(
                "skipped {} undecodable image(s) (--skip-bad-images):",
                set.skipped.len()
            );
            for (p, why) in &set.skipped {
                println!("  {}: {why}", p.display());
            }
        }
    }
    Ok((train, val))
}

/// Per-iteration plans fix the iterations per epoch; the loader must yield exactly those.
/// A per-epoch plan's `dataset_size` plays no part in its lrs (the page keeps the field while
/// the user switches granularity), so it is not held against the data.
fn check_plan_against_data(plan_path: &Path, schedule: &Schedule, n: usize) -> Result<()> {
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
    for p in schedule.phases() {
        let yields = data::batches_per_epoch(n, p.batch_size as usize, plan.updates.drop_last);
        if yields as u64 != p.iters_per_epoch {
            return Err(mismatch(format!(
                "the {} phase plans {} iterations per epoch but {n} images at batch size {} \
                 give {yields} ({}, updates.drop_last = {})",
                p.phase.name(),
                p.iters_per_epoch,
                p.batch_size,
                if plan.updates.drop_last {
                    "floor"
                } else {
                    "ceil"
                },
                plan.updates.drop_last
            )));
        }
    }
    Ok(())
}

/// Loads `last` model weights and optimizer state into a freshly built model.
fn restore(dir: &Path, model: &Model, opt: &mut Optimizer) -> Result<()> {
    let p = checkpoint::paths(dir, "last");
    let mut tensors = checkpoint::read_tensors(&p.model)?;
    let _guard = tch::no_grad_guard();
    for e in &model.registry.entries {
        let t = tensors.remove(&e.name).ok_or_else(|| Error::Checkpoint {
            path: p.model.clone(),
            reason: format!("tensor {} is missing", e.name),
        })?;
        if t.size() != e.tensor.size() {
            return Err(Error::Checkpoint {
                path: p.model.clone(),
                reason: format!(
                    "{} has shape {:?}, the model {:?}",
                    e.name,
                    t.size(),
                    e.tensor.size()
                ),
            });
        }
        let mut dst = e.tensor.shallow_clone();
        dst.f_copy_(&t.f_to_kind(e.tensor.kind())?)?;
    }
    let state = checkpoint::read_tensors(&p.optim)?;
    opt.import(state, &p.optim)
}

#[derive(Default)]
struct Timing {
    seen: u64,
    steps: u64,
    seconds: f64,
}

struct RunState {
    meta: Meta,
    logs: Logs,
}

struct Ctx<'a> {
    args: &'a TrainArgs,
    out: &'a Path,
    device: Device,
    schedule: &'a Schedule,
    model: &'a Model,
    train_set: Arc<Dataset>,
    val_set: Arc<Dataset>,
}

impl Ctx<'_> {
    fn epochs(&self, opt: &mut Optimizer, st: &mut RunState, timing: &mut Timing) -> Result<()> {
        let plan = self.schedule.plan();
        let total = plan.epochs.total;
        let mut progress = Progress::new(self.schedule, st.meta.optimizer_steps);
        let mut epochs_this_call = 0;
        while st.meta.epoch < total {
            let epoch = st.meta.epoch;
            let started = Instant::now();
            let phase = *self.schedule.phase_at(epoch);
            let freeze = phase.phase == Phase::Freeze;
            let bs = phase.batch_size as usize;
            let iters = data::batches_per_epoch(self.train_set.len(), bs, plan.updates.drop_last);
            let first_step = self
                .schedule
                .first_step_of_epoch(epoch)
                .expect("epoch inside the run");
            if !self.schedule.per_iteration() {
                opt.set_lr(self.schedule.lr(epoch, 0));
                if st.meta.iteration == 0 {
                    let step = self.schedule.step(first_step).expect("step inside the run");
                    st.logs.lr_row(step, opt.lr())?;
                }
            }
            let rx = data::spawn_loader(
                self.train_set.clone(),
                LoaderSpec {
                    batch_size: bs,
                    drop_last: plan.updates.drop_last,
                    train: true,
                    flip: !self.args.no_flip,
                    augment: !self.args.no_augment,
                    seed: self.args.seed,
                    epoch,
                    first_batch: st.meta.iteration as usize,
                },
            );
            progress.epoch(epoch, phase.phase, iters);
            let params = opt.params();
            let mut t0 = Instant::now();
            for batch in rx {
                if let Some((path, reason)) = batch.error {
                    return Err(Error::data(&path, format!("cannot decode image: {reason}")));
                }
                let it = batch.index as u64;
                if self.schedule.per_iteration() {
                    opt.set_lr(self.schedule.lr(epoch, it));
                    let step = self
                        .schedule
                        .step(first_step + it)
                        .expect("step inside the run");
                    st.logs.lr_row(step, opt.lr())?;
                }
                let n = batch.labels.len() as i64;
                let s = self.train_set.size as i64;
                let x = Tensor::from_slice(&batch.pixels)
                    .f_reshape([n, 3, s, s])?
                    .f_to_device(self.device)?;
                let y = Tensor::from_slice(&batch.labels).f_to_device(self.device)?;
                let logits = self.model.forward(&x, true, freeze)?;
                let loss = logits.f_cross_entropy_loss::<Tensor>(
                    &y,
                    None,
                    tch::Reduction::Mean,
                    -100,
                    0.0,
                )?;
                let loss_v = loss.f_double_value(&[])?;
                if !loss_v.is_finite() {
                    return Err(Error::NonFinite {
                        step: st.meta.optimizer_steps,
                        epoch,
                        iteration: it,
                        lr: opt.lr(),
                        loss: loss_v as f32,
                    });
                }
                let grads = Tensor::f_run_backward(&[&loss], &params, false, false)?;
                opt.step_with(grads)?;
                st.logs
                    .step_row(st.meta.optimizer_steps, epoch, it, opt.lr(), loss_v)?;
                st.meta.optimizer_steps += 1;
                st.meta.epoch_loss_sum += loss_v;
                st.meta.epoch_loss_count += 1;
                st.meta.iteration = it + 1;
                timing.seen += 1;
                if timing.seen > WARMUP_STEPS {
                    timing.steps += 1;
                    timing.seconds += t0.elapsed().as_secs_f64();
                }
                progress.step(it, opt.lr(), loss_v, n as usize);
                t0 = Instant::now();
                let stop_steps = self
                    .args
                    .max_steps
                    .is_some_and(|m| st.meta.optimizer_steps >= m);
                if INTERRUPTS.load(Ordering::SeqCst) > 0 || stop_steps {
                    if st.meta.iteration as usize >= iters {
                        break;
                    }
                    progress.finish();
                    self.save(opt, st, "last")?;
                    if stop_steps {
                        return Ok(());
                    }
                    return Err(Error::Interrupted {
                        path: self.out.to_path_buf(),
                    });
                }
            }
            // Validation and end-of-epoch bookkeeping.
            let (val_loss, val_acc) = if self.args.no_val {
                (f64::NAN, f64::NAN)
            } else {
                self.validate()?
            };
            let m = EpochMetrics {
                epoch,
                lr: opt.lr(),
                train_loss: st.meta.epoch_loss_sum / st.meta.epoch_loss_count.max(1) as f64,
                val_loss,
                val_acc,
                seconds: started.elapsed().as_secs_f64(),
            };
            progress.epoch_done(&m);
            st.logs.metrics_row(&m)?;
            st.meta.metrics.push(m);
            st.meta.epoch = epoch + 1;
            st.meta.iteration = 0;
            st.meta.epoch_loss_sum = 0.0;
            st.meta.epoch_loss_count = 0;
            let best = !val_acc.is_nan() && st.meta.best_val_acc.is_none_or(|b| val_acc > b);
            if best {
                st.meta.best_val_acc = Some(val_acc);
            }
            self.save(opt, st, "last")?;
            if best {
                self.save(opt, st, "best")?;
            }
            if !self.args.no_charts {
                crate::charts::draw(self.out, &st.meta.metrics)?;
            }
            epochs_this_call += 1;
            let stop_steps = self
                .args
                .max_steps
                .is_some_and(|m| st.meta.optimizer_steps >= m);
            if self.args.stop_after_epochs == Some(epochs_this_call) || stop_steps {
                break;
            }
            if INTERRUPTS.load(Ordering::SeqCst) > 0 {
                return Err(Error::Interrupted {
                    path: self.out.to_path_buf(),
                });
            }
        }
        progress.finish();
        Ok(())
    }

    /// Writes checkpoint `name`. Any failure (the logs' flush included) leaves the previous
    /// checkpoint in place, and the message says so and how to go on.
    fn save(&self, opt: &Optimizer, st: &mut RunState, name: &str) -> Result<()> {
        let mut write = || -> Result<()> {
            st.meta.log_lengths = st.logs.lengths()?;
            let model: Vec<(String, Tensor)> = self
                .model
                .registry
                .entries
                .iter()
                .map(|e| (e.name.clone(), e.tensor.shallow_clone()))
                .collect();
            checkpoint::save(self.out, name, &model, &opt.export(), &st.meta)
        };
        write().map_err(|e| Error::Save {
            dir: self.out.to_path_buf(),
            error: Box::new(e),
            had_checkpoint: checkpoint::paths(self.out, "last").meta.exists(),
        })
    }

    /// Mean loss and accuracy over the validation set, eval mode, no gradients.
    fn validate(&self) -> Result<(f64, f64)> {
        let _guard = tch::no_grad_guard();
        let rx = data::spawn_loader(
            self.val_set.clone(),
            LoaderSpec {
                batch_size: 256,
                drop_last: false,
                train: false,
                flip: false,
                augment: false,
                seed: 0,
                epoch: 0,
                first_batch: 0,
            },
        );
        let (mut loss_sum, mut correct, mut count) = (0.0, 0i64, 0i64);
        let s = self.val_set.size as i64;
        for batch in rx {
            if let Some((path, reason)) = batch.error {
                return Err(Error::data(&path, format!("cannot decode image: {reason}")));
            }
            let n = batch.labels.len() as i64;
            let x = Tensor::from_slice(&batch.pixels)
                .f_reshape([n, 3, s, s])?
                .f_to_device(self.device)?;
            let y = Tensor::from_slice(&batch.labels).f_to_device(self.device)?;
            let logits = self.model.forward(&x, false, false)?;
            let loss =
                logits.f_cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Sum, -100, 0.0)?;
            loss_sum += loss.f_double_value(&[])?;
            correct += logits
                .f_argmax(1, false)?
                .f_eq_tensor(&y)?
                .f_sum(Kind::Int64)?
                .f_int64_value(&[])?;
            count += n;
        }
        Ok((loss_sum / count as f64, correct as f64 / count as f64))
    }
}
