//! The plan's fields as Python sees them, made from the schedule crate's field table
//! (`lrplan_schedule::fields::FIELDS`): every field is reachable by its dotted path (`lr.init`)
//! or by the keyword spelling of it (`lr_init`), with no list of names written here, so a field
//! added to the table is a keyword of `Plan(...)` the next build.

use lrplan_schedule::fields::{self, Kind, Value};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyTuple};

/// The keyword spelling of a dotted path: `lr.init` → `lr_init`.
pub fn keyword(path: &str) -> String {
    path.replace('.', "_")
}

/// The field named by a dotted path or its keyword spelling.
pub fn find(name: &str) -> Option<&'static fields::Field> {
    fields::FIELDS
        .iter()
        .find(|f| f.path == name || keyword(f.path) == name)
}

/// A field's value as a Python object: float, int, bool, str, or None for an absent optional
/// field.
pub fn to_py<'py>(py: Python<'py>, value: Option<Value>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        None => py.None().into_bound(py),
        Some(Value::Float(x)) => PyFloat::new(py, x).into_any(),
        Some(Value::Int(n)) => n.into_pyobject(py)?.into_any(),
        Some(Value::Bool(b)) => PyBool::new(py, b).to_owned().into_any(),
        Some(Value::Choice(name)) => PyString::new(py, name).into_any(),
    })
}

/// A Python object as a value of `field`'s kind, or the rule it breaks in words. Floats take
/// ints too (`300` is `300.0`, as in the plan file); whole numbers take ints only; a bool is
/// neither (Python's `True` is an int, but `lr_nbs=True` is a mistake).
pub fn from_py(field: &fields::Field, obj: &Bound<'_, PyAny>) -> Result<Option<Value>, String> {
    if obj.is_none() {
        return Ok(None);
    }
    let is_bool = obj.is_instance_of::<PyBool>();
    let value = match field.kind() {
        Kind::Float if !is_bool => obj.extract::<f64>().ok().map(Value::Float),
        Kind::Int { max } if !is_bool && obj.is_instance_of::<PyInt>() => {
            match obj.extract::<u64>() {
                Ok(n) => Some(Value::Int(n)),
                Err(_) if obj.lt(0).unwrap_or(false) => return Err("must be at least 0".into()),
                Err(_) => return Err(format!("must be at most {max}")),
            }
        }
        // numpy integers and the like: whatever has __index__.
        Kind::Int { .. } if !is_bool && !obj.is_instance_of::<PyFloat>() => {
            obj.extract::<u64>().ok().map(Value::Int)
        }
        Kind::Bool => obj.extract::<bool>().ok().map(Value::Bool),
        Kind::Choice(names) => obj
            .extract::<String>()
            .ok()
            .and_then(|s| names.iter().find(|n| **n == s))
            .map(|n| Value::Choice(n)),
        _ => None,
    };
    value
        .map(Some)
        .ok_or_else(|| format!("must be {}", describe(field.kind())))
}

/// What a value of `kind` is, in Python's spelling.
fn describe(kind: Kind) -> String {
    match kind {
        Kind::Float => "a number (float or int)".into(),
        Kind::Int { max } => format!("a whole number (int) from 0 to {max}"),
        Kind::Bool => "True or False".into(),
        Kind::Choice(names) => format!("one of {}", quoted(names)),
    }
}

fn quoted(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

/// A plan field: its dotted path, keyword, type, default and meaning, from the schedule crate's
/// field table. `lrplan.FIELDS` holds them all, in plan-file order.
#[pyclass(frozen, module = "lrplan")]
pub struct Field {
    field: &'static fields::Field,
}

#[pymethods]
impl Field {
    /// The dotted path in the plan file (`lr.init`); also the key of `Plan.to_dict()` and the
    /// field a violation names.
    #[getter]
    fn path(&self) -> &'static str {
        self.field.path
    }

    /// The keyword of `Plan(...)` and `Plan.replace(...)`, and the attribute (`lr_init`).
    #[getter]
    fn name(&self) -> String {
        keyword(self.field.path)
    }

    /// The value's type: "float", "int", "bool" or "choice".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.field.kind() {
            Kind::Float => "float",
            Kind::Int { .. } => "int",
            Kind::Bool => "bool",
            Kind::Choice(_) => "choice",
        }
    }

    /// The names a choice field takes (empty for other kinds).
    #[getter]
    fn choices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        match self.field.kind() {
            Kind::Choice(names) => PyTuple::new(py, names),
            _ => Ok(PyTuple::empty(py)),
        }
    }

    /// Whether the field may be None (absent: the rule its doc states applies).
    #[getter]
    fn optional(&self) -> bool {
        self.field.optional()
    }

    /// The value of a plan that does not set the field.
    #[getter]
    fn default<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self.field.default_value())
    }

    /// A short label (the planner page's).
    #[getter]
    fn label(&self) -> &'static str {
        self.field.label
    }

    /// What the field means, in one line.
    #[getter]
    fn doc(&self) -> &'static str {
        self.field.doc
    }

    /// `(path, value)` of the field this one only matters for, e.g. `("decay.kind", "step")`;
    /// None when it always matters.
    #[getter]
    fn only_when(&self) -> Option<(&'static str, &'static str)> {
        self.field.only_when
    }

    fn __repr__(&self) -> String {
        format!("<lrplan.Field {} ({})>", self.field.path, self.kind())
    }
}

/// `lrplan.FIELDS`: every field, in plan-file order.
pub fn all(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let fields = fields::FIELDS.iter().map(|field| Field { field });
    PyTuple::new(py, fields)
}

/// The TypeError for a key that is not a string.
pub fn key_error(key: &Bound<'_, PyAny>) -> PyErr {
    let ty = key
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    PyTypeError::new_err(format!("plan field names are strings, not {ty}"))
}
