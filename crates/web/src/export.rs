//! Files in and out: the plan file the trainer reads and the CSV table it can be checked
//! against. Both are the schedule crate's own writers, so a download is byte for byte what
//! `lrplan` prints for the same plan.

use lrplan_schedule::{Schedule, plan_file, table};
use wasm_bindgen::prelude::*;

use crate::error::WebError;

/// Suggested names for the downloads.
pub const PLAN_FILE_NAME: &str = "plan.toml";
pub const TABLE_FILE_NAME: &str = "lr_table.csv";

/// Rows per piece of the CSV download: about 6 MB of text, a few hundred milliseconds of
/// work, so the page can show progress between pieces and never holds more than one piece in
/// the wasm module's memory (one string of the whole table overflows wasm32's 4 GB).
pub const CSV_PIECE_ROWS: u64 = 1 << 17;

/// The largest CSV the page writes, in bytes. Beyond it (about 25 million steps) the download
/// is refused with its size: the browser would hold gigabytes until it saves them, and
/// `lrplan --format csv`, which writes any size straight to a file, is the tool for that.
pub const CSV_MAX_BYTES: f64 = 1e9;

/// The plan file text (`plan_file::to_toml`).
pub fn plan_toml(schedule: &Schedule) -> String {
    plan_file::to_toml(schedule.plan())
}

/// The CSV table (`table::CSV_HEADER`, `Step::write_csv`) in pieces, of a copy of the
/// schedule taken when the download started, so editing the form meanwhile changes nothing.
#[wasm_bindgen]
pub struct CsvPieces {
    schedule: Schedule,
    next: u64,
    rows_per_piece: u64,
}

impl CsvPieces {
    /// The table of `schedule` in pieces of `rows_per_piece` rows, or why the page will not
    /// write it ([`CSV_MAX_BYTES`]).
    pub fn new(schedule: &Schedule, rows_per_piece: u64) -> Result<CsvPieces, WebError> {
        let bytes = estimated_csv_bytes(schedule);
        if bytes > CSV_MAX_BYTES {
            // Tenths of a GB from integers: `{:.1}` would add float formatting's exact mode
            // to the page (about 1 KB gzipped).
            let tenths = (bytes / 1e8).round() as u64;
            return Err(WebError::TooLarge(format!(
                "the CSV would be about {}.{} GB ({} rows); the page writes at most {} GB. \
                 Download plan.toml and run: lrplan --format csv plan.toml > {TABLE_FILE_NAME}",
                tenths / 10,
                tenths % 10,
                schedule.total_steps(),
                CSV_MAX_BYTES / 1e9,
            )));
        }
        Ok(CsvPieces {
            schedule: schedule.clone(),
            next: 0,
            rows_per_piece: rows_per_piece.max(1),
        })
    }
}

#[wasm_bindgen]
impl CsvPieces {
    /// The next piece of the table (the header starts the first), `None` after the last.
    pub fn next_piece(&mut self) -> Option<String> {
        let total = self.schedule.total_steps();
        if self.next >= total {
            return None;
        }
        let rows = self.rows_per_piece.min(total - self.next);
        let mut out = String::with_capacity(48 * rows as usize + 64);
        if self.next == 0 {
            out.push_str(table::CSV_HEADER);
            out.push('\n');
        }
        for step in self.schedule.steps_from(self.next).take(rows as usize) {
            step.write_csv(&mut out);
        }
        self.next += rows;
        Some(out)
    }

    /// The fraction of the rows written so far, for a progress message.
    pub fn done(&self) -> f64 {
        self.next as f64 / self.schedule.total_steps().max(1) as f64
    }
}

/// The CSV's size in bytes, from the average row of up to 1000 rows spread over the run (the
/// rows' lengths differ only by their numbers' digits).
fn estimated_csv_bytes(schedule: &Schedule) -> f64 {
    let total = schedule.total_steps();
    let samples = total.min(1000);
    let mut line = String::new();
    for k in 0..samples {
        if let Some(step) = schedule.step(k * total / samples) {
            step.write_csv(&mut line);
        }
    }
    let per_row = line.len() as f64 / samples.max(1) as f64;
    (table::CSV_HEADER.len() + 1) as f64 + per_row * total as f64
}

/// Reads a plan file's bytes into form values, through `plan_file::from_bytes` as the CLI and
/// the trainer do: a file they would refuse is refused here too, with the same message.
pub fn import(bytes: &[u8]) -> Result<crate::inputs::Form, WebError> {
    let plan = plan_file::from_bytes(bytes)?;
    Ok(crate::inputs::Form::of(&plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrplan_schedule::{Plan, UpdateUnit};

    fn plan(epochs: u32, iters: u32) -> Schedule {
        let mut plan = Plan::default();
        plan.epochs.total = epochs;
        plan.phases.freeze_epochs = epochs / 2;
        plan.updates.per = UpdateUnit::Iteration;
        plan.updates.iters_per_epoch = Some(iters);
        Schedule::new(&plan).unwrap()
    }

    fn joined(pieces: &mut CsvPieces) -> String {
        std::iter::from_fn(|| pieces.next_piece()).collect()
    }

    #[test]
    fn the_pieces_join_to_the_whole_table() {
        // 7 rows a piece: pieces end inside epochs and across the phase boundary.
        let s = plan(6, 5);
        let mut pieces = CsvPieces::new(&s, 7).unwrap();
        assert_eq!(pieces.done(), 0.0);
        assert_eq!(joined(&mut pieces), table::to_csv(&s));
        assert_eq!(pieces.done(), 1.0);
        assert_eq!(pieces.next_piece(), None);
        let s = Schedule::new(&Plan::default()).unwrap();
        let mut one = CsvPieces::new(&s, CSV_PIECE_ROWS).unwrap();
        assert_eq!(one.next_piece().unwrap(), table::to_csv(&s));
        assert_eq!(one.next_piece(), None);
    }

    #[test]
    fn the_size_estimate_is_close() {
        let s = plan(40, 2500);
        let exact = table::to_csv(&s).len() as f64;
        let estimate = estimated_csv_bytes(&s);
        assert!(
            (estimate / exact - 1.0).abs() < 0.02,
            "{estimate} vs {exact}"
        );
    }

    #[test]
    fn a_table_beyond_the_limit_is_refused_with_its_size() {
        let err = CsvPieces::new(&plan(1000, 100_000), CSV_PIECE_ROWS)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("the CSV would be about 4.") && err.contains("(100000000 rows)"),
            "{err}"
        );
        assert!(err.contains("at most 1 GB"), "{err}");
        assert!(
            err.ends_with("lrplan --format csv plan.toml > lr_table.csv"),
            "{err}"
        );
    }
}
