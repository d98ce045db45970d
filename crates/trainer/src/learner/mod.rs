//! The learner: the named steps of training over any [`Network`] — apply the schedule's lr,
//! one optimizer step, validation — and, in [`epoch`], the loop that strings them together.
//!
//! The lr rule: the value applied at a step is the schedule's value for that step times the
//! group's multiplier, nothing else; lr.csv records the value read back from group 0.

mod epoch;

use std::sync::mpsc::Receiver;

use lrplan_schedule::{Schedule, Step};
use tch::{Device, Kind, Reduction, Tensor};

pub use epoch::{Fit, Stop, Throughput, WARMUP_STEPS};

use crate::data::Batch;
use crate::error::{Error, Result};
use crate::model::{Mode, Network};
use crate::optim::Optimizer;
use crate::state::Position;

/// A model, its optimizer and the schedule that drives it.
pub struct Learner<'a> {
    model: &'a dyn Network,
    schedule: &'a Schedule,
    optimizer: Optimizer,
    device: Device,
    /// The optimizer's parameters in its order, for `run_backward`.
    params: Vec<Tensor>,
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
        }
    }

    pub fn model(&self) -> &dyn Network {
        self.model
    }

    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer
    }

    /// The lr group 0 applies now.
    pub fn lr(&self) -> f64 {
        self.optimizer.lr()
    }

    /// Sets the schedule's lr for `iteration` of `epoch` in every group and returns the
    /// schedule step it comes from. Per-epoch plans have one step per epoch (iteration 0's).
    pub fn apply_lr(&mut self, epoch: u32, iteration: u64) -> Step {
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
        step
    }

    /// One optimizer step on `batch`, with the lr already applied: forward, loss, backward,
    /// update. A non-finite loss stops the run before the update, naming the step (the
    /// caller knows whether a checkpoint exists: [`Error::checkpoint_kept`]).
    pub fn train_step(&mut self, batch: &Batch, mode: Mode, at: Position) -> Result<f64> {
        let (x, y) = to_device(batch, self.device)?;
        let logits = self.model.forward(&x, mode)?;
        let loss = batch_loss(&logits, &y, batch)?;
        let mut total = [loss.f_double_value(&[])?];
        self.model.sum_over_replicas(&mut total)?;
        let loss_v = total[0];
        if !loss_v.is_finite() {
            return Err(Error::NonFinite {
                step: at.step,
                epoch: at.epoch,
                iteration: at.iteration,
                lr: self.lr(),
                loss: loss_v as f32,
                had_checkpoint: false,
            });
        }
        let grads = self.model.backward(&loss, &self.params)?;
        self.optimizer.step_with(grads)?;
        Ok(loss_v)
    }

    /// Mean loss and accuracy over `batches`, eval mode, no gradients.
    pub fn validate(&self, batches: Receiver<Result<Batch>>) -> Result<Validation> {
        let _guard = tch::no_grad_guard();
        let (mut loss_sum, mut correct, mut count) = (0.0, 0i64, 0i64);
        for batch in batches {
            let batch = batch?;
            let (x, y) = to_device(&batch, self.device)?;
            let logits = self.model.forward(&x, Mode::Eval)?;
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
pub fn to_device(batch: &Batch, device: Device) -> Result<(Tensor, Tensor)> {
    let (n, s) = (batch.labels.len() as i64, batch.size as i64);
    let x = Tensor::from_slice(&batch.pixels)
        .f_reshape([n, 3, s, s])?
        .f_to_device(device)?;
    let y = Tensor::from_slice(&batch.labels).f_to_device(device)?;
    Ok((x, y))
}
