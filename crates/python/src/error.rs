//! The crate's one error type and how each kind reaches Python: a refused plan as
//! `lrplan.PlanError` (a `ValueError`) with the schedule crate's own text, so a script sees
//! the words the CLI prints; an unreadable file as the `OSError` subclass Python's `open`
//! would raise; a wrong name or index as the exception Python raises for it.

use lrplan_schedule::{PlanError as SchedulePlanError, Violation as ScheduleViolation};
use pyo3::exceptions::{PyIndexError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::py_repr;

pyo3::create_exception!(
    lrplan,
    PlanError,
    PyValueError,
    "A plan was refused: the text names every broken field and its rule, as the `lrplan` CLI\n\
     prints it. `violations` lists them (empty for a plan file that does not parse)."
);

/// One broken rule of a plan: the field's dotted path, the rule in words and the value given.
#[pyclass(frozen, module = "lrplan", get_all)]
pub struct Violation {
    /// Dotted path of the field (`lr.init`).
    pub field: &'static str,
    /// The rule in words (`must be a finite number greater than 0`).
    pub rule: String,
    /// The offending value as given.
    pub value: String,
}

#[pymethods]
impl Violation {
    fn __str__(&self) -> String {
        self.schedule().to_string()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Violation(field={}, rule={}, value={})",
            py_repr(py, self.field)?,
            py_repr(py, &self.rule)?,
            py_repr(py, &self.value)?
        ))
    }
}

impl Violation {
    fn schedule(&self) -> ScheduleViolation {
        ScheduleViolation {
            field: self.field,
            rule: self.rule.clone(),
            value: self.value.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The schedule crate refused a plan (its text, its violations).
    #[error("{0}")]
    Plan(#[from] SchedulePlanError),
    /// A plan file it refused, prefixed with the path as the CLI prints it.
    #[error("{path}: {source}")]
    PlanFile {
        path: String,
        source: SchedulePlanError,
    },
    #[error("cannot read plan file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A keyword or mapping key that is no plan field.
    #[error(
        "unknown plan field {0:?}: use a dotted path (lr.init) or its keyword (lr_init); \
         lrplan.FIELDS lists them"
    )]
    UnknownField(String),
    #[error("plan field {0} is given twice")]
    Twice(&'static str),
    /// A step index past the end of the run.
    #[error("step {index} is outside the run (it has {total} steps)")]
    NoStep { index: i128, total: u64 },
    /// An epoch or iteration outside the run.
    #[error("{0}")]
    Outside(String),
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let text = e.to_string();
        match e {
            Error::Plan(source) | Error::PlanFile { source, .. } => plan_error(text, &source),
            Error::Read { path, source } => match source.raw_os_error() {
                // OSError(errno, strerror, filename) becomes FileNotFoundError, PermissionError…
                // as `open` raises them.
                Some(code) => PyOSError::new_err((code, strerror(&source), path)),
                None => PyOSError::new_err(text),
            },
            Error::UnknownField(_) | Error::Twice(_) => PyTypeError::new_err(text),
            Error::NoStep { .. } => PyIndexError::new_err(text),
            Error::Outside(_) => PyValueError::new_err(text),
        }
    }
}

/// `PlanError(text)` with its `violations` attribute filled.
fn plan_error(text: String, source: &SchedulePlanError) -> PyErr {
    Python::attach(|py| {
        let err = PlanError::new_err(text);
        let violations = source.violations().iter().map(|v| Violation {
            field: v.field,
            rule: v.rule.clone(),
            value: v.value.clone(),
        });
        let set =
            PyTuple::new(py, violations).and_then(|list| err.value(py).setattr("violations", list));
        match set {
            Ok(()) => err,
            Err(failed) => failed,
        }
    })
}

/// The system's message without Rust's " (os error N)" suffix: Python prints the number itself.
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
