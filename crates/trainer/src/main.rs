//! `trainer`: see `trainer --help`. Errors are printed as one line (with their causes) and
//! exit with status 1; nothing here panics on bad input.

use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use lrplan_trainer::cli::{Cli, Command, given_flags};
use lrplan_trainer::config::RunConfig;
use lrplan_trainer::distributed::Job;
use lrplan_trainer::interrupt::Interrupter;
use lrplan_trainer::learner::WARMUP_STEPS;
use lrplan_trainer::run::{self, Outcome};

fn main() -> ExitCode {
    lrplan_trainer::malloc::keep_freed_memory();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let given = matches
        .subcommand_matches("train")
        .map(given_flags)
        .unwrap_or_default();
    match real_main(cli, &given) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // Ctrl-C with a checkpoint saved: the conventional 128 + SIGINT.
            match e.downcast_ref::<lrplan_trainer::Error>() {
                Some(lrplan_trainer::Error::Interrupted { .. }) => ExitCode::from(130),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn real_main(cli: Cli, given: &[String]) -> anyhow::Result<()> {
    match cli.command {
        Command::Doctor(args) => {
            print!("{}", lrplan_trainer::doctor::report());
            if args.check_cuda {
                print!("{}", lrplan_trainer::cuda_check::run()?);
            }
            Ok(())
        }
        Command::Train(args) => {
            let interrupter = Interrupter::new();
            interrupter.stop_on_ctrl_c();
            // Under torchrun: this process's part in the job (None for a single process).
            let job = Job::from_env(Duration::from_secs(args.dist_timeout))?.map(Rc::new);
            let argv = std::env::args().collect();
            let trained = RunConfig::from_args(*args, given, argv, job.clone())
                .and_then(|config| run::train(config, interrupter));
            match job {
                None => report(&trained?),
                Some(job) => match job.conclude(trained) {
                    Ok(outcome) => report(&outcome),
                    Err(e) => {
                        return Err(anyhow::Error::new(e).context(format!("rank {}", job.rank())));
                    }
                },
            }
            Ok(())
        }
        Command::BenchData(args) => {
            lrplan_trainer::data::bench::run(&args)?;
            Ok(())
        }
    }
}

/// The closing lines of `trainer train`.
fn report(outcome: &Outcome) {
    let last = outcome.metrics.last();
    if outcome.already_finished {
        println!(
            "{}: the run is finished, every epoch of its plan is trained ({} epochs; final \
             val_acc {:.4}); nothing to do",
            outcome.out.display(),
            outcome.metrics.len(),
            last.map_or(f64::NAN, |m| m.val_acc)
        );
        return;
    }
    if let Some(m) = last {
        println!(
            "done: {} steps in {:.1}s; final val_acc {:.4}, val_loss {:.4}; run folder {}",
            outcome.steps,
            outcome.seconds,
            m.val_acc,
            m.val_loss,
            outcome.out.display()
        );
    }
    if outcome.timed_steps > 0 {
        let sps = outcome.timed_steps as f64 / outcome.train_seconds.max(1e-9);
        println!(
            "throughput: {sps:.3} steps/s ({} steps timed, the first {} excluded)",
            outcome.timed_steps, WARMUP_STEPS
        );
    }
}
