//! Comparing plans: a pinned copy of an earlier plan, drawn under the current one, and the
//! legend text that tells them apart.

use lrplan_schedule::{Plan, Schedule};

/// A plan the user pinned to compare against.
#[derive(Debug, Clone)]
pub struct Pinned {
    pub schedule: Schedule,
    pub label: String,
}

impl Pinned {
    pub fn new(schedule: Schedule) -> Pinned {
        let label = format!("pinned: {}", describe(schedule.plan()));
        Pinned { schedule, label }
    }
}

/// A one-line description for a legend: what usually differs between two plans.
pub fn describe(plan: &Plan) -> String {
    let p = &plan.phases;
    let batches = if plan.has_freeze_phase() {
        format!("bs {}→{}", p.freeze_batch_size, p.unfreeze_batch_size)
    } else {
        format!("bs {}", p.unfreeze_batch_size)
    };
    format!(
        "{} · {} · init {} · {} · {} ep · per {}",
        plan.decay.kind.name(),
        plan.optimizer.kind.name(),
        plan.lr.init,
        batches,
        plan.epochs.total,
        plan.updates.per.name()
    )
}
