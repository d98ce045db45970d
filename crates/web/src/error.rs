//! The crate's one error type: what can go wrong between the page and the schedule crate.

use lrplan_schedule::PlanError;
use wasm_bindgen::JsValue;

/// Everything the planner can refuse or fail at. Field problems are reported per field (so the
/// page can mark the input); the others become a message next to the control that caused them.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A form value that is not even a number, kind or flag: the schedule crate never sees it.
    #[error("{field} {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    /// The schedule crate refused the plan (its message is shown as is).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The canvas could not be drawn on.
    #[error("chart: {0}")]
    Chart(String),
    /// A download the page will not write; the message gives its size and the way instead.
    #[error("{0}")]
    TooLarge(String),
    /// Asked for a curve, table or export before any plan was valid.
    #[error("no valid plan yet")]
    NoSchedule,
}

impl From<WebError> for JsValue {
    fn from(e: WebError) -> JsValue {
        js_sys::Error::new(&e.to_string()).into()
    }
}
