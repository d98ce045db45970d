//! The run folder's guard: one trainer at a time, and no run overwritten without being asked.
//!
//! * **One writer.** A trainer holds an exclusive lock on `DIR/run.lock` for its whole run
//!   (`flock`, through `std::fs::File::try_lock`): the operating system releases it when the
//!   process ends, however it ends, so a `kill -9` never blocks the resume that follows. The
//!   file names its holder (process, host, start, command line) for the message a second
//!   trainer prints when it refuses.
//! * **No silent overwrite.** A fresh run refuses a folder that already holds a run (a
//!   checkpoint or logs), naming `--resume`; with `--start-over` the old run is moved aside
//!   to a sibling `DIR.previous-N` first, never deleted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name.
pub const LOCK: &str = "run.lock";

/// Files whose presence means a folder holds a run.
const RUN_FILES: [&str; 8] = [
    "last.json",
    "best.json",
    "checkpoint.journal",
    "last.safetensors",
    "lr.csv",
    "steps.csv",
    "metrics.csv",
    "plan.toml",
];

/// A run folder this process holds the lock of; released when dropped (or at exit).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: File,
}

impl RunDir {
    /// The folder for a fresh run: created if needed; refused if it holds a run, unless
    /// `start_over`, which moves that run aside first.
    pub fn create(path: &Path, start_over: bool) -> Result<RunDir> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, "create run folder", e))?;
        let found = run_files(path);
        if found.is_empty() {
            return RunDir::lock(path);
        }
        if !start_over {
            return Err(Error::RunExists {
                path: path.to_path_buf(),
                found,
                resumable: path.join("last.json").exists(),
            });
        }
        let old = RunDir::lock(path)?;
        let aside = move_aside(path)?;
        drop(old);
        println!("moved the previous run to {}", aside.display());
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, "create run folder", e))?;
        RunDir::lock(path)
    }

    /// An existing run's folder, for resuming.
    pub fn open(path: &Path) -> Result<RunDir> {
        if !path.is_dir() {
            return Err(Error::Checkpoint {
                path: path.to_path_buf(),
                reason: "run folder does not exist".into(),
            });
        }
        RunDir::lock(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the lock or says who holds it; then records this process as the holder.
    fn lock(path: &Path) -> Result<RunDir> {
        let lock_path = path.join(LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, "open the run lock", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::RunLocked {
                    path: path.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(&lock_path, "lock the run folder", e));
            }
        }
        // The lock is what protects the run; the holder's description only improves a second
        // trainer's message, so a full disk must not stop the run here (the first checkpoint
        // reports it, and says what is kept).
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(holder().as_bytes()));
        Ok(RunDir {
            path: path.to_path_buf(),
            _lock: file,
        })
    }
}

/// Who this process is, for a second trainer's refusal.
fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this machine".into());
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let argv: Vec<String> = std::env::args().collect();
    format!(
        "process {} on {host}, since {since} (Unix time): {}\n",
        std::process::id(),
        argv.join(" ")
    )
}

/// The run files present in `dir`.
fn run_files(dir: &Path) -> Vec<String> {
    RUN_FILES
        .iter()
        .filter(|f| dir.join(f).exists())
        .map(|f| f.to_string())
        .collect()
}

/// Renames `dir` to the first free `dir.previous-N`.
fn move_aside(dir: &Path) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let aside = (1..)
        .map(|n| dir.with_file_name(format!("{name}.previous-{n}")))
        .find(|p| !p.exists())
        .expect("an unused name");
    std::fs::rename(dir, &aside).map_err(|e| Error::io(dir, "move the previous run aside", e))?;
    Ok(aside)
}
