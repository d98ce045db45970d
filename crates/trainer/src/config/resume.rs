//! What `--resume` trusts, checked: which flags may change, the run's plan file, its data
//! and its checkpoint record.

use std::path::Path;

use lrplan_schedule::{Schedule, batches_per_epoch};

use super::DataSource;
use crate::checkpoint::Meta;
use crate::cli::TrainArgs;
use crate::error::{Error, Result};

/// Flags that may be given with `--resume`: where the data now is, where and how fast the
/// run trains, whether it draws charts, the stops for tests and benchmarks, and how long a
/// data-parallel job waits for a rank. Anything else would make the rest of the run another
/// run.
const MAY_CHANGE: [&str; 9] = [
    "resume",
    "data",
    "device",
    "threads",
    "deterministic",
    "no-charts",
    "max-steps",
    "stop-after-epochs",
    "dist-timeout",
];

/// The run's stored settings with the flags that may change applied; any other flag given
/// is refused by name.
pub fn merge(args: TrainArgs, given: &[String], dir: &Path, meta: &Meta) -> Result<TrainArgs> {
    if let Some(flag) = given.iter().find(|f| !MAY_CHANGE.contains(&f.as_str())) {
        return Err(refuse(flag, dir));
    }
    let given = |f: &str| given.iter().any(|g| g == f);
    let mut run = meta.args.clone();
    run.resume = None;
    run.start_over = false;
    run.out = Some(dir.to_path_buf());
    if given("data") {
        run.data = args.data;
    }
    if given("device") {
        run.device = args.device;
    }
    if given("threads") {
        run.threads = args.threads;
    }
    run.deterministic |= args.deterministic;
    run.no_charts |= args.no_charts;
    run.max_steps = args.max_steps.or(run.max_steps);
    run.stop_after_epochs = args.stop_after_epochs;
    run.dist_timeout = args.dist_timeout;
    Ok(run)
}

fn refuse(flag: &str, dir: &Path) -> Error {
    let d = dir.display();
    let reason = match flag {
        "plan" => "a run's plan cannot change mid-run; to train another plan, start a new run \
                   with --plan and --out"
            .to_string(),
        "out" => format!("the run folder is the one --resume names ({d})"),
        "start-over" => "starts a new run; it cannot be combined with --resume".to_string(),
        _ => format!(
            "cannot change when a run resumes: it continues with the settings it started with \
             (kept in {d}/last.json); only --data, --device, --threads, --deterministic, \
             --no-charts and --dist-timeout may be given with --resume"
        ),
    };
    Error::flag(format!("--{flag}"), reason)
}

/// The run folder's `plan.toml` must still be the plan the run trains: an edited copy would
/// no longer describe the run. A deleted one is restored from the checkpoint.
pub fn check_plan_file(path: &Path, plan: &str) -> Result<()> {
    match std::fs::read_to_string(path) {
        Ok(text) if text == plan => Ok(()),
        Ok(_) => Err(Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!(
                "differs from the plan this run trains (kept in its checkpoint): a run's plan \
                 cannot change mid-run. Delete the file and --resume restores it, or train the \
                 edited plan as a new run: --plan {} --out NEW_FOLDER",
                path.display()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(path, plan).map_err(|e| Error::io(path, "restore", e))?;
            println!("restored {} from the checkpoint", path.display());
            Ok(())
        }
        Err(e) => Err(Error::io(path, "read", e)),
    }
}

/// The data must be the run's: the same classes in the same order (else every label index
/// means another class) and the same number of images (else the data order and the epochs'
/// lengths change).
pub fn check_data(data: &DataSource, meta: &Meta) -> Result<()> {
    let at = data.describe();
    let classes = data.classes();
    if classes != meta.classes {
        return Err(Error::data(
            &at,
            format!(
                "the classes are {classes:?} but the run was trained with {:?}; a renamed, \
                 added or removed class folder would change what every label means (give \
                 --data the run's data)",
                meta.classes
            ),
        ));
    }
    let (train, val) = data.counts();
    if (train, val) != (meta.train_images, meta.val_images) {
        return Err(Error::data(
            &at,
            format!(
                "holds {train} train and {val} val images but the run was started with {} \
                 and {}; resuming needs the same images (the data order and the length of \
                 every epoch depend on them)",
                meta.train_images, meta.val_images
            ),
        ));
    }
    Ok(())
}

/// The record must describe a point of this plan's run: an epoch inside it, an iteration
/// inside that epoch, as many finished epochs and optimizer steps as lead there.
/// `train_len` is the listed training set (the step count is not checked when some images
/// may be skipped as undecodable).
pub fn check_record(
    meta: &Meta,
    schedule: &Schedule,
    train_len: Option<usize>,
    dir: &Path,
) -> Result<()> {
    let bad = |reason: String| Error::Checkpoint {
        path: dir.join("last.json"),
        reason,
    };
    let plan = schedule.plan();
    let (start, total) = (plan.epochs.start, plan.epochs.total);
    if !(start..=total).contains(&meta.epoch) {
        return Err(bad(format!(
            "stands at epoch {} but the plan trains epochs {start} to {}",
            meta.epoch,
            total.saturating_sub(1)
        )));
    }
    if meta.metrics.len() as u64 != (meta.epoch - start) as u64 {
        return Err(bad(format!(
            "stands at epoch {} but records {} finished epochs",
            meta.epoch,
            meta.metrics.len()
        )));
    }
    let Some(n) = train_len else { return Ok(()) };
    let iters = |e: u32| {
        let bs = schedule.phase_at(e).batch_size;
        batches_per_epoch(n as u64, bs, plan.updates.drop_last)
    };
    let in_epoch = if meta.epoch < total {
        iters(meta.epoch)
    } else {
        1
    };
    if meta.iteration >= in_epoch {
        return Err(bad(format!(
            "stands at iteration {} of epoch {}, which has {in_epoch}",
            meta.iteration, meta.epoch
        )));
    }
    let steps = (start..meta.epoch).map(iters).sum::<u64>() + meta.iteration;
    if meta.optimizer_steps != steps {
        return Err(bad(format!(
            "counts {} optimizer steps where epoch {}, iteration {} is reached after {steps}",
            meta.optimizer_steps, meta.epoch, meta.iteration
        )));
    }
    Ok(())
}
