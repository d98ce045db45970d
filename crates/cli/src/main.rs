//! `lrplan`: a plan's summary and table on the terminal, without libtorch or a browser.
//!
//! It reads a plan file (or the built-in default) through the schedule crate's own reader, so
//! what it prints is exactly what the page shows and the trainer applies.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use lrplan_schedule::{Plan, Schedule, Step, plan_file, table};

#[derive(Parser)]
#[command(
    version,
    about = "Print a learning-rate plan's summary and per-step table"
)]
struct Args {
    /// Plan file (TOML). Without it, the built-in default plan (the original's settings).
    plan: Option<PathBuf>,
    /// What to print.
    #[arg(long, value_enum, default_value_t = Format::Summary)]
    format: Format,
    /// With --format summary: also list the lr of the first step of every epoch.
    #[arg(long)]
    epochs: bool,
    /// Write the default plan as a commented plan file to stdout and exit.
    #[arg(long, conflicts_with = "plan")]
    print_default: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Fitted lrs, warm-up, tail and phase boundary.
    Summary,
    /// Every step: step,epoch,iteration,phase,batch_size,lr.
    Csv,
    /// Every step as a JSON array of objects.
    Json,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`lrplan --format csv | head`) is the reader's choice, not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lrplan: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(args: Args) -> Result<()> {
    let out = std::io::stdout().lock();
    let mut out = BufWriter::new(out);
    if args.print_default {
        out.write_all(plan_file::to_toml(&Plan::default()).as_bytes())?;
        return Ok(out.flush()?);
    }
    let plan = match &args.plan {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read plan file {}", path.display()))?;
            // The bytes, not a string: the schedule crate decodes them as the page and the
            // trainer do, so all three accept the same files.
            plan_file::from_bytes(&bytes).with_context(|| format!("{}", path.display()))?
        }
        None => Plan::default(),
    };
    let schedule = Schedule::new(&plan)?;
    match args.format {
        Format::Summary => {
            let source = args
                .plan
                .as_ref()
                .map_or("built-in default plan".to_owned(), |p| {
                    p.display().to_string()
                });
            writeln!(out, "plan: {source}")?;
            writeln!(out, "{}", schedule.summary())?;
            if args.epochs || args.plan.is_none() {
                writeln!(out, "\nepoch  phase     batch  lr")?;
                for s in epoch_starts(&schedule) {
                    writeln!(
                        out,
                        "{:>5}  {:<8}  {:>5}  {:e}",
                        s.epoch,
                        s.phase.name(),
                        s.batch_size,
                        s.lr
                    )?;
                }
            }
        }
        Format::Csv => {
            writeln!(out, "{}", table::CSV_HEADER)?;
            let mut line = String::new();
            for s in schedule.steps() {
                line.clear();
                s.write_csv(&mut line);
                out.write_all(line.as_bytes())?;
            }
        }
        Format::Json => {
            out.write_all(b"[")?;
            for (i, s) in schedule.steps().enumerate() {
                let row = serde_json::json!({
                    "step": s.index, "epoch": s.epoch, "iteration": s.iteration,
                    "phase": s.phase.name(), "batch_size": s.batch_size, "lr": s.lr,
                });
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(b"\n")?;
                // As an io::Error, so that a closed pipe is recognised as one (`main`).
                serde_json::to_writer(&mut out, &row).map_err(std::io::Error::from)?;
            }
            out.write_all(b"\n]\n")?;
        }
    }
    Ok(out.flush()?)
}

/// The first step (iteration 0) of every epoch of the run, each found directly
/// (`first_step_of_epoch`, `step`): as many rows as epochs, whatever the iterations per epoch.
fn epoch_starts(schedule: &Schedule) -> impl Iterator<Item = Step> + '_ {
    let epochs = &schedule.plan().epochs;
    (epochs.start..epochs.total)
        .filter_map(|epoch| schedule.first_step_of_epoch(epoch))
        .filter_map(|index| schedule.step(index))
}
