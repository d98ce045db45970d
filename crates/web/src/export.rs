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

/// Reads a plan file into form values; a file the trainer would refuse is refused here too,
/// with the schedule crate's message.
pub fn import(text: &str) -> Result<crate::inputs::Form, crate::error::WebError> {
    let plan = plan_file::from_toml(text)?;
    Ok(crate::inputs::Form::of(&plan))
}
