//! Comparing plans: a pinned copy of an earlier plan, drawn under the current one, and the
//! legend text that tells them apart.

use lrplan_schedule::{Number, Plan, Schedule};

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

/// A one-line description for a legend: what usually differs between two plans. Numbers as
/// a person writes them (`init 1e308`), so the line fits in the chart.
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
        Number(plan.lr.init),
        batches,
        plan.epochs.total,
        plan.updates.per.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_stays_one_short_line_for_extreme_rates() {
        let mut plan = Plan::default();
        plan.lr.init = 1e308;
        assert_eq!(
            describe(&plan),
            "cos · sgd · init 1e308 · bs 16→8 · 300 ep · per epoch"
        );
    }
}
