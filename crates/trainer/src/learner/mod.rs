//! The learner: the named steps of training over any [`Network`] — apply the schedule's lr,
//! one optimizer step, validation — and, in [`epoch`], the loop that strings them together.
//!
//! The lr rule: the value applied at a step is the schedule's value for that step times the
//! group's multiplier, nothing else; lr.csv records the value read back from group 0. A step
//! the fp16 loss scaler skips still takes its place in the schedule (the lr is a function of
//! the step, not of the updates that succeeded).

mod epoch;

use std::sync::mpsc::Receiver;

use lrplan_schedule::{Schedule, Step};
use tch::{Device, Kind, Reduction, Tensor};

pub use epoch::{Fit, Stop, Throughput, WARMUP_STEPS};

use crate::amp::{Check, LossScaler, Precision, ScalerState};
use crate::data::Batch;
use crate::ema::Ema;
use crate::error::{Error, Result};
use crate::model::{Mode, Network};
use crate::optim::Optimizer;
use crate::shim::amp;
use crate::shim::device::HostCopy;
use crate::state::{Position, TRAINING_WEIGHTS};

/// A model, its optimizer and the schedule that drives it.
pub struct Learner<'a> {
    model: &'a dyn Network,
    schedule: &'a Schedule,
    optimizer: Optimizer,
    device: Device,
    /// The optimizer's parameters in its order, for `run_backward`.
    params: Vec<Tensor>,
    numerics: Numerics,
}

/// How a learner's steps compute, beyond fp32 on plain tensors ([`Learner::with_numerics`]).
#[derive(Default)]
pub struct Numerics {
    /// Autocast around the forward pass.
    pub precision: Precision,
    /// fp16's loss scaler.
    pub scaler: Option<LossScaler>,
    /// The average of the weights, updated after every step.
    pub ema: Option<Ema>,
    /// Input batches laid out NHWC (the model's weights already are).
    pub channels_last: bool,
}

/// A step's loss on its way to the host, with where it was taken.
pub struct PendingLoss {
    copy: HostCopy,
    pub at: Position,
    /// The lr group 0 applied in the step.
    pub lr: f64,
    /// Images in the step's whole batch (all replicas).
    pub images: usize,
    /// What the loss scaler found (fp16).
    check: Option<Check>,
}

/// Mean loss and accuracy over a validation set.
#[derive(Debug, Clone, Copy)]
pub struct Validation {
    pub loss: f64,
    pub accuracy: f64,
}

impl<'a> Learner<'a> {
    pub fn new(
        model: &'a dyn Network,
        schedule: &'a Schedule,
        optimizer: Optimizer,
        device: Device,
    ) -> Self {
        let params = optimizer.params();
        Learner {
            model,
            schedule,
            optimizer,
            device,
            params,
            numerics: Numerics::default(),
        }
    }

    /// Mixed precision, a loss scaler, an average of the weights, channels-last input.
    pub fn with_numerics(self, numerics: Numerics) -> Self {
        Learner { numerics, ..self }
    }

    /// The loss scaler's state to checkpoint (fp16).
    pub fn scaler_state(&self) -> Result<Option<ScalerState>> {
        self.numerics
            .scaler
            .as_ref()
            .map(LossScaler::state)
            .transpose()
    }

    /// The average's updates so far (`--ema`).
    pub fn ema_updates(&self) -> Option<u64> {
        self.numerics.ema.as_ref().map(|e| e.updates)
    }

    /// The lr group 0 applies now.
    pub fn lr(&self) -> f64 {
        self.optimizer.lr()
    }

    /// Sets the schedule's lr for `iteration` of `epoch` in every group. Returns the schedule
    /// step it comes from when `iteration` is that step's first: its lr.csv row is due (a
    /// resumed epoch does not write it twice). Per-epoch plans have one step per epoch
    /// (iteration 0's).
    pub fn apply_lr(&mut self, epoch: u32, iteration: u64) -> Option<Step> {
        let first = self.schedule.first_step_of_epoch(epoch);
        let within = if self.schedule.per_iteration() {
            iteration
        } else {
            0
        };
        let step = first
            .and_then(|f| self.schedule.step(f + within))
            .expect("the loop trains only epochs inside the run");
        self.optimizer.set_lr(step.lr);
        (step.iteration == iteration).then_some(step)
    }

    /// One optimizer step on `batch`, with the lr already applied: forward (under autocast
    /// in bf16/fp16), loss, backward, update, all queued on the device without the host
    /// waiting for it (but for fp16's check of the gradients, as torch's GradScaler waits).
    /// The loss comes back on its way to the host ([`PendingLoss`]), read by
    /// [`Learner::finish_loss`] one step later, when the device has long computed it.
    pub fn train_step(&mut self, batch: &Batch, mode: Mode, at: Position) -> Result<PendingLoss> {
        let (x, y) = self.inputs(batch)?;
        let logits = {
            let _autocast = self.numerics.precision.autocast(self.device)?;
            self.model.forward(&x, mode)?
        };
        let loss = batch_loss(&logits.f_to_kind(Kind::Float)?, &y, batch)?;
        let copy = HostCopy::start(&loss.f_detach()?)?;
        let check = self.update(&loss)?;
        Ok(PendingLoss {
            copy,
            at,
            lr: self.lr(),
            images: batch.global_len,
            check,
        })
    }

    /// Backward and the optimizer's step (unless the loss scaler finds the gradients not
    /// finite: then the step is skipped), then the average of the weights.
    fn update(&mut self, loss: &Tensor) -> Result<Option<Check>> {
        let check = match &mut self.numerics.scaler {
            None => {
                let grads = self.model.backward(loss, &self.params)?;
                self.optimizer.step_with(grads)?;
                None
            }
            Some(scaler) => {
                let grads = self.model.backward(&scaler.scale(loss)?, &self.params)?;
                let check = scaler.unscale(&grads)?;
                if check == Check::Finite {
                    self.optimizer.step_with(grads)?;
                }
                Some(check)
            }
        };
        if let Some(ema) = &mut self.numerics.ema {
            ema.update(self.model.registry())?;
        }
        Ok(check)
    }

    /// The loss of a step (summed over a data-parallel job's replicas), and the loss scale
    /// of a step the scaler skipped. A non-finite loss stops the run, naming the step it came
    /// from and its lr, unless the scaler skipped that step and can still recover; nothing
    /// trained after it is saved (the caller knows whether an earlier checkpoint exists:
    /// [`Error::checkpoint_kept`]).
    pub fn finish_loss(&self, pending: PendingLoss) -> Result<(f64, Option<f32>)> {
        let mut total = [pending.copy.finish()?.f_double_value(&[])?];
        self.model.sum_over_replicas(&mut total)?;
        let (loss, at) = (total[0], pending.at);
        let stop = |scale: Option<f32>| Error::NonFinite {
            step: at.step,
            epoch: at.epoch,
            iteration: at.iteration,
            lr: pending.lr,
            loss: loss as f32,
            scale,
            had_checkpoint: false,
        };
        match pending.check {
            Some(Check::GiveUp { scale }) => Err(stop(Some(scale))),
            Some(Check::Skip { scale }) => Ok((loss, Some(scale))),
            _ if !loss.is_finite() => Err(stop(None)),
            _ => Ok((loss, None)),
        }
    }

    /// `batch` on the device, in the model's memory format.
    fn inputs(&self, batch: &Batch) -> Result<(Tensor, Tensor)> {
        let (x, y) = to_device(batch, self.device)?;
        match self.numerics.channels_last {
            true => Ok((amp::channels_last(&x)?, y)),
            false => Ok((x, y)),
        }
    }

    /// Runs `f` with the average of the weights in the model (`--ema`: what is validated
    /// and saved), the training weights back in afterwards.
    pub fn with_average<T>(&mut self, f: impl FnOnce(&Self) -> Result<T>) -> Result<T> {
        let model = self.model;
        let registry = model.registry();
        if let Some(ema) = &mut self.numerics.ema {
            ema.swap(registry)?;
        }
        let out = f(self);
        if let Some(ema) = &mut self.numerics.ema {
            ema.swap(registry)?;
        }
        out
    }

    /// What a checkpoint keeps beside the weights: the optimizer's state and, while
    /// [`Learner::with_average`] has put the average in the model, the training weights.
    pub fn training_state(&self) -> Vec<(String, Tensor)> {
        let mut out = self.optimizer.export();
        if let Some(ema) = &self.numerics.ema {
            out.extend(ema.named(self.model.registry(), TRAINING_WEIGHTS));
        }
        out
    }

    /// Mean loss and accuracy over `batches`, eval mode, no gradients, under the training
    /// steps' autocast; with `--ema`, of the average of the weights.
    pub fn validate(&mut self, batches: Receiver<Result<Batch>>) -> Result<Validation> {
        self.with_average(|l| l.evaluate(batches))
    }

    fn evaluate(&self, batches: Receiver<Result<Batch>>) -> Result<Validation> {
        let _guard = tch::no_grad_guard();
        let (mut loss_sum, mut correct, mut count) = (0.0, 0i64, 0i64);
        for batch in batches {
            let batch = batch?;
            let (x, y) = self.inputs(&batch)?;
            let logits = {
                let _autocast = self.numerics.precision.autocast(self.device)?;
                self.model.forward(&x, Mode::Eval)?
            }
            .f_to_kind(Kind::Float)?;
            let loss =
                logits.f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0)?;
            loss_sum += loss.f_double_value(&[])?;
            correct += logits
                .f_argmax(1, false)?
                .f_eq_tensor(&y)?
                .f_sum(Kind::Int64)?
                .f_int64_value(&[])?;
            count += batch.labels.len() as i64;
        }
        let mut sums = [loss_sum, correct as f64, count as f64];
        self.model.sum_over_replicas(&mut sums)?;
        let [loss_sum, correct, count] = sums;
        Ok(Validation {
            loss: loss_sum / count,
            accuracy: correct / count,
        })
    }
}

/// The loss a process backpropagates for `batch`: the batch's mean, or, for a process's
/// shard of a larger batch (data parallel), the shard's sum over the whole batch's size, so
/// that the shards' losses (and gradients) add up to the whole batch's mean, however the
/// batch was split (an empty shard adds zero).
fn batch_loss(logits: &Tensor, y: &Tensor, batch: &Batch) -> Result<Tensor> {
    if batch.labels.len() == batch.global_len {
        return Ok(logits.f_cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, 0.0)?);
    }
    let sum = logits.f_cross_entropy_loss::<Tensor>(y, None, Reduction::Sum, -100, 0.0)?;
    Ok(sum.f_div_scalar(batch.global_len as f64)?)
}

/// The one way a batch becomes tensors: images `[n, 3, size, size]` and labels on `device`.
/// A pinned batch is uploaded without the host waiting (`non_blocking`): its buffers stay
/// alive, held by libtorch's pinned-memory cache, until the copy has run.
pub fn to_device(batch: &Batch, device: Device) -> Result<(Tensor, Tensor)> {
    let (n, s) = (batch.labels.len() as i64, batch.size as i64);
    let x = upload(
        batch.pixels.tensor().f_reshape([n, 3, s, s])?,
        device,
        batch.pixels.is_pinned(),
    )?;
    let y = upload(batch.labels.tensor(), device, batch.labels.is_pinned())?;
    Ok((x, y))
}

fn upload(t: Tensor, device: Device, non_blocking: bool) -> Result<Tensor> {
    Ok(t.f_to_device_(device, t.kind(), non_blocking, false)?)
}
