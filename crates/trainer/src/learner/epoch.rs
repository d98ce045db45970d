//! The epoch loop. It reads at a glance: train an epoch, end it (validate, log, checkpoint,
//! charts), stop when a [`Stop`] reason holds. Everything it does is a named step of the
//! [`Learner`] or the [`RunState`].

use std::sync::Arc;
use std::time::Instant;

use lrplan_schedule::{Phase, Step};

use super::{Learner, PendingLoss, Validation};
use crate::config::Limits;
use crate::data::{Batch, Dataset, LoaderSpec, Shard, spawn_shard_loader};
use crate::error::Result;
use crate::interrupt::Interrupter;
use crate::log::EpochMetrics;
use crate::model::Mode;
use crate::progress::Progress;
use crate::state::{Position, RunState};

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every epoch of the plan trained.
    Finished,
    /// `--stop-after-epochs` epochs trained by this invocation.
    EpochLimit,
    /// `--max-steps` optimizer steps reached.
    MaxSteps,
    /// The interrupter asked (Ctrl-C).
    Interrupted,
}

/// Steps excluded from the throughput figure (allocator and kernel warm-up).
pub const WARMUP_STEPS: u64 = 5;

/// Seconds spent in training steps (waiting for the batch included), after the first
/// [`WARMUP_STEPS`] of this invocation.
#[derive(Debug, Default)]
pub struct Throughput {
    seen: u64,
    pub steps: u64,
    pub seconds: f64,
    last: Option<Instant>,
}

impl Throughput {
    fn start_epoch(&mut self) {
        self.last = Some(Instant::now());
    }

    fn step_done(&mut self) {
        let now = Instant::now();
        self.seen += 1;
        if let (true, Some(last)) = (self.seen > WARMUP_STEPS, self.last) {
            self.steps += 1;
            self.seconds += (now - last).as_secs_f64();
        }
        self.last = Some(now);
    }
}

/// A step queued on the device, recorded once the next one is queued (or before the loop
/// saves, ends the epoch or stops).
struct Queued {
    loss: PendingLoss,
    /// The lr.csv row of the schedule step it starts, written with its steps.csv row: never
    /// for a step after a non-finite loss.
    lr_row: Option<Step>,
}

/// A training run in progress: the learner, its record, its data and its rules.
pub struct Fit<'a> {
    pub learner: Learner<'a>,
    pub state: RunState,
    pub train: Arc<Dataset>,
    /// `None` with `--no-val`.
    pub val: Option<Arc<Dataset>>,
    pub seed: u64,
    /// This process's part of every batch (the whole of it unless data parallel).
    pub shard: Shard,
    pub limits: Limits,
    pub charts: bool,
    pub interrupter: Interrupter,
    pub throughput: Throughput,
}

impl Fit<'_> {
    /// Trains until the plan's last epoch or an earlier [`Stop`]; every stop leaves a
    /// checkpoint to resume from.
    pub fn run(&mut self) -> Result<Stop> {
        let total = self.learner.schedule.plan().epochs.total;
        let mut progress = Progress::new(total);
        let mut epochs = 0;
        while self.state.meta.epoch < total {
            let started = Instant::now();
            if let Some(stop) = self.train_epoch(&mut progress)? {
                return Ok(stop);
            }
            self.end_epoch(&mut progress, started)?;
            epochs += 1;
            if let Some(stop) = self.stop_reason(Some(epochs), 0) {
                return Ok(stop);
            }
        }
        progress.finish();
        Ok(Stop::Finished)
    }

    /// The iterations of the current epoch from where the record stands. Returns a stop
    /// reason when one arrives before the epoch's last batch (a checkpoint is then saved).
    fn train_epoch(&mut self, progress: &mut Progress) -> Result<Option<Stop>> {
        let epoch = self.state.meta.epoch;
        let phase = *self.learner.schedule.phase_at(epoch);
        let mode = match phase.phase {
            Phase::Freeze => Mode::TrainFrozen,
            Phase::Unfreeze => Mode::Train,
        };
        let per_iteration = self.learner.schedule.per_iteration();
        if !per_iteration && let Some(row) = self.learner.apply_lr(epoch, self.state.meta.iteration)
        {
            self.state.logs.lr_row(row, self.learner.lr())?;
        }
        let spec = self.loader_spec(phase.batch_size as usize, epoch);
        let iters = lrplan_schedule::batches_per_epoch(
            self.train.len() as u64,
            phase.batch_size,
            spec.drop_last,
        );
        progress.epoch(epoch, phase.phase, iters as usize);
        self.throughput.start_epoch();
        // The step before the one just queued, recorded once the device is past it; every
        // return below records it first, so the logs and checkpoints are those of a run that
        // read every loss at once.
        let mut pending: Option<Queued> = None;
        for batch in spawn_shard_loader(self.train.clone(), spec, self.shard) {
            let queued = u64::from(pending.is_some());
            let step = batch.and_then(|b| self.step(&b, (mode, epoch, per_iteration), queued));
            let step = match step {
                Ok(step) => step,
                Err(e) => {
                    self.record(pending.take(), progress)?;
                    return Err(e);
                }
            };
            let last_batch = step.loss.at.iteration + 1 >= iters;
            self.record(pending.replace(step), progress)?;
            self.throughput.step_done();
            if let (Some(stop), false) = (self.stop_reason(None, 1), last_batch) {
                self.record(pending.take(), progress)?;
                progress.finish();
                self.save("last")?;
                return Ok(Some(stop));
            }
        }
        self.record(pending, progress)?;
        Ok(None)
    }

    /// Queues the step of `batch` in `epoch`, the lr applied first; `queued`: steps taken
    /// before it but not yet recorded.
    fn step(
        &mut self,
        batch: &Batch,
        (mode, epoch, per_iteration): (Mode, u32, bool),
        queued: u64,
    ) -> Result<Queued> {
        let at = Position {
            step: self.state.meta.optimizer_steps + queued,
            epoch,
            iteration: batch.index as u64,
        };
        let lr_row = match per_iteration {
            true => self.learner.apply_lr(epoch, at.iteration),
            false => None,
        };
        let loss = self.learner.train_step(batch, mode, at)?;
        Ok(Queued { loss, lr_row })
    }

    /// Reads a queued step's loss and records the step (log rows, progress line).
    fn record(&mut self, queued: Option<Queued>, progress: &mut Progress) -> Result<()> {
        let Some(Queued { loss, lr_row }) = queued else {
            return Ok(());
        };
        let (at, lr, images) = (loss.at, loss.lr, loss.images);
        let (loss, skipped) = (self.learner.finish_loss(loss))
            .map_err(|e| e.checkpoint_kept(self.state.has_checkpoint()))?;
        if let Some(row) = lr_row {
            self.state.logs.lr_row(row, lr)?;
        }
        self.state.record_step(at, lr, loss, skipped)?;
        if let Some(scale) = skipped {
            progress.skipped(at.step, scale);
        }
        progress.step(at.iteration, lr, loss, images);
        Ok(())
    }

    /// Validation, metrics, the `last` (and maybe `best`) checkpoint and the charts.
    fn end_epoch(&mut self, progress: &mut Progress, started: Instant) -> Result<()> {
        let epoch = self.state.meta.epoch;
        let v = match &self.val {
            Some(val) => {
                let spec = LoaderSpec {
                    pinned: self.learner.device.is_cuda(),
                    ..LoaderSpec::eval()
                };
                self.learner
                    .validate(spawn_shard_loader(val.clone(), spec, self.shard))?
            }
            None => Validation {
                loss: f64::NAN,
                accuracy: f64::NAN,
            },
        };
        let m = EpochMetrics {
            epoch,
            lr: self.learner.lr(),
            train_loss: self.state.epoch_loss(),
            val_loss: v.loss,
            val_acc: v.accuracy,
            seconds: started.elapsed().as_secs_f64(),
        };
        progress.epoch_done(&m);
        let best = self.state.finish_epoch(m)?;
        self.save("last")?;
        if best {
            self.save("best")?;
        }
        if self.charts {
            crate::charts::draw(&self.state.out, &self.state.meta.metrics)?;
        }
        Ok(())
    }

    /// Whether to stop now: after a step (`epochs_done` is `None`) or at the end of an epoch
    /// (the epochs this invocation has trained); `queued`: steps taken but not yet recorded.
    fn stop_reason(&self, epochs_done: Option<u32>, queued: u64) -> Option<Stop> {
        let steps = self.state.meta.optimizer_steps + queued;
        if epochs_done.is_some() && epochs_done == self.limits.stop_after_epochs {
            Some(Stop::EpochLimit)
        } else if self.limits.max_steps.is_some_and(|m| steps >= m) {
            Some(Stop::MaxSteps)
        } else if self.interrupter.should_stop() {
            Some(Stop::Interrupted)
        } else {
            None
        }
    }

    fn loader_spec(&self, batch_size: usize, epoch: u32) -> LoaderSpec {
        LoaderSpec {
            batch_size,
            drop_last: self.learner.schedule.plan().updates.drop_last,
            train: true,
            seed: self.seed,
            epoch,
            first_batch: self.state.meta.iteration as usize,
            pinned: self.learner.device.is_cuda(),
        }
    }

    /// Checkpoint `name`: with `--ema`, the average as the weights (what was validated),
    /// the training weights beside the optimizer's state. A rank that writes nothing neither
    /// reads the scaler back nor swaps the average in.
    fn save(&mut self, name: &str) -> Result<()> {
        if !self.state.writes() {
            return Ok(());
        }
        let state = &mut self.state;
        state.meta.scaler = self.learner.scaler_state()?;
        state.meta.ema_updates = self.learner.ema_updates();
        (self.learner).with_average(|l| state.save(name, l.model, &l.training_state()))
    }
}
