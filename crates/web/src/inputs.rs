//! The form: one text value per input, named by the plan-file field path (`lr.init`), turned
//! into a [`Plan`] and back.
//!
//! The inputs are the schedule crate's field table ([`FIELDS`]) in its order, plus two
//! page-only switches ([`SWITCHES`]) with no plan-file key: `lr.limits` (auto/custom) and
//! `updates.source` (iters_per_epoch/dataset_size), which decide which optional fields are set.
//! A new plan field therefore needs no edit here, nor in the page ([`crate::form`]).
//!
//! The page sends raw strings rather than numbers so that what the user typed reaches Rust
//! untouched: Rust's float parser rounds exactly like the TOML reader the trainer uses, so
//! "0.01" in the form and `init = 0.01` in the plan file are the same bits.

use lrplan_schedule::Plan;
use lrplan_schedule::fields::{self, FIELDS, Field, Kind, Value};

use crate::error::WebError;

/// A page-only input: it picks which of some optional plan fields the form sets.
pub struct Switch {
    pub name: &'static str,
    pub label: &'static str,
    /// `(value, text)` of each option; the first is shown for a plan that sets none of the
    /// controlled fields.
    pub options: &'static [(&'static str, &'static str)],
    /// `(field path, option)`: the field is in use while the switch is on that option. The
    /// switch stands just before the first of these fields on the page.
    pub controls: &'static [(&'static str, &'static str)],
    /// Whether a field not in use is hidden (otherwise it is only disabled).
    pub hides: bool,
}

pub const SWITCHES: [Switch; 2] = [
    Switch {
        name: "lr.limits",
        label: "fit limits",
        options: &[("auto", "auto (optimizer default)"), ("custom", "custom")],
        controls: &[("lr.limit_max", "custom"), ("lr.limit_min", "custom")],
        hides: false,
    },
    Switch {
        name: "updates.source",
        label: "iterations per epoch from",
        options: &[
            ("iters_per_epoch", "a fixed count"),
            ("dataset_size", "dataset size ÷ batch"),
        ],
        controls: &[
            ("updates.iters_per_epoch", "iters_per_epoch"),
            ("updates.dataset_size", "dataset_size"),
            ("updates.drop_last", "dataset_size"),
        ],
        hides: true,
    },
];

impl Switch {
    /// The option a plan implies: the first whose optional fields the plan sets.
    fn value_for(&self, plan: &Plan) -> &'static str {
        let sets = |option: &str| {
            self.controls.iter().any(|(path, on)| {
                *on == option
                    && fields::find(path).is_some_and(|f| f.optional() && f.get(plan).is_some())
            })
        };
        let mut options = self.options.iter().map(|(value, _)| *value);
        options.find(|o| sets(o)).unwrap_or(self.options[0].0)
    }

    /// The option under which `field` is in use, if this switch controls it.
    pub fn option_for(&self, field: &str) -> Option<&'static str> {
        self.controls
            .iter()
            .find(|(path, _)| *path == field)
            .map(|(_, on)| *on)
    }
}

/// The switch that controls `field`, with the option that puts the field in use.
pub fn switch_of(field: &str) -> Option<(&'static Switch, &'static str)> {
    SWITCHES
        .iter()
        .find_map(|s| s.option_for(field).map(|on| (s, on)))
}

/// One input of the page.
#[derive(Clone, Copy)]
pub enum Input {
    Field(&'static Field),
    Switch(&'static Switch),
}

impl Input {
    pub fn name(self) -> &'static str {
        match self {
            Input::Field(f) => f.path,
            Input::Switch(s) => s.name,
        }
    }
}

/// Every input in page order: the fields in table order, each switch just before the first
/// field it controls.
pub fn inputs() -> impl Iterator<Item = Input> {
    FIELDS.iter().flat_map(|f| {
        let switch = SWITCHES
            .iter()
            .find(|s| s.controls.first().is_some_and(|(path, _)| *path == f.path));
        switch
            .map(Input::Switch)
            .into_iter()
            .chain([Input::Field(f)])
    })
}

/// Form values, one per input, in page order.
#[derive(Debug, Clone, PartialEq)]
pub struct Form(Vec<(&'static str, String)>);

impl Form {
    /// The form showing `plan`.
    pub fn of(plan: &Plan) -> Form {
        let values = inputs().map(|input| {
            let value = match input {
                Input::Field(f) => f.get(plan).map(text).unwrap_or_default(),
                Input::Switch(s) => s.value_for(plan).to_owned(),
            };
            (input.name(), value)
        });
        Form(values.collect())
    }

    /// Sets one input; unknown names are ignored (an old link may carry a removed field).
    pub fn set(&mut self, name: &str, value: &str) {
        if let Some((_, v)) = self.0.iter_mut().find(|(n, _)| *n == name) {
            value.clone_into(v);
        }
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// `(name, value)` in page order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(n, v)| (*n, v.as_str()))
    }

    /// The URL fragment for this form: only the fields that differ from the default plan, so
    /// the default page has an empty hash and links stay short. Values are numbers, kinds and
    /// flags (`[0-9a-z.+-]`), which need no escaping; anything else is percent-encoded by JS.
    pub fn to_hash(&self) -> String {
        let default = Form::of(&Plan::default());
        self.pairs()
            .filter(|(name, value)| default.get(name) != *value)
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The form a hash produced by [`Form::to_hash`] describes (defaults for absent fields).
    pub fn from_hash(hash: &str) -> Form {
        let mut form = Form::of(&Plan::default());
        for pair in hash.trim_start_matches('#').split('&') {
            if let Some((name, value)) = pair.split_once('=') {
                form.set(name, value);
            }
        }
        form
    }

    /// Reads the plan. Only the form's own parsing is checked here (is it a number?); the
    /// plan's rules are the schedule crate's, applied afterwards by [`Plan::validate`].
    /// Every unreadable input is reported, not just the first.
    pub fn to_plan(&self) -> Result<Plan, Vec<WebError>> {
        let mut plan = Plan::default();
        let mut errors = Vec::new();
        for input in inputs() {
            let text = self.get(input.name()).trim();
            let read = match input {
                Input::Switch(s) => check_switch(s, text),
                Input::Field(f) if !self.in_use(f) && f.optional() => f.set(&mut plan, None),
                Input::Field(f) => value(f, text).and_then(|v| {
                    f.set(&mut plan, v).map_err(|rule| match text {
                        "" => rule,
                        _ => format!("{rule} (got \"{text}\")"),
                    })
                }),
            };
            if let Err(message) = read {
                errors.push(WebError::Field {
                    field: input.name(),
                    message,
                });
            }
        }
        if errors.is_empty() {
            Ok(plan)
        } else {
            Err(errors)
        }
    }

    /// Whether `field`'s switch (if any) puts it in use; a field not in use and optional is
    /// left absent, whatever its input still holds.
    fn in_use(&self, field: &Field) -> bool {
        switch_of(field.path).is_none_or(|(s, on)| self.get(s.name) == on)
    }
}

/// A field's value as the form shows it; floats in Rust's shortest round-trip form.
fn text(value: Value) -> String {
    match value {
        Value::Float(x) => x.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Choice(name) => name.to_owned(),
    }
}

/// The value an input's text stands for; empty is absent.
fn value(field: &Field, text: &str) -> Result<Option<Value>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let value = match field.kind() {
        Kind::Float => text.parse().ok().map(Value::Float),
        Kind::Int { .. } => text.parse().ok().map(Value::Int),
        Kind::Bool => text.parse().ok().map(Value::Bool),
        Kind::Choice(names) => names.iter().find(|n| **n == text).map(|n| Value::Choice(n)),
    };
    let rule = match field.kind() {
        Kind::Int { .. } => "must be a whole number of at least 0".into(),
        other => format!("must be {}", other.describe()),
    };
    value
        .map(Some)
        .ok_or_else(|| format!("{rule} (got \"{text}\")"))
}

fn check_switch(switch: &Switch, text: &str) -> Result<(), String> {
    match switch.options.iter().any(|(value, _)| *value == text) {
        true => Ok(()),
        false => Err(format!("is not a known choice (got \"{text}\")")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrplan_schedule::{DecayKind, UpdateUnit};

    #[test]
    fn default_form_reads_back_to_the_default_plan() {
        let form = Form::of(&Plan::default());
        assert_eq!(form.to_plan().unwrap(), Plan::default());
        assert_eq!(form.to_hash(), "");
    }

    #[test]
    fn hash_round_trips_a_changed_plan() {
        let mut plan = Plan::default();
        plan.decay.kind = DecayKind::Step;
        plan.lr.limit_min = Some(1e-5);
        plan.updates.per = UpdateUnit::Iteration;
        plan.updates.dataset_size = Some(1234);
        let form = Form::of(&plan);
        let back = Form::from_hash(&format!("#{}", form.to_hash()));
        assert_eq!(back.to_plan().unwrap(), plan);
    }

    #[test]
    fn unreadable_fields_are_all_reported() {
        let mut form = Form::of(&Plan::default());
        form.set("lr.init", "abc");
        form.set("epochs.total", "-3");
        let errors = form.to_plan().unwrap_err();
        let fields: Vec<_> = errors
            .iter()
            .map(|e| match e {
                WebError::Field { field, .. } => *field,
                _ => "",
            })
            .collect();
        assert_eq!(fields, ["lr.init", "epochs.total"]);
    }

    #[test]
    fn every_field_and_switch_is_an_input_once_in_table_order() {
        let names: Vec<&str> = inputs().map(Input::name).collect();
        let fields: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| fields::find(n).is_some())
            .collect();
        let table: Vec<&str> = FIELDS.iter().map(|f| f.path).collect();
        assert_eq!(fields, table);
        assert_eq!(names.len(), FIELDS.len() + SWITCHES.len());
        for s in &SWITCHES {
            for (path, on) in s.controls {
                assert!(fields::find(path).is_some(), "{}: no field {path}", s.name);
                assert!(s.options.iter().any(|(v, _)| v == on), "{}: {on}", s.name);
            }
        }
    }

    #[test]
    fn a_switch_turned_off_leaves_its_fields_absent() {
        let mut form = Form::of(&Plan::default());
        form.set("lr.limit_max", "0.5");
        assert_eq!(form.to_plan().unwrap().lr.limit_max, None);
        form.set("lr.limits", "custom");
        assert_eq!(form.to_plan().unwrap().lr.limit_max, Some(0.5));
        form.set("lr.limits", "sometimes");
        assert!(form.to_plan().is_err());
    }

    #[test]
    fn whole_numbers_beyond_the_fields_type_are_refused() {
        let mut form = Form::of(&Plan::default());
        form.set("lr.nbs", "4294967296");
        let errors = form.to_plan().unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "lr.nbs must be at most 4294967295 (got \"4294967296\")"
        );
    }
}
