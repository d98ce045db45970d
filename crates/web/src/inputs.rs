//! The form: one text value per input, named by the plan-file field path (`lr.init`), turned
//! into a [`Plan`] and back.
//!
//! The page sends raw strings rather than numbers so that what the user typed reaches Rust
//! untouched: Rust's float parser rounds exactly like the TOML reader the trainer uses, so
//! "0.01" in the form and `init = 0.01` in the plan file are the same bits. Two inputs are
//! page-only switches with no plan-file key: `lr.limits` (auto/custom) and `updates.source`
//! (iters_per_epoch/dataset_size); they decide which optional plan fields are set.

use lrplan_schedule::plan::{
    DecaySettings, EpochSettings, LrSettings, OptimizerSettings, PhaseSettings, UpdateSettings,
};
use lrplan_schedule::{DecayKind, OptimizerKind, Plan, UpdateUnit};

use crate::error::WebError;

/// Every input of the form, in page order. Names are plan-file paths except the two switches.
pub const FIELDS: [&str; 25] = [
    "optimizer.kind",
    "optimizer.momentum",
    "optimizer.weight_decay",
    "lr.init",
    "lr.min",
    "lr.nbs",
    "lr.limits",
    "lr.limit_max",
    "lr.limit_min",
    "decay.kind",
    "decay.warmup_iters_ratio",
    "decay.warmup_lr_ratio",
    "decay.no_aug_iter_ratio",
    "decay.step_num",
    "epochs.total",
    "epochs.start",
    "phases.freeze",
    "phases.freeze_epochs",
    "phases.freeze_batch_size",
    "phases.unfreeze_batch_size",
    "updates.per",
    "updates.source",
    "updates.iters_per_epoch",
    "updates.dataset_size",
    "updates.drop_last",
];

/// Form values, one per entry of [`FIELDS`], in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct Form([String; FIELDS.len()]);

impl Form {
    /// The form showing `plan`.
    pub fn of(plan: &Plan) -> Form {
        let (o, lr, d, e, p, u) = (
            &plan.optimizer,
            &plan.lr,
            &plan.decay,
            &plan.epochs,
            &plan.phases,
            &plan.updates,
        );
        let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        let custom = lr.limit_max.is_some() || lr.limit_min.is_some();
        let source = if u.iters_per_epoch.is_none() && u.dataset_size.is_some() {
            "dataset_size"
        } else {
            "iters_per_epoch"
        };
        let values: [String; FIELDS.len()] = [
            o.kind.name().into(),
            o.momentum.to_string(),
            o.weight_decay.to_string(),
            lr.init.to_string(),
            lr.min.to_string(),
            lr.nbs.to_string(),
            if custom { "custom" } else { "auto" }.into(),
            opt(lr.limit_max),
            opt(lr.limit_min),
            d.kind.name().into(),
            d.warmup_iters_ratio.to_string(),
            d.warmup_lr_ratio.to_string(),
            d.no_aug_iter_ratio.to_string(),
            d.step_num.to_string(),
            e.total.to_string(),
            e.start.to_string(),
            p.freeze.to_string(),
            p.freeze_epochs.to_string(),
            p.freeze_batch_size.to_string(),
            p.unfreeze_batch_size.to_string(),
            unit_name(u.per).into(),
            source.into(),
            u.iters_per_epoch.map(|n| n.to_string()).unwrap_or_default(),
            u.dataset_size.map(|n| n.to_string()).unwrap_or_default(),
            u.drop_last.to_string(),
        ];
        Form(values)
    }

    /// Sets one field; unknown names are ignored (an old link may carry a removed field).
    pub fn set(&mut self, name: &str, value: &str) {
        if let Some(i) = FIELDS.iter().position(|&f| f == name) {
            self.0[i] = value.to_owned();
        }
    }

    pub fn get(&self, name: &str) -> &str {
        FIELDS
            .iter()
            .position(|&f| f == name)
            .map_or("", |i| self.0[i].as_str())
    }

    /// `(name, value)` in page order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        FIELDS.into_iter().zip(self.0.iter().map(String::as_str))
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
    /// Every unreadable field is reported, not just the first.
    pub fn to_plan(&self) -> Result<Plan, Vec<WebError>> {
        let mut r = Reader {
            form: self,
            errors: Vec::new(),
        };
        let custom_limits = r.choice("lr.limits", &["auto", "custom"]) == Some(1);
        let by_dataset =
            r.choice("updates.source", &["iters_per_epoch", "dataset_size"]) == Some(1);
        let plan = Plan {
            optimizer: OptimizerSettings {
                kind: r
                    .named("optimizer.kind", OptimizerKind::from_name)
                    .unwrap_or_default(),
                momentum: r.float("optimizer.momentum"),
                weight_decay: r.float("optimizer.weight_decay"),
            },
            lr: LrSettings {
                init: r.float("lr.init"),
                min: r.float("lr.min"),
                nbs: r.int("lr.nbs"),
                limit_max: custom_limits
                    .then(|| r.optional_float("lr.limit_max"))
                    .flatten(),
                limit_min: custom_limits
                    .then(|| r.optional_float("lr.limit_min"))
                    .flatten(),
            },
            decay: DecaySettings {
                kind: r
                    .named("decay.kind", DecayKind::from_name)
                    .unwrap_or_default(),
                warmup_iters_ratio: r.float("decay.warmup_iters_ratio"),
                warmup_lr_ratio: r.float("decay.warmup_lr_ratio"),
                no_aug_iter_ratio: r.float("decay.no_aug_iter_ratio"),
                step_num: r.int("decay.step_num"),
            },
            epochs: EpochSettings {
                total: r.int("epochs.total"),
                start: r.int("epochs.start"),
            },
            phases: PhaseSettings {
                freeze: r.flag("phases.freeze"),
                freeze_epochs: r.int("phases.freeze_epochs"),
                freeze_batch_size: r.int("phases.freeze_batch_size"),
                unfreeze_batch_size: r.int("phases.unfreeze_batch_size"),
            },
            updates: UpdateSettings {
                per: r.named("updates.per", unit_from_name).unwrap_or_default(),
                iters_per_epoch: (!by_dataset)
                    .then(|| r.optional_int("updates.iters_per_epoch"))
                    .flatten(),
                dataset_size: by_dataset
                    .then(|| r.optional_int("updates.dataset_size"))
                    .flatten(),
                drop_last: r.flag("updates.drop_last"),
            },
        };
        if r.errors.is_empty() {
            Ok(plan)
        } else {
            Err(r.errors)
        }
    }
}

pub fn unit_name(u: UpdateUnit) -> &'static str {
    match u {
        UpdateUnit::Epoch => "epoch",
        UpdateUnit::Iteration => "iteration",
    }
}

fn unit_from_name(s: &str) -> Option<UpdateUnit> {
    match s {
        "epoch" => Some(UpdateUnit::Epoch),
        "iteration" => Some(UpdateUnit::Iteration),
        _ => None,
    }
}

/// Parses fields one by one, collecting what cannot be read; unreadable values become a
/// placeholder that is never used because the plan is then refused.
struct Reader<'a> {
    form: &'a Form,
    errors: Vec<WebError>,
}

impl Reader<'_> {
    fn fail(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.push(WebError::Field {
            field,
            message: message.into(),
        });
    }

    fn text(&self, field: &'static str) -> &str {
        self.form.get(field).trim()
    }

    fn float(&mut self, field: &'static str) -> f64 {
        self.optional_float(field).unwrap_or_else(|| {
            if self.text(field).is_empty() {
                self.fail(field, "is required");
            }
            0.0
        })
    }

    /// Empty means absent; anything else must be a number.
    fn optional_float(&mut self, field: &'static str) -> Option<f64> {
        self.optional(field, "must be a number")
    }

    fn int<T: std::str::FromStr + Default>(&mut self, field: &'static str) -> T {
        if self.text(field).is_empty() {
            self.fail(field, "is required");
            return T::default();
        }
        self.optional_int(field).unwrap_or_default()
    }

    fn optional_int<T: std::str::FromStr>(&mut self, field: &'static str) -> Option<T> {
        self.optional(field, "must be a whole number of at least 0")
    }

    /// Empty means absent; anything else must parse as `T`, or `rule` is reported.
    fn optional<T: std::str::FromStr>(&mut self, field: &'static str, rule: &str) -> Option<T> {
        let text = self.text(field);
        if text.is_empty() {
            return None;
        }
        match text.parse::<T>() {
            Ok(x) => Some(x),
            Err(_) => {
                let msg = format!("{rule} (got \"{text}\")");
                self.fail(field, msg);
                None
            }
        }
    }

    fn flag(&mut self, field: &'static str) -> bool {
        match self.text(field) {
            "true" => true,
            "false" => false,
            other => {
                let msg = format!("must be true or false (got \"{other}\")");
                self.fail(field, msg);
                false
            }
        }
    }

    fn named<T>(&mut self, field: &'static str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let text = self.text(field).to_owned();
        let v = parse(&text);
        if v.is_none() {
            self.fail(field, format!("is not a known choice (got \"{text}\")"));
        }
        v
    }

    fn choice(&mut self, field: &'static str, options: &[&str]) -> Option<usize> {
        self.named(field, |s| options.iter().position(|o| *o == s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
