//! The start of a job: rank 0 checks the run as a single process would (plan, run folder,
//! checkpoint record) and hands its description to the other ranks through the store; each
//! rank then checks what is its own (its data, its model file, its device) and all agree
//! before anything is decoded or trained.

use std::path::PathBuf;

use super::Job;
use crate::cli::TrainArgs;
use crate::error::{Error, Result};

/// What rank 0 tells the others: enough to configure the same run without the run folder,
/// which another machine may not have.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Description {
    /// The run's settings as rank 0 resolved them (a resume's merged with its flags).
    pub args: TrainArgs,
    /// Where rank 0 read the plan (named in messages) and its text.
    pub plan_path: PathBuf,
    pub plan: String,
    /// The checkpoint record (`last.json`'s text) when resuming.
    pub record: Option<String>,
    /// The run folder, on rank 0's machine.
    pub out: PathBuf,
}

const SETUP: &str = "setup";
const READY: &str = "ready";

fn ready(rank: usize) -> String {
    format!("ready/{rank}")
}

impl Job {
    /// Rank 0: the run's description, for the others to [`Job::receive`].
    pub fn publish(&self, description: &Description) -> Result<()> {
        let json = serde_json::to_vec(description)
            .map_err(|e| Error::Libtorch(format!("cannot encode the run's description: {e}")))?;
        self.store.set(SETUP, &json)
    }

    /// Every other rank: rank 0's description of the run, waiting for it.
    pub fn receive(&self) -> Result<Description> {
        let json = self.fetch(SETUP, &|| "rank 0 to describe the run".into())?;
        serde_json::from_slice(&json)
            .map_err(|e| Error::Libtorch(format!("rank 0's description of the run: {e}")))
    }

    /// Every rank, once its configuration is checked: waits for all the others to be, so a
    /// rank that refused its part stops every rank before any work (its message names it).
    pub fn agree(&self) -> Result<()> {
        self.store.set(&ready(self.rank()), b"")?;
        self.store.add(READY, 1)?;
        let world = self.world() as i64;
        let missing = || {
            let late: Vec<String> = (0..self.world())
                .filter(|&r| !self.store.check(&ready(r)).unwrap_or(false))
                .map(|r| r.to_string())
                .collect();
            format!("rank(s) {} to start", late.join(", "))
        };
        self.wait(&missing, |s| Ok(s.add(READY, 0)? >= world))
    }

    /// Rank 0 hands `value` to the others under `key` (once per key and run).
    pub fn share(&self, key: &str, value: &[u8]) -> Result<()> {
        self.store.set(key, value)
    }

    /// What rank 0 [`Job::share`]d under `key`, waiting for it.
    pub fn shared(&self, key: &str) -> Result<Vec<u8>> {
        self.fetch(key, &|| format!("rank 0's {key}"))
    }
}
