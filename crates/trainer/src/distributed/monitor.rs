//! Heartbeats through the job's store, so that a rank that dies (killed, crashed, its machine
//! or network gone) stops the others within a bounded time, by name, instead of leaving them
//! waiting in a collective.
//!
//! Each rank's thread adds one to its counter `alive/<rank>` every tick and watches its
//! successor's (`rank + 1` modulo the world): a counter that does not move for the stall time
//! means that rank is lost, and the watcher says so for everyone (`failed/<rank>` and the
//! `failures` counter, which every monitor reads). Watching one successor keeps the store's
//! load linear in the number of ranks. A rank that stops with an error of its own writes
//! `failed/<rank>` itself; one that finishes writes `done/<rank>` first, so its silence is no
//! loss. Every rank that ends counts itself out (`gone`); lost ones are counted (`lost`) by
//! their watcher, so the store's host knows when nobody needs the store any more.
//!
//! The main thread asks for the verdict when a collective fails ([`Monitor::verdict`]); when it
//! is stuck in one that cannot fail soon (NCCL waits for its own timeout), the monitor ends the
//! process itself a moment after its verdict, with the same message.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::shim::Store;

/// The longest silence of a rank before it is declared lost; shorter with a shorter
/// `--dist-timeout`.
pub const MAX_STALL: Duration = Duration::from_secs(15);

/// How long the monitor leaves the main thread to report a verdict before it ends the
/// process itself.
const GRACE: Duration = Duration::from_secs(2);

/// What stopped the job, in words that name the rank ("rank 1 was lost: ...").
pub type Verdict = String;

/// The heartbeat thread and what it found.
pub struct Monitor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    stall: Duration,
}

struct Shared {
    stop: AtomicBool,
    /// The main thread reports the verdict (and ends the process) itself.
    taken_over: AtomicBool,
    verdict: Mutex<Option<Verdict>>,
    /// The run folder, named in the message that stops a rank when another is lost.
    out: OnceLock<PathBuf>,
}

/// The keys a rank's monitor reads and writes.
pub fn alive(rank: usize) -> String {
    format!("alive/{rank}")
}

pub fn failed(rank: usize) -> String {
    format!("failed/{rank}")
}

pub fn done(rank: usize) -> String {
    format!("done/{rank}")
}

/// Ranks that stopped with an error or were lost.
pub const FAILURES: &str = "failures";

/// Ranks declared lost (they will not count themselves out of the store).
pub const LOST: &str = "lost";

impl Monitor {
    /// Starts beating for `rank` of `world` over `store` (a connection of the monitor's own).
    pub fn start(store: Store, rank: usize, world: usize, stall: Duration, host: String) -> Self {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            taken_over: AtomicBool::new(false),
            verdict: Mutex::new(None),
            out: OnceLock::new(),
        });
        let mut beat = Beat {
            store,
            rank,
            world,
            stall,
            host,
            seen: 0,
            moved: Instant::now(),
        };
        let s = shared.clone();
        let tick = (stall / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let thread = std::thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                if let Some(v) = beat.tick() {
                    s.conclude(rank, v);
                    return;
                }
                std::thread::sleep(tick);
            }
        });
        Monitor {
            shared,
            thread: Some(thread),
            stall,
        }
    }

    /// How long a silent rank takes to be declared lost.
    pub fn stall(&self) -> Duration {
        self.stall
    }

    /// From now on the main thread reports a verdict itself.
    pub fn take_over(&self) {
        self.shared.taken_over.store(true, Ordering::SeqCst);
    }

    /// The verdict, if there is one yet.
    pub fn verdict(&self) -> Option<Verdict> {
        self.shared.verdict.lock().ok().and_then(|v| v.clone())
    }

    /// Names the run folder in the messages of a rank stopped by another.
    pub fn set_run_folder(&self, out: &Path) {
        let _ = self.shared.out.set(out.to_path_buf());
    }

    pub fn run_folder(&self) -> Option<PathBuf> {
        self.shared.out.get().cloned()
    }

    /// Stops beating (after this rank's `done` key is written).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Shared {
    /// Records the verdict; unless the main thread reports it in time, reports it and ends
    /// the process (the main thread may be inside a collective that cannot fail soon).
    fn conclude(&self, rank: usize, verdict: Verdict) {
        if let Ok(mut v) = self.verdict.lock() {
            v.get_or_insert(verdict.clone());
        }
        std::thread::sleep(GRACE);
        if self.taken_over.load(Ordering::SeqCst) || self.stop.load(Ordering::SeqCst) {
            return;
        }
        eprintln!(
            "error: rank {rank}: {}",
            super::stopping_too(&verdict, self.out.get().map(PathBuf::as_path))
        );
        // `_exit`, not `exit`: the main thread is inside libtorch, whose static destructors
        // must not run under it. Everything on disk is committed or journaled already.
        unsafe { libc::_exit(1) }
    }
}

/// The monitor thread's state between ticks.
struct Beat {
    store: Store,
    rank: usize,
    world: usize,
    stall: Duration,
    host: String,
    /// The successor's last counter and when it last moved.
    seen: i64,
    moved: Instant,
}

impl Beat {
    /// One heartbeat and one look at the others; a verdict when the job is over.
    fn tick(&mut self) -> Option<Verdict> {
        self.check()
            .unwrap_or_else(|e| Some(format!("lost {}: {e}", self.host)))
    }

    fn check(&mut self) -> Result<Option<Verdict>> {
        self.store.add(&alive(self.rank), 1)?;
        if self.store.add(FAILURES, 0)? > 0 {
            for r in (0..self.world).filter(|&r| r != self.rank) {
                if self.store.check(&failed(r))? {
                    let what = String::from_utf8_lossy(&self.store.get(&failed(r))?).into_owned();
                    return Ok(Some(format!("rank {r} {what}")));
                }
            }
        }
        let next = (self.rank + 1) % self.world;
        let count = self.store.add(&alive(next), 0)?;
        if count != self.seen {
            self.seen = count;
            self.moved = Instant::now();
            return Ok(None);
        }
        // Not started yet (the start-up agreement waits for it), or finished.
        if count == 0 || self.moved.elapsed() < self.stall || self.store.check(&done(next))? {
            return Ok(None);
        }
        let what = format!(
            "was lost: no heartbeat for {} s (its process was killed or crashed, or its \
             machine or network went away)",
            self.stall.as_secs()
        );
        self.store.set(&failed(next), what.as_bytes())?;
        self.store.add(LOST, 1)?;
        self.store.add(FAILURES, 1)?;
        Ok(Some(format!("rank {next} {what}")))
    }
}
