//! What several test files share: a strategy for valid plans.

use lrplan_schedule::{DecayKind, OptimizerKind, Plan, UpdateUnit};
use proptest::prelude::*;

/// Valid plans over every field: each kind, optional limits, a frozen phase or not, and
/// per-epoch or per-iteration updates from a fixed count or a dataset size.
pub fn any_plan() -> impl Strategy<Value = Plan> {
    (
        (0usize..3, 0.0f64..0.999, 0.0f64..0.1),
        (
            1e-6f64..1.0,
            1e-3f64..=1.0,
            1u32..512,
            proptest::option::of(1e-3f64..1.0),
        ),
        (0usize..4, 0.0f64..=1.0, 0.0f64..=1.0, 0.0f64..=1.0),
        (20u32..400, any::<bool>(), 0u32..20, 1u32..128, 1u32..128),
        (
            any::<bool>(),
            proptest::option::of(1u32..1000),
            any::<bool>(),
            proptest::option::of(200u64..100_000),
        ),
    )
        .prop_map(|(o, l, d, p, u)| {
            let mut plan = Plan::default();
            plan.optimizer.kind = OptimizerKind::ALL[o.0];
            plan.optimizer.momentum = o.1;
            plan.optimizer.weight_decay = o.2;
            plan.lr.init = l.0;
            plan.lr.min = l.0 * l.1;
            plan.lr.nbs = l.2;
            plan.lr.limit_max = l.3;
            plan.lr.limit_min = l.3.map(|x| x * 0.5);
            plan.decay.kind = DecayKind::ALL[d.0];
            plan.decay.warmup_iters_ratio = d.1;
            plan.decay.warmup_lr_ratio = d.2;
            plan.decay.no_aug_iter_ratio = d.3;
            plan.decay.step_num = 10;
            plan.epochs.total = p.0;
            plan.phases.freeze = p.1;
            plan.phases.freeze_epochs = p.2;
            plan.phases.freeze_batch_size = p.3;
            plan.phases.unfreeze_batch_size = p.4;
            if u.0 {
                plan.updates.per = UpdateUnit::Iteration;
                match u.3 {
                    Some(size) => plan.updates.dataset_size = Some(size),
                    None => plan.updates.iters_per_epoch = u.1.or(Some(3)),
                }
            }
            plan.updates.drop_last = u.2;
            plan
        })
}
