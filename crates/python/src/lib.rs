//! `lrplan._lrplan`, the native half of the `lrplan` Python package (`python/lrplan` is the
//! rest: re-exports and the PyTorch scheduler).
//!
//! It is a face like the CLI and the page: every plan it reads, every error it raises and every
//! learning rate it returns comes from `lrplan-schedule`, so a PyTorch loop driven by it runs
//! the planned curve to the last bit. Build and install it with `pip install crates/python`.

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;

mod error;
mod fields;
mod plan;
mod schedule;
mod table;

#[pymodule]
fn _lrplan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("PlanError", py.get_type::<error::PlanError>())?;
    m.add("FIELDS", fields::all(py)?)?;
    m.add("PHASES", table::PHASES)?;
    m.add_class::<plan::Plan>()?;
    m.add_class::<schedule::Schedule>()?;
    m.add_class::<schedule::Step>()?;
    m.add_class::<schedule::Steps>()?;
    m.add_class::<schedule::Phase>()?;
    m.add_class::<schedule::Fit>()?;
    m.add_class::<schedule::Warmup>()?;
    m.add_class::<schedule::Tail>()?;
    m.add_class::<schedule::Boundary>()?;
    m.add_class::<fields::Field>()?;
    m.add_class::<error::Violation>()?;
    Ok(())
}

/// `repr(value)` as Python writes it (`1e-05`, `'freeze'`), for the classes' `__repr__`.
fn py_repr<'py>(py: Python<'py>, value: impl IntoPyObject<'py>) -> PyResult<String> {
    let object = value.into_bound_py_any(py)?;
    Ok(object.repr()?.to_string())
}
