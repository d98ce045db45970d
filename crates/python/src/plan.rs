//! `lrplan.Plan`: an immutable, always valid plan. It is read and written only by the
//! schedule crate (`plan_file`, `Plan::validate`), so a plan Python accepts is one the CLI,
//! the page and the trainer accept, and its errors are theirs, word for word.

use std::collections::HashSet;
use std::path::PathBuf;

use lrplan_schedule::fields::{self, FIELDS};
use lrplan_schedule::{Plan as SchedulePlan, PlanError, Violation, plan_file};
use pyo3::exceptions::{PyAttributeError, PyKeyError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::error::Error;
use crate::fields::{find, from_py, key_error, keyword, to_py};
use crate::schedule::Schedule;

/// A learning-rate plan: the optimizer, fitted rates, decay, epochs, phases and update unit.
///
/// Fields are set by keyword, a field's dotted path with `_` for `.` (`lr_init` for
/// `lr.init`), or by a mapping of dotted paths; every other field keeps the original's
/// default. `lrplan.FIELDS` lists them. A plan is immutable and always valid: an invalid one
/// raises `lrplan.PlanError` (a ValueError) naming every broken field.
///
///     Plan(optimizer_kind="adam", lr_init=1e-3, epochs_total=100)
///     Plan({"lr.init": 1e-3, "updates.per": "iteration", "updates.iters_per_epoch": 500})
#[pyclass(frozen, eq, module = "lrplan")]
#[derive(Clone, PartialEq, Default)]
pub struct Plan {
    pub plan: SchedulePlan,
}

#[pymethods]
impl Plan {
    #[new]
    #[pyo3(signature = (fields = None, /, **changes))]
    fn new(
        fields: Option<&Bound<'_, PyAny>>,
        changes: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Plan> {
        Plan::default().with(fields, changes)
    }

    /// A copy with the given fields changed (keywords or a mapping of dotted paths, as for
    /// `Plan(...)`); the changes are checked together, so related fields change in one call.
    #[pyo3(signature = (fields = None, /, **changes))]
    fn replace(
        &self,
        fields: Option<&Bound<'_, PyAny>>,
        changes: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Plan> {
        self.with(fields, changes)
    }

    /// The original's settings: SGD at 1e-2, cosine over 300 epochs, a 50-epoch frozen phase
    /// at batch size 16, then batch size 8, the lr updated once per epoch.
    #[staticmethod]
    #[pyo3(name = "default")]
    fn default_plan() -> Plan {
        Plan::default()
    }

    /// Reads a plan file's text (TOML), as the CLI, the page and the trainer do.
    #[staticmethod]
    fn from_toml(text: &str) -> Result<Plan, Error> {
        Ok(Plan {
            plan: plan_file::from_toml(text)?,
        })
    }

    /// Reads a plan file's bytes (UTF-8, with or without a byte-order mark).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> Result<Plan, Error> {
        Ok(Plan {
            plan: plan_file::from_bytes(data)?,
        })
    }

    /// Reads a plan file. A refused file raises PlanError with the text `lrplan PATH` prints
    /// after its `lrplan: ` prefix.
    #[staticmethod]
    fn load(path: PathBuf) -> Result<Plan, Error> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| Error::Read {
            path: shown.clone(),
            source,
        })?;
        let plan = plan_file::from_bytes(&bytes).map_err(|source| Error::PlanFile {
            path: shown,
            source,
        })?;
        Ok(Plan { plan })
    }

    /// The plan file's text: commented TOML that reads back to the same plan, bit for bit
    /// (what the page's "Download plan.toml" gives).
    fn to_toml(&self) -> String {
        plan_file::to_toml(&self.plan)
    }

    /// Writes the plan file (`to_toml()`) to `path`.
    fn save(&self, path: PathBuf) -> Result<(), Error> {
        std::fs::write(&path, self.to_toml()).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })
    }

    /// Every field by dotted path, in plan-file order; None for an absent optional field.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for f in &FIELDS {
            dict.set_item(f.path, to_py(py, f.get(&self.plan))?)?;
        }
        Ok(dict)
    }

    /// Compiles the plan: its phases, fits and the lr of every step.
    fn schedule(&self) -> Result<Schedule, Error> {
        Schedule::new(&self.plan)
    }

    /// `plan["lr.init"]`: a field by dotted path (or keyword).
    fn __getitem__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let field = find(name).ok_or_else(|| PyKeyError::new_err(name.to_owned()))?;
        to_py(py, field.get(&self.plan))
    }

    /// `plan.lr_init`: a field by keyword.
    fn __getattr__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let field = find(name).ok_or_else(|| {
            PyAttributeError::new_err(format!("'Plan' object has no attribute {name:?}"))
        })?;
        to_py(py, field.get(&self.plan))
    }

    /// The fields' keywords, with those of `dir(object)`, for completion in a shell.
    fn __dir__(slf: &Bound<'_, Self>) -> PyResult<Vec<String>> {
        let mut names: Vec<String> = FIELDS.iter().map(|f| keyword(f.path)).collect();
        let base = slf.py().get_type::<Plan>().dir()?;
        names.extend(base.iter().filter_map(|n| n.extract::<String>().ok()));
        Ok(names)
    }

    /// `lrplan.Plan(...)` with the fields that differ from the default.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut args = Vec::new();
        for f in &FIELDS {
            let value = f.get(&self.plan);
            if value != f.default_value() {
                args.push(format!("{}={}", keyword(f.path), to_py(py, value)?.repr()?));
            }
        }
        Ok(format!("lrplan.Plan({})", args.join(", ")))
    }

    /// Pickles as its plan file's text (exact: floats round-trip).
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let from_toml = slf.get_type().getattr("from_toml")?;
        let args = PyTuple::new(slf.py(), [slf.get().to_toml()])?;
        Ok((from_toml, args))
    }
}

impl Plan {
    /// This plan with `fields` (a mapping) and then `changes` (keywords) applied and checked.
    /// A value of the wrong type and a broken rule are reported together, one violation per
    /// field, in the schedule crate's words.
    fn with(
        &self,
        fields: Option<&Bound<'_, PyAny>>,
        changes: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Plan> {
        let mut plan = self.plan;
        let mut seen = HashSet::new();
        let mut broken = Vec::new();
        let mut apply = |key: Bound<'_, PyAny>, value: Bound<'_, PyAny>| -> PyResult<()> {
            let name: String = key.extract().map_err(|_| key_error(&key))?;
            let field = find(&name).ok_or(Error::UnknownField(name))?;
            if !seen.insert(field.path) {
                return Err(Error::Twice(field.path).into());
            }
            if let Err(rule) = from_py(field, &value).and_then(|v| field.set(&mut plan, v)) {
                broken.push(violation(field, rule, &value)?);
            }
            Ok(())
        };
        if let Some(mapping) = fields {
            for item in mapping.call_method0("items")?.try_iter()? {
                let (key, value) = item?.extract()?;
                apply(key, value)?;
            }
        }
        if let Some(changes) = changes {
            for (key, value) in changes.iter() {
                apply(key, value)?;
            }
        }
        let mine: HashSet<&str> = broken.iter().map(|v: &Violation| v.field).collect();
        if let Err(e) = plan.validate() {
            let rest = e.violations().iter().filter(|v| !mine.contains(v.field));
            broken.extend(rest.cloned());
        }
        if broken.is_empty() {
            Ok(Plan { plan })
        } else {
            Err(Error::Plan(PlanError::Invalid(broken)).into())
        }
    }
}

fn violation(
    field: &'static fields::Field,
    rule: String,
    value: &Bound<'_, PyAny>,
) -> PyResult<Violation> {
    Ok(Violation {
        field: field.path,
        rule,
        value: value.repr()?.to_string(),
    })
}
