//! Files in and out: the plan file the trainer reads and the CSV table it can be checked
//! against. Both are the schedule crate's own writers, so a download is byte for byte what
//! `lrplan` prints for the same plan.

use lrplan_schedule::{Schedule, plan_file, table};

/// Suggested names for the downloads.
pub const PLAN_FILE_NAME: &str = "plan.toml";
pub const TABLE_FILE_NAME: &str = "lr_table.csv";

/// The plan file text (`plan_file::to_toml`).
pub fn plan_toml(schedule: &Schedule) -> String {
    plan_file::to_toml(schedule.plan())
}

/// Every step as CSV, header included (`table::to_csv`).
pub fn table_csv(schedule: &Schedule) -> String {
    table::to_csv(schedule)
}

/// Reads a plan file's bytes into form values, through `plan_file::from_bytes` as the CLI and
/// the trainer do: a file they would refuse is refused here too, with the same message.
pub fn import(bytes: &[u8]) -> Result<crate::inputs::Form, crate::error::WebError> {
    let plan = plan_file::from_bytes(bytes)?;
    Ok(crate::inputs::Form::of(&plan))
}
