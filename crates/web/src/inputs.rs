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

use std::borrow::Cow;

use lrplan_schedule::fields::{self, FIELDS, Field, Kind, Value};
use lrplan_schedule::{Number, Plan};
use percent_encoding::percent_decode_str;

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

    /// The form a link's hash describes (defaults for absent fields), with what of it was
    /// refused. The hash is taken as the address bar holds it: each name and value is
    /// percent-decoded on its own, leniently (a malformed escape such as `5%` stays as written,
    /// to be marked at its input), so no hash can stop the page. A text input takes any value
    /// (a wrong one is marked there); a select or checkbox can only show its options, so a
    /// value outside them (`phases.freeze=maybe`) keeps the default and is refused by name,
    /// with the allowed values and the value the link had.
    pub fn from_hash(hash: &str) -> (Form, Vec<String>) {
        // Escapes of bytes that are not UTF-8 are kept as written, like a malformed one.
        let decode = |s| {
            percent_decode_str(s)
                .decode_utf8()
                .unwrap_or(Cow::Borrowed(s))
        };
        let mut form = Form::of(&Plan::default());
        let mut refused = Vec::new();
        for pair in hash.trim_start_matches('#').split('&') {
            let Some((name, text)) = pair.split_once('=') else {
                continue;
            };
            let (name, text) = (decode(name), decode(text));
            let unshowable = match inputs().find(|i| i.name() == name) {
                Some(Input::Switch(s)) => check_switch(s, &text).err(),
                Some(Input::Field(f)) if matches!(f.kind(), Kind::Choice(_) | Kind::Bool) => {
                    value(f, &text).err()
                }
                _ => None,
            };
            match unshowable {
                Some(message) => refused.push(format!("{name} {message}")),
                None => form.set(&name, &text),
            }
        }
        (form, refused)
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

/// A field's value as the form shows it; floats in shortest round-trip digits, as a person
/// writes them (`Number`: 1e-320, not 322 characters).
fn text(value: Value) -> String {
    match value {
        Value::Float(x) => Number(x).to_string(),
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Choice(name) => name.to_owned(),
    }
}

/// The value an input's text stands for; an empty number is absent (a select or checkbox
/// always holds one of its values).
fn value(field: &Field, text: &str) -> Result<Option<Value>, String> {
    let value = match field.kind() {
        Kind::Float | Kind::Int { .. } if text.is_empty() => return Ok(None),
        Kind::Float => text.parse().ok().map(Value::Float),
        Kind::Int { .. } => text.parse().ok().map(Value::Int),
        Kind::Bool => text.parse().ok().map(Value::Bool),
        Kind::Choice(names) => names.iter().find(|n| **n == text).map(|n| Value::Choice(n)),
    };
    let rule = match field.kind() {
        Kind::Int { max } => format!("must be a whole number from 0 to {max}"),
        other => format!("must be {}", other.describe()),
    };
    value
        .map(Some)
        .ok_or_else(|| format!("{rule} (got \"{text}\")"))
}

fn check_switch(switch: &Switch, text: &str) -> Result<(), String> {
    match switch.options.iter().any(|(value, _)| *value == text) {
        true => Ok(()),
        false => {
            let values: Vec<&str> = switch.options.iter().map(|(value, _)| *value).collect();
            let values = values.join(", ");
            Err(format!("must be one of {values} (got \"{text}\")"))
        }
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
        let (back, refused) = Form::from_hash(&format!("#{}", form.to_hash()));
        assert_eq!(back.to_plan().unwrap(), plan);
        assert!(refused.is_empty());
    }

    /// The message the form gives for `field`, if any.
    fn message(form: &Form, field: &str) -> Option<String> {
        let errors = form.to_plan().err()?;
        errors
            .iter()
            .map(|e| e.to_string())
            .find(|m| m.starts_with(field))
    }

    #[test]
    fn any_hash_loads_with_malformed_escapes_kept_as_written() {
        let (form, refused) = Form::from_hash("#lr.init=5%&decay.kind=step&lr.min=1e%2D5");
        assert!(refused.is_empty());
        assert_eq!(form.get("lr.init"), "5%");
        assert_eq!(form.get("decay.kind"), "step");
        assert_eq!(form.get("lr.min"), "1e-5");
        assert_eq!(
            message(&form, "lr.init").unwrap(),
            "lr.init must be a number (got \"5%\")"
        );
        // Escapes of bytes that are not UTF-8 stay as written; a lone `%`, pairs without `=`:
        // no panic.
        assert_eq!(
            Form::from_hash("#lr.init=%E0%A4").0.get("lr.init"),
            "%E0%A4"
        );
        for hash in [
            "#lr.init=%E0%A4",
            "#%",
            "#=&&lr.init",
            "#lr.init=%zz%4",
            "%%%%=%",
        ] {
            let (form, _) = Form::from_hash(hash);
            let _ = form.to_plan();
        }
    }

    #[test]
    fn a_hash_value_a_select_or_checkbox_cannot_show_is_refused_by_name() {
        let (form, refused) = Form::from_hash(
            "phases.freeze=maybe&decay.kind=cosine&lr.limits=sometimes&epochs.total=30",
        );
        assert_eq!(
            refused,
            [
                "phases.freeze must be true or false (got \"maybe\")",
                "decay.kind must be one of cos, step, linear, constant (got \"cosine\")",
                "lr.limits must be one of auto, custom (got \"sometimes\")",
            ]
        );
        let defaults = Form::of(&Plan::default());
        for name in ["phases.freeze", "decay.kind", "lr.limits"] {
            assert_eq!(
                form.get(name),
                defaults.get(name),
                "{name} keeps its default"
            );
        }
        assert_eq!(form.to_plan().unwrap().epochs.total, 30);
    }

    #[test]
    fn numbers_are_shown_as_a_person_writes_them() {
        let mut plan = Plan::default();
        plan.lr.init = 1e-320;
        plan.lr.limit_max = Some(1e308);
        let form = Form::of(&plan);
        assert_eq!(form.get("lr.init"), "1e-320");
        assert_eq!(form.get("lr.limit_max"), "1e308");
        assert_eq!(form.get("lr.min"), "0.0001");
        assert_eq!(form.to_plan().unwrap(), plan);
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
    fn whole_numbers_beyond_the_fields_type_are_refused_with_the_maximum() {
        let mut form = Form::of(&Plan::default());
        form.set("lr.nbs", "4294967296");
        assert_eq!(
            message(&form, "lr.nbs").unwrap(),
            "lr.nbs must be at most 4294967295 (got \"4294967296\")"
        );
        form.set("lr.nbs", "-1");
        assert_eq!(
            message(&form, "lr.nbs").unwrap(),
            "lr.nbs must be a whole number from 0 to 4294967295 (got \"-1\")"
        );
        form.set("updates.per", "iteration");
        form.set("updates.source", "dataset_size");
        form.set("updates.dataset_size", "18446744073709551616");
        assert_eq!(
            message(&form, "updates.dataset_size").unwrap(),
            "updates.dataset_size must be a whole number from 0 to 18446744073709551615 \
             (got \"18446744073709551616\")"
        );
    }
}
