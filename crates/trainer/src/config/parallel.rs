//! The configuration of a data-parallel job's ranks: the batch sizes held against the world
//! size, rank 0's run described to the others, and the others' own checks.
//!
//! Rank 0 configures the run exactly as a single process does (it alone reads the plan file
//! and the run folder, and holds the folder's lock). The other ranks take the run's settings,
//! plan and checkpoint record from its description ([`Description`]) and check only what is
//! theirs: their copy of the data (the same classes and images, wherever `--data` says they
//! are on that machine), their model file, their device. Nothing of the run folder is needed
//! on another machine.

use std::path::Path;

use lrplan_schedule::Schedule;

use super::{
    DataSource, RunConfig, absolute_paths, check_flags, check_memory, check_model,
    check_plan_against_data, compile, device, resume,
};
use crate::checkpoint::Meta;
use crate::cli::TrainArgs;
use crate::distributed::Job;
use crate::distributed::setup::Description;
use crate::error::{Error, Result};

/// Every batch size of the plan must split evenly among the job's processes: each trains
/// `batch / world` images of every batch, so the plan (the global batch of one optimizer
/// step) means the same at any scale.
pub(super) fn check_world(plan_path: &Path, schedule: &Schedule, job: Option<&Job>) -> Result<()> {
    let Some(world) = job.map(Job::world) else {
        return Ok(());
    };
    for p in schedule.phases() {
        if !(p.batch_size as usize).is_multiple_of(world) {
            return Err(Error::Mismatch {
                path: plan_path.to_path_buf(),
                reason: format!(
                    "the {} phase's batch size {} does not split among {world} processes \
                     (WORLD_SIZE): the plan's batch sizes are the global batch of a step and \
                     each process trains batch / {world} images of it, so each must be a \
                     multiple of {world}",
                    p.phase.name(),
                    p.batch_size
                ),
            });
        }
    }
    Ok(())
}

/// A rank other than 0: the run rank 0 describes, with this process's own data, device and
/// threads, checked.
pub(super) fn follow(
    args: &TrainArgs,
    given: &[String],
    argv: Vec<String>,
    job: &Job,
) -> Result<RunConfig> {
    let d = job.receive()?;
    let local = absolute_paths(args.clone())?;
    let mut run = d.args;
    if given.iter().any(|g| g == "data") {
        run.data = local.data;
    }
    run.threads = local.threads;
    run.dist_timeout = local.dist_timeout;
    check_flags(&run)?;
    let schedule = compile(&d.plan_path, d.plan.as_bytes())?;
    check_world(&d.plan_path, &schedule, Some(job))?;
    let data = DataSource::list(&run)?;
    let meta = match &d.record {
        Some(json) => {
            let path = d.out.join("last.json");
            let meta = Meta::from_json(json, &path)?;
            resume::check_data(&data, &meta)?;
            resume::check_record(&meta, &schedule, data.exact_train_len(), &d.out)?;
            Some(meta)
        }
        None => {
            check_plan_against_data(&d.plan_path, &schedule, data.train_len())?;
            None
        }
    };
    check_memory(&run, &schedule)?;
    let device = device(&run, Some(job))?;
    check_model(&run, &data, device)?;
    let plan = (d.plan_path, d.plan, schedule);
    RunConfig::assemble(run, argv, (d.out, None, device), plan, data, meta)
}

/// Rank 0 describes the run; then every rank waits for all to have configured theirs.
pub(super) fn join(cfg: &RunConfig, job: &Job) -> Result<()> {
    job.set_run_folder(&cfg.out);
    if job.writes() {
        job.publish(&Description {
            args: cfg.args.clone(),
            plan_path: cfg.plan_path.clone(),
            plan: cfg.plan_text.clone(),
            record: match &cfg.resume {
                Some(meta) => Some(String::from_utf8_lossy(&meta.to_json()?).into_owned()),
                None => None,
            },
            out: cfg.out.clone(),
        })?;
    }
    job.agree()
}
