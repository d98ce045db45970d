//! The whole table as NumPy arrays, filled in Rust with the GIL released, on every core: a
//! step is a pure function of its index, so each thread walks its own stretch of the run with
//! the schedule crate's step iterator, and no Python object is made per step. The arrays take
//! over the Rust vectors (`PyArray1::from_vec`), so nothing is copied.

use std::mem::{offset_of, size_of};

use lrplan_schedule::{Phase, Schedule};
use numpy::{Element, PyArray1, PyArrayDescr};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use rayon::prelude::*;

/// One row of `Schedule.table()`, laid out as its NumPy dtype says (`row_dtype`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Row {
    step: u64,
    iteration: u64,
    t: f64,
    lr: f64,
    epoch: u32,
    batch_size: u32,
    phase: u8,
}

/// `lrplan.PHASES`: the names of the `phase` column's values.
pub const PHASES: [&str; 2] = ["freeze", "unfreeze"];

impl From<lrplan_schedule::Step> for Row {
    fn from(s: lrplan_schedule::Step) -> Row {
        Row {
            step: s.index,
            iteration: s.iteration,
            t: s.t,
            lr: s.lr,
            epoch: s.epoch,
            batch_size: s.batch_size,
            phase: match s.phase {
                Phase::Freeze => 0,
                Phase::Unfreeze => 1,
            },
        }
    }
}

static ROW_DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();

/// The structured dtype of [`Row`]: the CSV's columns in the CSV's order (with `t` before
/// `lr`), at the struct's offsets.
fn row_dtype(py: Python<'_>) -> PyResult<&Py<PyArrayDescr>> {
    ROW_DTYPE.get_or_try_init(py, || {
        let spec = PyDict::new(py);
        let columns = [
            ("step", "=u8", offset_of!(Row, step)),
            ("epoch", "=u4", offset_of!(Row, epoch)),
            ("iteration", "=u8", offset_of!(Row, iteration)),
            ("phase", "u1", offset_of!(Row, phase)),
            ("batch_size", "=u4", offset_of!(Row, batch_size)),
            ("t", "=f8", offset_of!(Row, t)),
            ("lr", "=f8", offset_of!(Row, lr)),
        ];
        spec.set_item("names", columns.map(|c| c.0))?;
        spec.set_item("formats", columns.map(|c| c.1))?;
        spec.set_item("offsets", columns.map(|c| c.2))?;
        spec.set_item("itemsize", size_of::<Row>())?;
        Ok(PyArrayDescr::new(py, spec)?.unbind())
    })
}

// SAFETY: `Row` is plain old data (`repr(C)`, no pointers) and `row_dtype` describes its
// layout field by field: the struct's own offsets and size, native byte order (`=`).
unsafe impl Element for Row {
    const IS_COPY: bool = true;

    fn get_dtype(py: Python<'_>) -> Bound<'_, PyArrayDescr> {
        // `rows` builds the dtype (reporting a failure) before any array of rows exists.
        row_dtype(py)
            .expect("the table's dtype is built before its array")
            .bind(py)
            .clone()
    }

    fn clone_ref(&self, _py: Python<'_>) -> Self {
        *self
    }
}

/// `Schedule.table()`.
pub fn rows<'py>(py: Python<'py>, schedule: &Schedule) -> PyResult<Bound<'py, PyArray1<Row>>> {
    row_dtype(py)?;
    let rows = collect(py, schedule, Row::from)?;
    Ok(PyArray1::from_vec(py, rows))
}

/// `Schedule.lrs()`.
pub fn lrs<'py>(py: Python<'py>, schedule: &Schedule) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let lrs = collect(py, schedule, |s| s.lr)?;
    Ok(PyArray1::from_vec(py, lrs))
}

/// Every step mapped by `f`, without the GIL. The vector is reserved up front, so a plan too
/// large for memory raises MemoryError instead of aborting the interpreter.
fn collect<T: Send + Default>(
    py: Python<'_>,
    schedule: &Schedule,
    f: impl Fn(lrplan_schedule::Step) -> T + Sync,
) -> PyResult<Vec<T>> {
    let steps = schedule.total_steps();
    let mut out = Vec::new();
    let n = usize::try_from(steps)
        .ok()
        .filter(|&n| out.try_reserve_exact(n).is_ok())
        .ok_or_else(|| {
            PyMemoryError::new_err(format!(
                "the table has {steps} steps ({} bytes each): too large for memory; use \
                 Schedule.steps() or Schedule.lr()",
                size_of::<T>()
            ))
        })?;
    out.resize_with(n, T::default);
    py.detach(|| {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(k, part)| {
            let steps = schedule.steps_from((k * CHUNK) as u64);
            for (slot, step) in part.iter_mut().zip(steps) {
                *slot = f(step);
            }
        })
    });
    Ok(out)
}

/// Steps per task: enough that a task's start (finding its first step) is noise.
const CHUNK: usize = 1 << 14;
