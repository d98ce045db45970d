//! Parameter groups, decided by the module type recorded when each tensor was built.
//!
//! * `kind` (the original's split): group 0 batch-norm weights (no decay), group 1 every
//!   other weight, conv and linear (decay), group 2 every bias (no decay). All multipliers 1.
//! * `subnet`: group 0 the backbone, group 1 the head (lr × `--head-lr-mult`); within each,
//!   only conv/linear weights decay.
//!
//! Group 0 always has multiplier 1, so the lr read back from it is the schedule's value.

use std::fmt::Write;

use crate::model::{Registry, Subnet, TensorKind};

/// How tensors are split into groups (`--group-by`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum GroupBy {
    /// 0: batch-norm weights (no decay), 1: conv/linear weights (decay), 2: biases (no decay).
    Kind,
    /// 0: backbone, 1: head with lr × --head-lr-mult; decay on conv/linear weights only.
    Subnet,
}

/// One group: which registry entries it holds and how they are updated.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub label: &'static str,
    /// Indices into `model.registry.entries`.
    pub members: Vec<usize>,
    /// Whether the plan's weight decay applies to every member (kind grouping) or only to
    /// conv/linear weights (subnet grouping, per member via `decays`).
    pub decays: Vec<bool>,
    pub lr_mult: f64,
}

impl GroupSpec {
    pub fn decay_label(&self) -> &'static str {
        match (
            self.decays.iter().all(|&d| d),
            self.decays.iter().any(|&d| d),
        ) {
            (true, true) => "yes",
            (_, false) => "no",
            _ => "weights only",
        }
    }
}

/// Conv, linear and other weights decay; batch-norm scales and biases do not.
fn decays(kind: TensorKind) -> bool {
    kind == TensorKind::Weight
}

/// Splits a model's trainable tensors into groups.
pub fn build(registry: &Registry, by: GroupBy, head_lr_mult: f64) -> Vec<GroupSpec> {
    let entries = &registry.entries;
    let pick = |f: &dyn Fn(TensorKind, Subnet) -> bool| -> Vec<usize> {
        entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind.trainable() && f(e.kind, e.subnet))
            .map(|(i, _)| i)
            .collect()
    };
    let specs: Vec<(&'static str, Vec<usize>, f64)> = match by {
        GroupBy::Kind => vec![
            ("bn weights", pick(&|k, _| k == TensorKind::BnWeight), 1.0),
            ("weights", pick(&|k, _| k == TensorKind::Weight), 1.0),
            ("biases", pick(&|k, _| k == TensorKind::Bias), 1.0),
        ],
        GroupBy::Subnet => vec![
            ("backbone", pick(&|_, s| s == Subnet::Backbone), 1.0),
            ("head", pick(&|_, s| s == Subnet::Head), head_lr_mult),
        ],
    };
    specs
        .into_iter()
        .map(|(label, members, lr_mult)| GroupSpec {
            label,
            decays: members.iter().map(|&i| decays(entries[i].kind)).collect(),
            members,
            lr_mult,
        })
        .collect()
}

/// The table printed at start: group, decay, tensor count, parameter count, lr multiplier.
pub fn summary(registry: &Registry, groups: &[GroupSpec], weight_decay: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "group  {:<12} {:<13} {:>7} {:>12}  lr mult",
        "holds", "decay", "tensors", "parameters"
    );
    for (i, g) in groups.iter().enumerate() {
        let params: i64 = g
            .members
            .iter()
            .map(|&m| registry.entries[m].tensor.numel() as i64)
            .sum();
        let decay = match g.decay_label() {
            "no" => "no".to_string(),
            l => format!("{l} {weight_decay:e}"),
        };
        let _ = writeln!(
            out,
            "{i:<6} {:<12} {:<13} {:>7} {:>12}  {}",
            g.label,
            decay,
            g.members.len(),
            params,
            g.lr_mult
        );
    }
    out
}
