//! Data-parallel training across processes and machines on PyTorch's c10d, launched by
//! `torchrun` (or by hand with `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`).
//!
//! * [`launch`]: the environment read into a [`Launch`] (no variables: one process, as
//!   without a launcher);
//! * [`Job`]: this process's membership of the job: the TCPStore (torchrun's agent's, or
//!   rank 0's), heartbeats ([`monitor`]), how a failure here or elsewhere is told to every
//!   rank, and the orderly end;
//! * [`setup`]: rank 0 reads the plan, the run folder and its checkpoint record and hands the
//!   run's description to the others, so no other rank needs anything from the run folder;
//! * the model side, c10d's process group and DDP's Reducer, is a [`Network`] wrapper:
//!   [`crate::model::DataParallel`].
//!
//! The plan means the same at any scale: its batch sizes are the global batch of one
//! optimizer step, each rank trains its share of every batch of the single-process order
//! ([`crate::data::Shard`]), and the gradients are summed over the ranks, so the lr table and
//! the data order do not depend on the number of processes, and a run may resume with
//! another.
//!
//! [`Network`]: crate::model::Network

pub mod launch;
pub mod monitor;
pub mod setup;

use std::path::Path;
use std::time::{Duration, Instant};

use tch::Device;

pub use launch::Launch;
use monitor::Monitor;

use crate::cli::DeviceArg;
use crate::error::{Error, Result};
use crate::shim::{Group, Store};

/// How often a rank waiting on the store looks again.
const POLL: Duration = Duration::from_millis(20);

/// The count of ranks done with the store.
const GONE: &str = "gone";

/// This process's part in a data-parallel job.
pub struct Job {
    launch: Launch,
    timeout: Duration,
    /// The store as c10d's process group uses it (it adds torch's own prefixes).
    root: Store,
    /// The trainer's own keys: `lrplan/attempt_<n>/…`.
    store: Store,
    monitor: std::cell::RefCell<Monitor>,
}

impl Job {
    /// Joins the job the environment describes, if any: connects to its store (starting it
    /// on rank 0 without torchrun's agent) within `timeout`, starts the heartbeats, and from
    /// here on prints nothing on standard output unless rank 0 (errors still reach standard
    /// error), so a job's output reads as one run's.
    pub fn from_env(timeout: Duration) -> Result<Option<Job>> {
        let Some(launch) = Launch::from_env()? else {
            return Ok(None);
        };
        let root = Store::connect(
            &launch.master_addr,
            launch.master_port,
            launch.world,
            launch.hosts_store(),
            timeout,
        )
        .map_err(|e| {
            Error::flag(
                "MASTER_ADDR",
                format!(
                    "cannot reach the job's store at {}:{}: {e}",
                    launch.master_addr, launch.master_port
                ),
            )
        })?;
        let store = root.prefixed(&format!("lrplan/attempt_{}", launch.attempt))?;
        let stall = timeout.min(monitor::MAX_STALL);
        let monitor = Monitor::start(
            store.try_clone()?,
            launch.rank,
            launch.world,
            stall,
            launch.store_host(),
        );
        if launch.rank != 0 {
            quiet_stdout();
        }
        Ok(Some(Job {
            launch,
            timeout,
            root,
            store,
            monitor: std::cell::RefCell::new(monitor),
        }))
    }

    pub fn rank(&self) -> usize {
        self.launch.rank
    }

    pub fn world(&self) -> usize {
        self.launch.world
    }

    /// Whether this process writes the run folder (rank 0).
    pub fn writes(&self) -> bool {
        self.launch.rank == 0
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Names the run folder in the messages of a rank stopped by another.
    pub fn set_run_folder(&self, out: &Path) {
        self.monitor.borrow().set_run_folder(out);
    }

    /// The device this rank trains on: `--device auto` and `cuda` mean the GPU that
    /// `LOCAL_RANK` names (one process per GPU), `cpu` the CPU; another `cuda:N` is refused,
    /// since every process would pick the same.
    pub fn device(&self, arg: &DeviceArg) -> Result<Device> {
        let cuda = match arg {
            DeviceArg::Cpu => return Ok(Device::Cpu),
            DeviceArg::Auto if !tch::Cuda::is_available() => return Ok(Device::Cpu),
            DeviceArg::Auto | DeviceArg::Cuda(0) => "GPU",
            DeviceArg::Cuda(_) => {
                return Err(Error::flag(
                    "--device",
                    "under a launcher each process takes the GPU its LOCAL_RANK names: give \
                     --device cuda (or auto), not cuda:N",
                ));
            }
        };
        let local = self.launch.local_rank.ok_or_else(|| {
            Error::flag(
                "LOCAL_RANK",
                format!(
                    "is not set, so this process cannot tell which {cuda} is its own \
                     (torchrun sets it; or train on the CPU with --device cpu)"
                ),
            )
        })?;
        let count = tch::Cuda::device_count() as usize;
        if local >= count {
            return Err(Error::flag(
                "LOCAL_RANK",
                format!(
                    "is {local}, but this machine has {count} CUDA device(s): start at most \
                     one process per GPU (--nproc-per-node {count})"
                ),
            ));
        }
        Ok(Device::Cuda(local))
    }

    /// The job's c10d process group for tensors on `device` (gloo on the CPU, NCCL on a GPU).
    pub fn group(&self, device: Device) -> Result<Group> {
        Group::new(
            &self.root,
            self.launch.rank,
            self.launch.world,
            device,
            self.timeout,
        )
        .map_err(|e| self.explain(e))
    }

    /// The error a failed collective or store wait becomes: when another rank stopped or was
    /// lost (as the monitor finds out within its stall time), the error that names it.
    pub fn explain(&self, error: Error) -> Error {
        if matches!(error, Error::Peer { .. }) {
            return error;
        }
        let monitor = self.monitor.borrow();
        monitor.take_over();
        let deadline = Instant::now() + monitor.stall() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Some(v) = monitor.verdict() {
                return self.peer(v);
            }
            std::thread::sleep(POLL);
        }
        error
    }

    fn peer(&self, verdict: String) -> Error {
        Error::Peer {
            what: verdict,
            out: self.monitor.borrow().run_folder(),
        }
    }

    /// Waits until `ready` holds, or another rank stops, or the timeout passes (`what` says
    /// what was waited for).
    fn wait(
        &self,
        what: &dyn Fn() -> String,
        mut ready: impl FnMut(&Store) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if ready(&self.store)? {
                return Ok(());
            }
            if let Some(v) = self.monitor.borrow().verdict() {
                self.monitor.borrow().take_over();
                return Err(self.peer(v));
            }
            if Instant::now() > deadline {
                return Err(Error::flag(
                    "--dist-timeout",
                    format!(
                        "waited {} s for {}; raise --dist-timeout if that takes longer",
                        self.timeout.as_secs(),
                        what()
                    ),
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The value of the trainer's key `key`, waiting for it like [`Job::wait`].
    fn fetch(&self, key: &str, what: &dyn Fn() -> String) -> Result<Vec<u8>> {
        self.wait(what, |s| s.check(key))?;
        self.store.get(key)
    }

    /// Ends this rank's part: after a run that ended the same way on every rank (finished,
    /// or stopped by Ctrl-C at the same step) it stops beating; after an error of its own it
    /// tells the others why. Either way the store's host waits for the others to be done
    /// with the store (within the stall time).
    pub fn conclude<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => self.finish().map(|()| value),
            Err(e @ Error::Interrupted { .. }) => {
                let _ = self.finish();
                Err(e)
            }
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }

    fn finish(&self) -> Result<()> {
        self.store.set(&monitor::done(self.rank()), b"")?;
        self.monitor.borrow_mut().stop();
        self.leave()
    }

    /// After an error on this rank: the others are told why (unless another rank's loss was
    /// the error) and the store's host stays until they have read it.
    fn fail(&self, error: &Error) {
        self.monitor.borrow().take_over();
        if !matches!(error, Error::Peer { .. }) {
            let what = format!("stopped: {error}");
            let _ = self
                .store
                .set(&monitor::failed(self.rank()), what.as_bytes());
            let _ = self.store.add(monitor::FAILURES, 1);
        }
        let _ = self.leave();
    }

    /// Counts this rank out of the store; its host waits for every rank to be out or lost,
    /// at most the stall time (a rank stuck longer learns of the store's loss by itself).
    fn leave(&self) -> Result<()> {
        self.store.add(GONE, 1)?;
        if !self.launch.hosts_store() {
            return Ok(());
        }
        let deadline = Instant::now() + self.monitor.borrow().stall();
        while Instant::now() < deadline {
            let out = self.store.add(GONE, 0)? + self.store.add(monitor::LOST, 0)?;
            if out >= self.world() as i64 {
                break;
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }
}

/// The message of a rank that stops because of another's verdict: with the run folder once
/// the run has one (every rank knows it after the start-up), how to continue it.
pub fn stopping_too(verdict: &str, out: Option<&Path>) -> String {
    match out {
        Some(dir) => format!(
            "{verdict}; stopping too. The run folder keeps its last checkpoint: continue with \
             --resume {} (with any number of processes)",
            dir.display()
        ),
        None => format!("{verdict}; stopping too"),
    }
}

/// Points standard output at /dev/null: ranks other than 0 print nothing but errors.
fn quiet_stdout() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let _ = std::io::stdout().flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto standard output of a descriptor we own; `null` may close after.
        unsafe { libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO) };
    }
}
