//! A [`Plan`] as a commented plan file: every field of the table, in its order, with its doc
//! as the comment; an absent optional field is written commented out. Values are written by
//! [`crate::fields::Value`]'s `Display`, which round-trips floats bit for bit.

use alloc::format;
use alloc::string::String;

use crate::fields::{self, SECTIONS};
use crate::plan::Plan;

/// The column the comments start at, so the values read as one column.
const COMMENT_COLUMN: usize = 28;

pub(super) fn plan(plan: &Plan) -> String {
    let mut out = String::from(
        "# lrplan plan file: read by `trainer train --plan`, `lrplan` and the planner page.\n\
         # Every key is optional; an absent key takes the default shown in the README.\n",
    );
    for section in &SECTIONS {
        out.push_str(&format!("\n[{}]\n", section.name));
        for field in fields::in_section(section.name) {
            let assignment = match field.get(plan) {
                Some(value) => format!("{} = {value}", field.key()),
                None => format!("# {} = ...", field.key()),
            };
            let pad = COMMENT_COLUMN
                .saturating_sub(assignment.chars().count())
                .max(1);
            out.push_str(&format!("{assignment}{:pad$}# {}\n", "", field.doc));
        }
    }
    out
}
