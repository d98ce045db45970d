//! What a run carries from step to step and across a resume: the checkpoint record
//! ([`Meta`]) and the open logs, and the one way to save both with the model and the
//! optimizer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tch::Tensor;

use crate::amp::Precision;
use crate::checkpoint::{self, Meta};
use crate::config::RunConfig;
use crate::ema::Ema;
use crate::error::{Error, Result};
use crate::log::{EpochMetrics, Logs};
use crate::model::Network;
use crate::optim::Optimizer;

/// Where an optimizer step sits in the run.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    /// Optimizer steps before this one (the `step` column of steps.csv).
    pub step: u64,
    pub epoch: u32,
    pub iteration: u64,
}

/// The run's record and logs.
pub struct RunState {
    pub out: PathBuf,
    pub meta: Meta,
    pub logs: Logs,
    /// Whether this process writes the run folder; a data-parallel rank other than 0 keeps
    /// the same record in memory only (see [`RunState::mirror`]).
    writes: bool,
}

impl RunState {
    /// A fresh run: the plan copied into the folder, empty logs, a record at the plan's
    /// first epoch.
    pub fn start(cfg: &RunConfig) -> Result<RunState> {
        let out = &cfg.out;
        let copy = out.join("plan.toml");
        if cfg.plan_path != copy {
            std::fs::write(&copy, &cfg.plan_text).map_err(|e| Error::io(&copy, "write", e))?;
        }
        Ok(RunState {
            out: out.clone(),
            meta: fresh_meta(cfg),
            logs: Logs::create(out, cfg.numerics.precision == Precision::Fp16)?,
            writes: true,
        })
    }

    /// The state of a data-parallel rank other than 0: the record rank 0 keeps (fresh, or
    /// the resumed checkpoint's), moved step by step in the same way, with no logs and no
    /// checkpoints of its own. The model and optimizer state come from rank 0 by broadcast.
    pub fn mirror(cfg: &RunConfig) -> RunState {
        RunState {
            out: cfg.out.clone(),
            meta: cfg.resume.clone().unwrap_or_else(|| fresh_meta(cfg)),
            logs: Logs::none(),
            writes: false,
        }
    }

    /// Continues from the `last` checkpoint: model and optimizer state restored, logs cut
    /// back to what the checkpoint recorded. With `--ema` the checkpoint's weights are the
    /// average, returned as an [`Ema`], and the model gets the training weights stored beside
    /// the optimizer state (`train.<name>`).
    pub fn resume(
        cfg: &RunConfig,
        mut meta: Meta,
        model: &dyn Network,
        opt: &mut Optimizer,
    ) -> Result<(RunState, Option<Ema>)> {
        let out = &cfg.out;
        // Data moved and named with --data: the record follows it, so the next resume needs
        // no --data (the classes and counts were checked against the record).
        meta.args.data = cfg.args.data.clone();
        let p = checkpoint::paths(out, "last");
        let (weights, mut training) = checkpoint::load_tensors(out, "last", &meta)?;
        model.load_state(weights, &p.model)?;
        let ema = match cfg.numerics.ema {
            None => None,
            Some((decay, tau)) => {
                let updates = meta.ema_updates.unwrap_or(0);
                let ema = Ema::new(model.registry(), decay, tau, updates)?;
                model.load_state(take_prefixed(&mut training, TRAINING_WEIGHTS), &p.optim)?;
                Some(ema)
            }
        };
        opt.import(training, &p.optim)?;
        let logs = Logs::resume(out, &meta.log_lengths)?;
        let state = RunState {
            out: out.clone(),
            meta,
            logs,
            writes: true,
        };
        Ok((state, ema))
    }

    /// Logs a finished optimizer step and counts it. A step the loss scaler skipped
    /// (`skipped`: the scale it overflowed at) is logged in skipped.csv too, and its loss,
    /// which trained nothing, is left out of the epoch's mean.
    pub fn record_step(
        &mut self,
        at: Position,
        lr: f64,
        loss: f64,
        skipped: Option<f32>,
    ) -> Result<()> {
        self.logs
            .step_row(at.step, at.epoch, at.iteration, lr, loss)?;
        let m = &mut self.meta;
        m.optimizer_steps += 1;
        m.iteration = at.iteration + 1;
        match skipped {
            Some(scale) => self
                .logs
                .skipped_row(at.step, at.epoch, at.iteration, scale)?,
            None => {
                m.epoch_loss_sum += loss;
                m.epoch_loss_count += 1;
            }
        }
        Ok(())
    }

    /// Mean training loss of the epoch so far; NaN when no step counted (every one skipped
    /// by the fp16 loss scaler).
    pub fn epoch_loss(&self) -> f64 {
        match self.meta.epoch_loss_count {
            0 => f64::NAN,
            n => self.meta.epoch_loss_sum / n as f64,
        }
    }

    /// Logs an epoch's metrics and moves the record to the next epoch. Returns whether its
    /// validation accuracy is the best so far.
    pub fn finish_epoch(&mut self, m: EpochMetrics) -> Result<bool> {
        self.logs.metrics_row(&m)?;
        let meta = &mut self.meta;
        meta.metrics.push(m);
        meta.epoch = m.epoch + 1;
        meta.iteration = 0;
        meta.epoch_loss_sum = 0.0;
        meta.epoch_loss_count = 0;
        let best = !m.val_acc.is_nan() && meta.best_val_acc.is_none_or(|b| m.val_acc > b);
        if best {
            meta.best_val_acc = Some(m.val_acc);
        }
        Ok(best)
    }

    /// Writes checkpoint `name`: the model's weights, `training` (the optimizer's state, and
    /// with `--ema` the training weights) and the record. Any failure (the logs' flush
    /// included) leaves the previous checkpoint in place, and the message says so and how to
    /// go on.
    pub fn save(
        &mut self,
        name: &str,
        model: &dyn Network,
        training: &[(String, Tensor)],
    ) -> Result<()> {
        if !self.writes {
            return Ok(());
        }
        let mut write = || -> Result<()> {
            self.meta.log_lengths = self.logs.lengths()?;
            let (state, extra) = (model.state(), model.checkpoint_files(name)?);
            checkpoint::save(&self.out, name, &state, training, &extra, &self.meta)
        };
        write().map_err(|e| Error::Save {
            dir: self.out.clone(),
            error: Box::new(e),
            had_checkpoint: self.has_checkpoint(),
        })
    }

    /// Whether this process writes the run folder (not a data-parallel rank other than 0).
    pub fn writes(&self) -> bool {
        self.writes
    }

    /// Whether the run folder holds a checkpoint to resume from.
    pub fn has_checkpoint(&self) -> bool {
        checkpoint::paths(&self.out, "last").meta.exists()
    }
}

/// The prefix of the training weights in a checkpoint's optimizer file, when its weights
/// file holds the average (`--ema`).
pub const TRAINING_WEIGHTS: &str = "train.";

/// The tensors of `map` whose names start with `prefix`, taken out, the prefix removed.
fn take_prefixed(map: &mut BTreeMap<String, Tensor>, prefix: &str) -> BTreeMap<String, Tensor> {
    let names: Vec<String> = map
        .keys()
        .filter(|k| k.starts_with(prefix))
        .cloned()
        .collect();
    names
        .into_iter()
        .filter_map(|k| map.remove(&k).map(|t| (k[prefix.len()..].to_string(), t)))
        .collect()
}

/// The record of a run at its plan's first epoch.
fn fresh_meta(cfg: &RunConfig) -> Meta {
    let (train_images, val_images) = cfg.data.counts();
    Meta {
        format: checkpoint::FORMAT,
        args: cfg.args.clone(),
        argv: cfg.argv.clone(),
        plan: cfg.plan_text.clone(),
        classes: cfg.data.classes(),
        train_images,
        val_images,
        epoch: cfg.schedule.plan().epochs.start,
        iteration: 0,
        optimizer_steps: 0,
        epoch_loss_sum: 0.0,
        epoch_loss_count: 0,
        metrics: Vec::new(),
        best_val_acc: None,
        log_lengths: Vec::new(),
        scaler: None,
        ema_updates: None,
        files: Default::default(),
        checksum: String::new(),
    }
}
