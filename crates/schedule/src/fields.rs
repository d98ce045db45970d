//! Every field of a plan, described once: its plan-file path, its type, a label and a one-line
//! doc, and how to read and write it in a [`Plan`]. The plan-file reader and writer
//! ([`crate::plan_file`]), the page's form (`lrplan-web`) and the README's plan-file table are
//! all made from [`FIELDS`], so adding a field is one entry here (plus the struct field it
//! reads), not an edit in five places that can drift apart.
//!
//! Defaults are not written here: a field's default is what it reads from `Plan::default()`.
//! Range rules that involve several fields stay in `Plan::validate`; the table only knows each
//! field's own type (a float, a whole number up to its integer type's maximum, a flag, or one
//! of a kind's names).

use alloc::format;
use alloc::string::String;
use core::fmt;

use crate::plan::{DecayKind, OptimizerKind, Plan, UpdateUnit};

/// The type of a field's value, as the plan file and the form spell it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A float; the plan file may write it as an integer (`300` is `300.0`).
    Float,
    /// A whole number from 0 to `max` (the field's integer type's largest value).
    Int { max: u64 },
    /// `true` or `false`.
    Bool,
    /// One of these names (a kind enum's `NAMES`).
    Choice(&'static [&'static str]),
}

impl Kind {
    /// What a value of this kind is, for messages and the README: "a number", "one of ...".
    pub fn describe(self) -> String {
        match self {
            Kind::Float => "a number".into(),
            Kind::Int { .. } => "a whole number".into(),
            Kind::Bool => "true or false".into(),
            Kind::Choice(names) => format!("one of {}", names.join(", ")),
        }
    }
}

/// A field's value. A choice is its name, one of the kind's `NAMES`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Float(f64),
    Int(u64),
    Bool(bool),
    Choice(&'static str),
}

/// The value as TOML writes it: a float in Rust's shortest round-trip digits, so it parses
/// back to the same bits, with a `.0` where Rust would print an integer (TOML would read that
/// as an integer); a choice as a quoted string.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Float(x) if x.is_nan() => f.write_str("nan"),
            Value::Float(x) => {
                let s = format!("{x:?}"); // "inf" and "-inf" are TOML too
                match s.contains(['.', 'e', 'i']) {
                    true => f.write_str(&s),
                    false => write!(f, "{s}.0"),
                }
            }
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Choice(name) => write!(f, "\"{name}\""),
        }
    }
}

/// Typed access to one field of a [`Plan`]. Private: the only way to a setter is
/// [`Field::set`], which checks ranges and indices first, so the setters may narrow (`as u32`)
/// and index (`ALL[i]`) without checking again.
#[derive(Clone, Copy)]
enum Access {
    Float(fn(&Plan) -> f64, fn(&mut Plan, f64)),
    OptionalFloat(fn(&Plan) -> Option<f64>, fn(&mut Plan, Option<f64>)),
    Int(u64, fn(&Plan) -> u64, fn(&mut Plan, u64)),
    OptionalInt(u64, fn(&Plan) -> Option<u64>, fn(&mut Plan, Option<u64>)),
    Bool(fn(&Plan) -> bool, fn(&mut Plan, bool)),
    Choice(
        &'static [&'static str],
        fn(&Plan) -> usize,
        fn(&mut Plan, usize),
    ),
}

/// A plan field: the one description its reader, writer, form input and README row use.
pub struct Field {
    /// The plan-file path, `section.key` (`lr.init`); also the form input's name and the
    /// field a [`crate::Violation`] names.
    pub path: &'static str,
    /// A short label for the form.
    pub label: &'static str,
    /// One line on what the field means: the README and the plan file's comments.
    pub doc: &'static str,
    /// The field only matters while another field has a value (`("decay.kind", "step")`,
    /// the value as the form spells it); the page hides it otherwise.
    pub only_when: Option<(&'static str, &'static str)>,
    access: Access,
}

impl Field {
    /// The plan-file table the field is in (`lr`).
    pub fn section(&self) -> &'static str {
        self.path.split_once('.').map_or(self.path, |(s, _)| s)
    }

    /// The key inside its table (`init`).
    pub fn key(&self) -> &'static str {
        self.path.split_once('.').map_or(self.path, |(_, k)| k)
    }

    pub fn kind(&self) -> Kind {
        match self.access {
            Access::Float(..) | Access::OptionalFloat(..) => Kind::Float,
            Access::Int(max, ..) | Access::OptionalInt(max, ..) => Kind::Int { max },
            Access::Bool(..) => Kind::Bool,
            Access::Choice(names, ..) => Kind::Choice(names),
        }
    }

    /// Whether the field may be absent (`None`): absent means "the default rule", not a value.
    pub fn optional(&self) -> bool {
        matches!(
            self.access,
            Access::OptionalFloat(..) | Access::OptionalInt(..)
        )
    }

    /// The field's value in `plan`; `None` for an absent optional field.
    pub fn get(&self, plan: &Plan) -> Option<Value> {
        match self.access {
            Access::Float(get, _) => Some(Value::Float(get(plan))),
            Access::OptionalFloat(get, _) => get(plan).map(Value::Float),
            Access::Int(_, get, _) => Some(Value::Int(get(plan))),
            Access::OptionalInt(_, get, _) => get(plan).map(Value::Int),
            Access::Bool(get, _) => Some(Value::Bool(get(plan))),
            Access::Choice(names, get, _) => Some(Value::Choice(names[get(plan)])),
        }
    }

    /// Stores `value` (`None`: absent). Refuses, with the rule in words, a value of another
    /// kind, a whole number above the field's maximum, an unknown name and `None` for
    /// a field that cannot be absent. Rules between fields are `Plan::validate`'s.
    pub fn set(&self, plan: &mut Plan, value: Option<Value>) -> Result<(), String> {
        match (self.access, value) {
            (Access::Float(_, set), Some(Value::Float(x))) => set(plan, x),
            (Access::OptionalFloat(_, set), Some(Value::Float(x))) => set(plan, Some(x)),
            (Access::OptionalFloat(_, set), None) => set(plan, None),
            (Access::Int(max, ..) | Access::OptionalInt(max, ..), Some(Value::Int(n)))
                if n > max =>
            {
                return Err(format!("must be at most {max}"));
            }
            (Access::Int(_, _, set), Some(Value::Int(n))) => set(plan, n),
            (Access::OptionalInt(_, _, set), Some(Value::Int(n))) => set(plan, Some(n)),
            (Access::OptionalInt(_, _, set), None) => set(plan, None),
            (Access::Bool(_, set), Some(Value::Bool(b))) => set(plan, b),
            (Access::Choice(names, _, set), Some(Value::Choice(name))) => {
                match names.iter().position(|n| *n == name) {
                    Some(i) => set(plan, i),
                    None => return Err(format!("must be {}", self.kind().describe())),
                }
            }
            (_, None) => return Err("is required".into()),
            _ => return Err(format!("must be {}", self.kind().describe())),
        }
        Ok(())
    }

    /// The value a plan that does not mention the field has.
    pub fn default_value(&self) -> Option<Value> {
        self.get(&Plan::default())
    }
}

/// A table of the plan file, with the title the page's form gives it.
pub struct Section {
    pub name: &'static str,
    pub title: &'static str,
}

/// The plan file's tables, in file order; [`FIELDS`] lists each table's fields together, in
/// this order.
pub const SECTIONS: [Section; 6] = [
    Section {
        name: "optimizer",
        title: "Optimizer",
    },
    Section {
        name: "lr",
        title: "Learning rate",
    },
    Section {
        name: "decay",
        title: "Decay",
    },
    Section {
        name: "epochs",
        title: "Epochs",
    },
    Section {
        name: "phases",
        title: "Phases",
    },
    Section {
        name: "updates",
        title: "Updates",
    },
];

/// The field at `path` (`lr.init`).
pub fn find(path: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.path == path)
}

/// The fields of one table, in order.
pub fn in_section(name: &str) -> impl Iterator<Item = &'static Field> + '_ {
    FIELDS.iter().filter(move |f| f.section() == name)
}

/// [`Access`] for a plan field given its Rust type and its place in [`Plan`].
macro_rules! access {
    (f64, $s:ident . $k:ident) => {
        Access::Float(|p| p.$s.$k, |p, x| p.$s.$k = x)
    };
    (Option<f64>, $s:ident . $k:ident) => {
        Access::OptionalFloat(|p| p.$s.$k, |p, x| p.$s.$k = x)
    };
    (u32, $s:ident . $k:ident) => {
        Access::Int(
            u32::MAX as u64,
            |p| p.$s.$k as u64,
            |p, n| p.$s.$k = n as u32,
        )
    };
    (Option<u32>, $s:ident . $k:ident) => {
        Access::OptionalInt(
            u32::MAX as u64,
            |p| p.$s.$k.map(u64::from),
            |p, n| p.$s.$k = n.map(|n| n as u32),
        )
    };
    (Option<u64>, $s:ident . $k:ident) => {
        Access::OptionalInt(u64::MAX, |p| p.$s.$k, |p, n| p.$s.$k = n)
    };
    (bool, $s:ident . $k:ident) => {
        Access::Bool(|p| p.$s.$k, |p, b| p.$s.$k = b)
    };
    ($kind:ident, $s:ident . $k:ident) => {
        Access::Choice(
            &$kind::NAMES,
            |p| p.$s.$k as usize,
            |p, i| p.$s.$k = $kind::ALL[i],
        )
    };
}

/// One [`Field`]: `field!(section.key: Type, "label", "doc")`, optionally followed by
/// `when "other.field" = "value"`. `Type` is the struct field's Rust type.
macro_rules! field {
    ($s:ident . $k:ident : $ty:ident $(<$inner:ident>)?, $label:literal, $doc:literal
        $(, when $p:literal = $v:literal)?) => {
        Field {
            path: concat!(stringify!($s), ".", stringify!($k)),
            label: $label,
            doc: $doc,
            only_when: field!(@when $($p, $v)?),
            access: access!($ty $(<$inner>)?, $s.$k),
        }
    };
    (@when) => { None };
    (@when $p:literal, $v:literal) => { Some(($p, $v)) };
}

/// Every plan field, table by table in [`SECTIONS`] order: the plan file's order and the
/// form's.
pub static FIELDS: [Field; 23] = [
    field!(
        optimizer.kind: OptimizerKind,
        "optimizer",
        "sgd (Nesterov), adam or adamw; picks the default fit limits"
    ),
    field!(
        optimizer.momentum: f64,
        "momentum / β₁",
        "SGD momentum, Adam's beta1 (beta2 is 0.999)"
    ),
    field!(
        optimizer.weight_decay: f64,
        "weight decay",
        "applied to group 1 (conv/linear weights) only"
    ),
    field!(
        lr.init: f64,
        "init lr",
        "rate at batch size nbs; fit: min(max(bs / nbs * init, limit_min), limit_max)"
    ),
    field!(
        lr.min: f64,
        "min lr",
        "final rate at batch size nbs; fit with limit_min and limit_max times 1e-2"
    ),
    field!(
        lr.nbs: u32,
        "nominal batch size",
        "the batch size init and min are given for"
    ),
    field!(
        lr.limit_max: Option<f64>,
        "limit max",
        "upper clamp of the fit; absent: sgd 5e-2, adam/adamw 1e-3"
    ),
    field!(
        lr.limit_min: Option<f64>,
        "limit min",
        "lower clamp of the fit; absent: sgd 5e-4, adam/adamw 3e-4"
    ),
    field!(
        decay.kind: DecayKind,
        "schedule",
        "cos, step, linear or constant (cos, linear: with warm-up and tail)"
    ),
    field!(
        decay.warmup_iters_ratio: f64,
        "warm-up ratio",
        "warm-up epochs = min(max(ratio * total, 1), 3), quadratic"
    ),
    field!(
        decay.warmup_lr_ratio: f64,
        "warm-up lr ratio",
        "warm-up starts at max(ratio * init_fit, 1e-6)"
    ),
    field!(
        decay.no_aug_iter_ratio: f64,
        "tail ratio",
        "tail at min_fit for min(max(ratio * total, 1), 15) epochs"
    ),
    field!(
        decay.step_num: u32,
        "step count",
        "step decay: distinct values from init_fit down to min_fit",
        when "decay.kind" = "step"
    ),
    field!(
        epochs.total: u32,
        "total epochs",
        "run length; the schedule spans all epochs of both phases"
    ),
    field!(
        epochs.start: u32,
        "start epoch",
        "first epoch to train (resuming by hand)"
    ),
    field!(
        phases.freeze: bool,
        "frozen-backbone phase first",
        "train a frozen-backbone phase first; the fit is redone at its end"
    ),
    field!(
        phases.freeze_epochs: u32,
        "freeze epochs",
        "length of the frozen phase",
        when "phases.freeze" = "true"
    ),
    field!(
        phases.freeze_batch_size: u32,
        "freeze batch",
        "batch size while frozen",
        when "phases.freeze" = "true"
    ),
    field!(
        phases.unfreeze_batch_size: u32,
        "unfreeze batch",
        "batch size once unfrozen (the whole run without a frozen phase)"
    ),
    field!(
        updates.per: UpdateUnit,
        "update the lr every",
        "epoch: once before each epoch (the original); iteration: before every step"
    ),
    field!(
        updates.iters_per_epoch: Option<u32>,
        "iterations per epoch",
        "per-iteration: a fixed count for every epoch (or dataset_size)",
        when "updates.per" = "iteration"
    ),
    field!(
        updates.dataset_size: Option<u64>,
        "dataset size",
        "per-iteration: train-set size; iterations = size / the phase's batch size",
        when "updates.per" = "iteration"
    ),
    field!(
        updates.drop_last: bool,
        "drop the last partial batch",
        "with dataset_size: floor (true) or ceil (false)",
        when "updates.per" = "iteration"
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::Limits;
    use alloc::vec::Vec;

    #[test]
    fn kind_indices_are_positions_in_names() {
        for (i, k) in OptimizerKind::ALL.iter().enumerate() {
            assert_eq!(
                (*k as usize, OptimizerKind::from_name(k.name())),
                (i, Some(*k))
            );
        }
        for (i, k) in DecayKind::ALL.iter().enumerate() {
            assert_eq!((*k as usize, DecayKind::from_name(k.name())), (i, Some(*k)));
        }
        for (i, k) in UpdateUnit::ALL.iter().enumerate() {
            assert_eq!(
                (*k as usize, UpdateUnit::from_name(k.name())),
                (i, Some(*k))
            );
        }
        assert_eq!(
            UpdateUnit::from_name("iteration"),
            Some(UpdateUnit::Iteration)
        );
        assert_eq!(UpdateUnit::from_name("step"), None);
    }

    #[test]
    fn fields_are_grouped_by_section_in_section_order() {
        let order: Vec<&str> = FIELDS.iter().map(Field::section).collect();
        let mut sections: Vec<&str> = order.clone();
        sections.dedup();
        let names: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
        assert_eq!(sections, names);
        let mut paths: Vec<&str> = FIELDS.iter().map(|f| f.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), FIELDS.len(), "a path is listed twice");
    }

    #[test]
    fn every_field_writes_what_it_reads() {
        for f in &FIELDS {
            let mut plan = Plan::default();
            let value = match f.kind() {
                Kind::Float => Value::Float(0.125),
                Kind::Int { max } => Value::Int(max),
                Kind::Bool => Value::Bool(!matches!(f.default_value(), Some(Value::Bool(true)))),
                Kind::Choice(names) => Value::Choice(names[names.len() - 1]),
            };
            f.set(&mut plan, Some(value)).unwrap();
            assert_eq!(f.get(&plan), Some(value), "{}", f.path);
            assert_ne!(plan, Plan::default(), "{} changes its own field", f.path);
            let others: Vec<_> = FIELDS
                .iter()
                .filter(|g| g.path != f.path)
                .map(|g| g.get(&plan) == g.default_value())
                .collect();
            assert!(
                others.iter().all(|same| *same),
                "{} touches another field",
                f.path
            );
        }
    }

    #[test]
    fn set_refuses_what_the_field_cannot_hold() {
        let mut plan = Plan::default();
        let nbs = find("lr.nbs").unwrap();
        assert_eq!(
            nbs.set(&mut plan, Some(Value::Int(u32::MAX as u64 + 1))),
            Err("must be at most 4294967295".into())
        );
        assert_eq!(nbs.set(&mut plan, None), Err("is required".into()));
        assert_eq!(
            nbs.set(&mut plan, Some(Value::Float(1.0))),
            Err("must be a whole number".into())
        );
        let kind = find("decay.kind").unwrap();
        assert_eq!(
            kind.set(&mut plan, Some(Value::Choice("cosine"))),
            Err("must be one of cos, step, linear, constant".into())
        );
        assert_eq!(plan, Plan::default());
        let limit = find("lr.limit_max").unwrap();
        limit.set(&mut plan, Some(Value::Float(0.5))).unwrap();
        assert_eq!(plan.lr.limit_max, Some(0.5));
        limit.set(&mut plan, None).unwrap();
        assert_eq!(plan.lr.limit_max, None);
    }

    #[test]
    fn values_are_written_as_toml_reads_them_back() {
        use alloc::string::ToString;
        let written = [0.01, 300.0, 5e-324, 1e300, -0.0, f64::INFINITY, f64::NAN]
            .map(|x| Value::Float(x).to_string());
        assert_eq!(
            written,
            ["0.01", "300.0", "5e-324", "1e300", "-0.0", "inf", "nan"]
        );
        assert_eq!(Value::Choice("adamw").to_string(), "\"adamw\"");
        assert_eq!(Value::Int(64).to_string(), "64");
    }

    #[test]
    fn conditions_name_real_fields_and_values() {
        for f in &FIELDS {
            if let Some((path, value)) = f.only_when {
                let other = find(path).unwrap_or_else(|| panic!("{}: no field {path}", f.path));
                let ok = match other.kind() {
                    Kind::Bool => value == "true" || value == "false",
                    Kind::Choice(names) => names.contains(&value),
                    _ => false,
                };
                assert!(ok, "{}: {path} cannot be {value}", f.path);
            }
        }
    }

    #[test]
    fn limit_docs_state_the_optimizers_defaults() {
        let sgd = Limits::default_for(OptimizerKind::Sgd);
        let adam = Limits::default_for(OptimizerKind::Adam);
        assert_eq!(adam, Limits::default_for(OptimizerKind::AdamW));
        let max = find("lr.limit_max").unwrap().doc;
        let min = find("lr.limit_min").unwrap().doc;
        assert!(max.ends_with(&format!("sgd {:e}, adam/adamw {:e}", sgd.max, adam.max)));
        assert!(min.ends_with(&format!("sgd {:e}, adam/adamw {:e}", sgd.min, adam.min)));
    }
}
