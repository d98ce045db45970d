//! The plan file: TOML, because people edit it by hand. The page downloads it, the trainer and
//! the CLI read it, and all of them go through these functions, so the format has one
//! definition and the three faces accept exactly the same files.
//!
//! Every key is optional and defaults to the original's value; unknown keys are refused so a
//! typo does not silently fall back to a default. Floats are written in Rust's shortest
//! round-trip form, so a plan survives write → read bit for bit. The keys, their types and
//! their comments come from the field table ([`crate::fields::FIELDS`]).
//!
//! The text is lexed, parsed and decoded by `toml_parser`, the `toml` crate's own parser
//! (`no_std`, about 16 KB of the page's gzipped wasm), so every TOML spelling reads the same:
//! dotted keys, inline tables, quoted keys, literal and multi-line strings, escapes, comments,
//! CRLF and a byte-order mark. Its version is pinned (Cargo.toml) to the last release that
//! implements TOML 1.0.0, the version this file format is. The tests hold the reader to the
//! `toml` crate's verdict (same parser version) on generated and hand-written files.
//!
//! Errors name the line: a TOML syntax error also its column and the rule TOML states; a
//! value the plan cannot take, the field's path and the rule (`line 2: decay.kind must be one
//! of cos, step, linear, constant (got "cosine")`). A plan that parses is then checked with
//! [`Plan::validate`].

mod read;
mod syntax;
mod text;
mod write;

use crate::error::PlanError;
use crate::plan::Plan;

/// Reads a plan file's bytes: UTF-8, with or without a byte-order mark. The one way from a
/// file to a plan, for the CLI, the trainer and the page's import, so none of them decodes
/// differently. Anything else (UTF-16, Latin-1, binary) is refused with the encoding rule and
/// where the first offending byte is: TOML is UTF-8 only.
pub fn from_bytes(bytes: &[u8]) -> Result<Plan, PlanError> {
    from_toml(text::decode(bytes)?)
}

/// Parses and validates a plan file's text (a leading byte-order mark is allowed).
pub fn from_toml(text: &str) -> Result<Plan, PlanError> {
    let plan = read::plan(text)?;
    plan.validate()?;
    Ok(plan)
}

/// Writes a plan as a commented TOML file that [`from_toml`] reads back to the same plan.
pub fn to_toml(plan: &Plan) -> alloc::string::String {
    write::plan(plan)
}
