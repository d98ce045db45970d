//! `lrplan-weights`: inspect a weight file, or check how it matches a model, before
//! spending GPU hours training from it.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lrplan_weights::{KeyMap, ReadOptions, match_keys, read_file, read_model_keys};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lrplan-weights",
    version,
    about = "Read PyTorch / safetensors weight files (without running their code) and match them to a model's keys"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the tensors in a weight file: keys, dtypes, shapes and totals.
    Inspect {
        /// A PyTorch (.pt/.pth/.bin, zip or legacy) or safetensors file.
        file: PathBuf,
        /// Take the weights from this checkpoint key (default: found automatically).
        #[arg(long, value_name = "NAME")]
        entry: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Report which tensors of a weight file would load into a model, and why not the rest.
    Match {
        /// A PyTorch (.pt/.pth/.bin, zip or legacy) or safetensors file.
        file: PathBuf,
        /// The model's keys and shapes: {"key": [shape...], ...}, [["key", [shape...]], ...],
        /// or what `inspect --json` prints for a weight file of the model.
        #[arg(long, value_name = "MODEL_KEYS.json")]
        keys: PathBuf,
        /// Remove this prefix from file keys that have it (repeatable; applied first).
        #[arg(long = "strip-prefix", value_name = "P")]
        strip_prefix: Vec<String>,
        /// Prepend this to every file key (applied last).
        #[arg(long = "add-prefix", value_name = "P")]
        add_prefix: Option<String>,
        /// Regex rename PATTERN=REPLACEMENT on file keys (repeatable; after stripping).
        #[arg(long, value_name = "PAT=REP")]
        rename: Vec<String>,
        /// Apply the suggested prefix change when few keys match.
        #[arg(long = "auto-prefix")]
        auto_prefix: bool,
        /// Take the weights from this checkpoint key (default: found automatically).
        #[arg(long, value_name = "NAME")]
        entry: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Colour only for a person at a terminal, and never when NO_COLOR is set.
fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Print to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking
/// as `println!` would.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to stdout"),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect { file, entry, json } => {
            let sd = read_file(&file, &ReadOptions { entry })?;
            let inv = sd.inventory();
            if json {
                emit(&serde_json::to_string_pretty(&inv).context("JSON output")?)?;
            } else {
                emit(&inv.render(use_color()))?;
            }
        }
        Command::Match {
            file,
            keys,
            strip_prefix,
            add_prefix,
            rename,
            auto_prefix,
            entry,
            json,
        } => {
            let mut map = KeyMap {
                strip_prefixes: strip_prefix,
                add_prefix,
                renames: Vec::new(),
                auto_prefix,
            };
            for spec in &rename {
                map = map.with_rename(spec)?;
            }
            let model = read_model_keys(&keys)?;
            let sd = read_file(&file, &ReadOptions { entry })?;
            let report = match_keys(&sd, &model, &map);
            if json {
                emit(&serde_json::to_string_pretty(&report).context("JSON output")?)?;
            } else {
                emit(&report.render(use_color()))?;
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error chain joined, as the library already names file and cause.
            eprintln!("lrplan-weights: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
