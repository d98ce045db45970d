//! `lrplan-web`: the browser planner, the schedule crate compiled to WebAssembly.
//!
//! A person plans a learning-rate schedule in a static page and then trains with exactly those
//! rates in the native trainer. That only holds if the page never computes an lr itself: every
//! value it shows, draws or downloads comes from `lrplan-schedule`, the crate the trainer
//! links, which is `no_std` + `libm` so wasm32 and x86-64 give the same bits. This crate is
//! the thin layer in between:
//!
//! * [`inputs`]: form values (named by plan-file field, `lr.init`) to a `Plan`, and back; the
//!   URL hash.
//! * [`form`]: the form's HTML, written from the schedule crate's field table at start-up.
//! * [`chart`]: the curve with plotters on a HiDPI canvas, from the crate's per-pixel envelope
//!   so a 3-million-step plan redraws in milliseconds.
//! * [`report`]: fitted rates and why, warm-up, tail, boundary, the per-epoch table.
//! * [`compare`]: a pinned plan drawn under the current one.
//! * [`export`]: the plan file and CSV table, written by the schedule crate's own writers, and
//!   the plan-file reader (`plan_file::from_bytes`, the one the CLI and the trainer use).
//! * [`error`]: the one error type.
//!
//! The page's JavaScript (`web/app.js`) only wires DOM events to [`Planner`] and inserts what it
//! returns; it does no arithmetic on learning rates.

mod canvas;
pub mod chart;
pub mod compare;
pub mod error;
pub mod export;
pub mod form;
pub mod inputs;
mod planner;
pub mod report;

use wasm_bindgen::prelude::*;

pub use crate::planner::{FieldMessage, Planner, Readout, StepView};

/// Installs the panic hook: a Rust panic is logged with its message (console_error_panic_hook)
/// and shown in the page's `#fatal` banner, so the page never fails silently.
#[wasm_bindgen]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_fatal(&format!("Internal error (please reload the page): {info}"));
    }));
}

/// Panics on purpose, so the end-to-end test can check that a panic reaches the page.
#[wasm_bindgen]
pub fn panic_for_test() {
    panic!("test panic requested by the page");
}

fn show_fatal(message: &str) {
    let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("fatal"))
    else {
        return;
    };
    el.set_text_content(Some(message));
    let _ = el.remove_attribute("hidden");
}

/// One input's value, for filling the form from a plan file or link.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValue {
    pub name: String,
    pub value: String,
}

/// Reads a plan file's bytes (`plan_file::from_bytes`) into form values; a file the trainer
/// would refuse is refused with the schedule crate's message. The page's import (file picker,
/// drag-and-drop) passes the file's bytes undecoded, so it accepts exactly what the CLI and
/// the trainer accept.
#[wasm_bindgen]
pub fn read_plan_file(bytes: &[u8]) -> Result<Vec<FieldValue>, JsValue> {
    Ok(fields_of(&export::import(bytes)?))
}

/// The form's inputs as HTML (`form::html`), inserted by the page before it fills them.
#[wasm_bindgen]
pub fn form_html() -> String {
    form::html()
}

/// The form's values as the page receives them.
pub fn fields_of(form: &inputs::Form) -> Vec<FieldValue> {
    form.pairs()
        .map(|(name, value)| FieldValue {
            name: name.into(),
            value: value.into(),
        })
        .collect()
}
