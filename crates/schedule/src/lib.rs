//! The one place lrplan computes a learning rate.
//!
//! The browser planner (compiled to WebAssembly) and the native trainer both call this crate, so
//! the value a person plans for a step is, bit for bit, the value the trainer applies at that
//! step. That promise rests on three rules kept here:
//!
//! * `#![no_std]`, no platform math, and every operation correctly rounded: `cos` and `pow` are
//!   [`crmath`]'s, the double nearest to the exact value, so x86-64 and wasm32 round
//!   identically, and as any correct implementation of the contract would.
//! * Schedules are pure functions of the step ([`Curve::at`]); a resumed run gets the same value
//!   by construction, with no hidden state to restore.
//! * Every floating-point expression follows the contract (`shared/spec/schedule.md`) operation
//!   for operation, in the same order, because reordering changes the last bit.
//!
//! The layers, from the inside out: [`fit`] turns a batch size into fitted learning rates,
//! [`curve`] holds the schedules, [`plan`] is the user's whole configuration with its
//! validation, [`fields`] describes each of its fields once, [`schedule`] compiles a plan into
//! phases and answers "what is the lr at this step", [`table`] walks every step, [`envelope`]
//! reduces millions of steps to what a chart can show, and [`plan_file`] reads and writes the
//! TOML file the page downloads and the trainer reads.
#![no_std]

extern crate alloc;

pub mod crmath;
pub mod curve;
pub mod envelope;
mod error;
pub mod fields;
pub mod fit;
pub mod number;
pub mod plan;
pub mod plan_file;
pub mod schedule;
pub mod summary;
pub mod table;

pub use curve::Curve;
pub use error::{PlanError, Violation};
pub use fit::{Clamp, Fit, Limits};
pub use number::Number;
pub use plan::{DecayKind, OptimizerKind, Plan, UpdateUnit, batches_per_epoch};
pub use schedule::{Phase, PhaseSchedule, Schedule};
pub use summary::Summary;
pub use table::Step;
