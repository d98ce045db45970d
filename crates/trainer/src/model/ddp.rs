//! [`DataParallel`]: a model trained by several processes at once, each on its share of every
//! batch, as PyTorch's `DistributedDataParallel` trains it and on the same engine: c10d's
//! process group (gloo on the CPU, NCCL on GPUs) and DDP's gradient `Reducer` (bucketed
//! allreduce started during backward, buckets rebuilt in gradient order after the first step).
//!
//! It is a [`Network`] around the model, so the loop does not know it is there:
//! * at construction every parameter and buffer is broadcast from rank 0 (which loaded any
//!   weights or checkpoint), after the model is checked to be the same on every rank;
//! * [`Network::backward`] runs `backward()` with the Reducer, whose comm hook sums the ranks'
//!   gradients: each rank's loss is its share of the global batch's mean (the learner's
//!   `batch_loss`), so the sum is the single-process gradient, whatever the split;
//! * [`Network::sum_over_replicas`] sums a step's loss (and each rank's Ctrl-C request, so
//!   every rank stops at the same step) or validation's counts over the ranks;
//! * batch norm keeps per-rank batch statistics, as PyTorch's DDP without SyncBatchNorm
//!   (which is Python-only). Running statistics are rank 0's wherever they are read: its
//!   buffers are broadcast before a forward that reads them (validation, a freeze phase after
//!   training), which is what DDP's default `broadcast_buffers` amounts to, and rank 0 writes
//!   the checkpoints.
//!
//! A Reducer expects a gradient for each of its parameters every step, so each training mode
//! has its own: all trainable parameters in [`Mode::Train`], the head's in
//! [`Mode::TrainFrozen`] (the frozen backbone gets none); a mode change replaces it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use tch::{Device, Kind, Tensor};

use super::{Mode, Network, Registry, Subnet, TensorKind};
use crate::distributed::Job;
use crate::error::{Error, Result};
use crate::interrupt::Interrupter;
use crate::optim::Optimizer;
use crate::shim::{Group, Reducer};

/// A model trained by every rank of a [`Job`].
pub struct DataParallel {
    inner: Box<dyn Network>,
    job: Rc<Job>,
    group: Group,
    device: Device,
    /// The Reducer of the current training mode's parameters.
    reducer: RefCell<Option<(Mode, Reducer)>>,
    last: Cell<Option<Mode>>,
    /// Whether buffers may differ between ranks (trained since rank 0's were broadcast).
    stale: Cell<bool>,
    /// Ctrl-C on this rank, and the loop's interrupter, which stops once any rank asked.
    requests: Interrupter,
    agreed: Interrupter,
}

impl DataParallel {
    /// Wraps `inner` for `job` on `device`: the process group made, the model checked to be
    /// the same on every rank, rank 0's parameters and buffers everywhere. Ctrl-C reaches
    /// `requests`; the loop is to ask `agreed`, which every rank sets at the same step.
    pub fn new(
        inner: Box<dyn Network>,
        job: Rc<Job>,
        device: Device,
        requests: Interrupter,
        agreed: Interrupter,
    ) -> Result<DataParallel> {
        let group = job.group(device)?;
        let dp = DataParallel {
            inner,
            job,
            group,
            device,
            reducer: RefCell::new(None),
            last: Cell::new(None),
            stale: Cell::new(false),
            requests,
            agreed,
        };
        dp.group.verify(&dp.tensors(|e| e.kind.trainable()))?;
        let all = dp.tensors(|_| true);
        dp.collective(|| dp.group.broadcast(&all))?;
        Ok(dp)
    }

    /// Rank 0's optimizer state (a resumed run's) on every rank: rank 0 describes its tensors
    /// through the job's store, every rank receives them by broadcast.
    pub fn share_optimizer(&self, opt: &mut Optimizer) -> Result<()> {
        let job = &self.job;
        let mine = opt.export();
        let layout: Vec<(String, Vec<i64>, String)> = match job.writes() {
            true => {
                let layout: Vec<_> = mine
                    .iter()
                    .map(|(n, t)| (n.clone(), t.size(), format!("{:?}", t.kind())))
                    .collect();
                job.share("optimizer", &encode(&layout)?)?;
                layout
            }
            false => decode(&job.shared("optimizer")?)?,
        };
        let tensors = match job.writes() {
            true => mine
                .iter()
                .map(|(_, t)| Ok(t.f_to_device(self.device)?))
                .collect::<Result<Vec<_>>>()?,
            false => layout
                .iter()
                .map(|(_, shape, kind)| {
                    Ok(Tensor::f_zeros(shape, (kind_named(kind)?, self.device))?)
                })
                .collect::<Result<Vec<_>>>()?,
        };
        self.collective(|| self.group.broadcast(&tensors))?;
        if !job.writes() {
            let state: BTreeMap<String, Tensor> =
                layout.into_iter().map(|(n, ..)| n).zip(tensors).collect();
            opt.import(state, Path::new("rank 0's optimizer state"))?;
        }
        Ok(())
    }

    /// Rank 0's values of `tensors` (the same shapes on every rank) everywhere, in place.
    pub fn share_tensors(&self, tensors: &[Tensor]) -> Result<()> {
        self.collective(|| self.group.broadcast(tensors))
    }

    /// One line for the run's start.
    pub fn describe(&self) -> String {
        let (world, backend) = (
            self.job.world(),
            match self.device {
                Device::Cuda(_) => "NCCL",
                _ => "gloo",
            },
        );
        format!(
            "data parallel: {world} processes ({backend}), each training 1/{world} of every \
             batch; gradients summed over them by DDP's Reducer; batch-norm statistics per \
             process"
        )
    }

    /// The registry's tensors that `keep` selects, in order.
    fn tensors(&self, keep: impl Fn(&super::Entry) -> bool) -> Vec<Tensor> {
        self.inner
            .registry()
            .entries
            .iter()
            .filter(|e| keep(e))
            .map(|e| e.tensor.shallow_clone())
            .collect()
    }

    /// A communication; its failure is explained by another rank's, when there is one.
    fn collective<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        f().map_err(|e| self.job.explain(e))
    }

    /// Before a forward in `mode`: rank 0's buffers broadcast if this forward reads running
    /// statistics that trained per rank (validation after training, a freeze phase's backbone
    /// after a training phase).
    fn sync_buffers(&self, mode: Mode) -> Result<()> {
        let needed = match mode {
            Mode::Eval => self.stale.get(),
            Mode::TrainFrozen => self.last.get() == Some(Mode::Train),
            Mode::Train => false,
        };
        if needed {
            let buffers = self.tensors(|e| e.kind == TensorKind::Buffer);
            if !buffers.is_empty() {
                self.collective(|| self.group.broadcast(&buffers))?;
            }
            self.stale.set(false);
        }
        Ok(())
    }

    /// The Reducer of `mode`'s parameters, made when the mode changes, told a forward comes.
    fn prepare(&self, mode: Mode) -> Result<()> {
        let mut slot = self.reducer.borrow_mut();
        if slot.as_ref().map(|(m, _)| *m) != Some(mode) {
            // The old one goes first: dropping it removes its hooks from the parameters.
            *slot = None;
            let head_only = mode == Mode::TrainFrozen;
            let params =
                self.tensors(|e| e.kind.trainable() && (!head_only || e.subnet == Subnet::Head));
            *slot = Some((mode, Reducer::new(&self.group, &params)?));
        }
        let (_, reducer) = slot.as_ref().expect("made above");
        self.collective(|| reducer.before_forward())
    }
}

impl Network for DataParallel {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn registry(&self) -> &Registry {
        self.inner.registry()
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        self.sync_buffers(mode)?;
        if mode != Mode::Eval {
            self.prepare(mode)?;
        }
        let y = self.inner.forward(x, mode)?;
        if mode != Mode::Eval {
            self.stale.set(true);
        }
        self.last.set(Some(mode));
        Ok(y)
    }

    fn notes(&self) -> Vec<String> {
        self.inner.notes()
    }

    fn checkpoint_files(&self, name: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.inner.checkpoint_files(name)
    }

    fn backward(&self, loss: &Tensor, params: &[Tensor]) -> Result<Vec<Tensor>> {
        let slot = self.reducer.borrow();
        let (_, reducer) = slot.as_ref().ok_or_else(|| {
            Error::Libtorch("data parallel: backward without a training forward".into())
        })?;
        self.collective(|| reducer.backward(loss, params))
    }

    fn sum_over_replicas(&self, values: &mut [f64]) -> Result<()> {
        let n = values.len();
        let mut all = values.to_vec();
        all.push(if self.requests.should_stop() {
            1.0
        } else {
            0.0
        });
        let t = Tensor::from_slice(&all).f_to_device(self.device)?;
        self.collective(|| self.group.all_sum(&t))?;
        let sums = Vec::<f64>::try_from(t.f_to_device(Device::Cpu)?)?;
        values.copy_from_slice(&sums[..n]);
        if sums[n] > 0.0 {
            self.agreed.stop();
        }
        Ok(())
    }
}

fn encode(layout: &[(String, Vec<i64>, String)]) -> Result<Vec<u8>> {
    serde_json::to_vec(layout)
        .map_err(|e| Error::Libtorch(format!("cannot describe the optimizer state: {e}")))
}

fn decode(bytes: &[u8]) -> Result<Vec<(String, Vec<i64>, String)>> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Libtorch(format!("rank 0's optimizer state: {e}")))
}

/// The kinds optimizer state is kept in, by their `Debug` names.
fn kind_named(name: &str) -> Result<Kind> {
    [
        Kind::Float,
        Kind::Double,
        Kind::Half,
        Kind::BFloat16,
        Kind::Int64,
    ]
    .into_iter()
    .find(|k| format!("{k:?}") == name)
    .ok_or_else(|| Error::Libtorch(format!("rank 0's optimizer state holds a {name} tensor")))
}
