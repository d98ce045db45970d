//! The plan file: TOML, because people edit it by hand. The page downloads it, the trainer
//! reads it, and both go through these two functions, so the format has one definition.
//!
//! Every key is optional and defaults to the original's value; unknown keys are refused so a
//! typo does not silently fall back to a default. Floats are written in Rust's shortest
//! round-trip form, so a plan survives write → read bit for bit.

use alloc::format;
use alloc::string::{String, ToString};

use crate::error::PlanError;
use crate::plan::{Plan, UpdateUnit};

/// Parses and validates a plan file.
pub fn from_toml(text: &str) -> Result<Plan, PlanError> {
    let plan: Plan = toml::from_str(text).map_err(|e| PlanError::Parse(e.to_string()))?;
    plan.validate()?;
    Ok(plan)
}

/// Writes a plan as a commented TOML file that [`from_toml`] reads back to the same plan.
pub fn to_toml(plan: &Plan) -> String {
    let o = &plan.optimizer;
    let lr = &plan.lr;
    let d = &plan.decay;
    let e = &plan.epochs;
    let p = &plan.phases;
    let u = &plan.updates;
    let limit = |name: &str, v: Option<f64>| match v {
        Some(x) => format!("{name} = {}\n", float(x)),
        None => format!("# {name} = ...   (absent: the optimizer's default)\n"),
    };
    let mut out = String::new();
    out.push_str("# lrplan plan file: read by `trainer train --plan` and by the planner page.\n");
    out.push_str(
        "# Every key is optional; an absent key takes the default shown in the README.\n\n",
    );
    out.push_str("[optimizer]\n");
    out.push_str(&format!(
        "kind = \"{}\"              # sgd | adam | adamw\n",
        o.kind.name()
    ));
    out.push_str(&format!(
        "momentum = {}           # SGD momentum (Nesterov), Adam beta1\n",
        float(o.momentum)
    ));
    out.push_str(&format!("weight_decay = {}\n\n", float(o.weight_decay)));
    out.push_str("[lr]\n");
    out.push_str("# Fitted per phase: min(max(bs / nbs * init, limit_min), limit_max);\n");
    out.push_str("# min uses limit_min * 1e-2 and limit_max * 1e-2.\n");
    out.push_str(&format!("init = {}\n", float(lr.init)));
    out.push_str(&format!("min = {}\n", float(lr.min)));
    out.push_str(&format!("nbs = {}\n", lr.nbs));
    out.push_str(&limit("limit_max", lr.limit_max));
    out.push_str(&limit("limit_min", lr.limit_min));
    out.push_str("\n[decay]\n");
    out.push_str(&format!(
        "kind = \"{}\"              # cos | step | linear | constant\n",
        d.kind.name()
    ));
    out.push_str(&format!(
        "warmup_iters_ratio = {}  # warm-up epochs = min(max(ratio * total, 1), 3)\n",
        float(d.warmup_iters_ratio)
    ));
    out.push_str(&format!(
        "warmup_lr_ratio = {}     # warm-up starts at max(ratio * lr, 1e-6)\n",
        float(d.warmup_lr_ratio)
    ));
    out.push_str(&format!(
        "no_aug_iter_ratio = {}   # tail epochs = min(max(ratio * total, 1), 15)\n",
        float(d.no_aug_iter_ratio)
    ));
    out.push_str(&format!(
        "step_num = {}               # step decay: number of distinct values\n\n",
        d.step_num
    ));
    out.push_str("[epochs]\n");
    out.push_str(&format!("total = {}\n", e.total));
    out.push_str(&format!("start = {}\n\n", e.start));
    out.push_str("[phases]\n");
    out.push_str(&format!(
        "freeze = {}              # train a frozen-backbone phase first\n",
        p.freeze
    ));
    out.push_str(&format!("freeze_epochs = {}\n", p.freeze_epochs));
    out.push_str(&format!("freeze_batch_size = {}\n", p.freeze_batch_size));
    out.push_str(&format!(
        "unfreeze_batch_size = {}\n\n",
        p.unfreeze_batch_size
    ));
    out.push_str("[updates]\n");
    out.push_str(&format!(
        "per = \"{}\"               # epoch | iteration\n",
        match u.per {
            UpdateUnit::Epoch => "epoch",
            UpdateUnit::Iteration => "iteration",
        }
    ));
    match (u.iters_per_epoch, u.dataset_size) {
        (Some(n), _) => out.push_str(&format!("iters_per_epoch = {n}\n")),
        (None, Some(n)) => out.push_str(&format!("dataset_size = {n}\n")),
        (None, None) => out
            .push_str("# iters_per_epoch = 100   (or dataset_size = N: per-iteration needs one)\n"),
    }
    out.push_str(&format!(
        "drop_last = {}          # with dataset_size: floor (true) or ceil (false)\n",
        u.drop_last
    ));
    out
}

/// A TOML float that parses back to the same bits: Rust's shortest round-trip digits, with a
/// `.0` where Rust would print an integer (TOML would read that as an integer).
fn float(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains(['.', 'e', 'E', 'n', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}
