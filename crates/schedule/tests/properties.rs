//! Properties that must hold for every valid plan, not just the hand-checked ones.

use lrplan_schedule::curve::Shape;
use lrplan_schedule::{Curve, DecayKind, OptimizerKind, Plan, Schedule, UpdateUnit};
use proptest::prelude::*;

fn lr_pair() -> impl Strategy<Value = (f64, f64)> {
    (1e-6f64..1.0, 1e-4f64..=1.0).prop_map(|(lr, frac)| (lr, lr * frac))
}

fn ratios() -> impl Strategy<Value = Shape> {
    (0.0f64..=1.0, 0.0f64..=1.0, 0.0f64..=1.0, 2u32..40).prop_map(|(a, b, c, n)| Shape {
        warmup_iters_ratio: a,
        warmup_lr_ratio: b,
        no_aug_iter_ratio: c,
        step_num: n,
    })
}

proptest! {
    #[test]
    fn cos_stays_in_range_decreases_and_ends_flat(
        (lr, min) in lr_pair(), total in 1u32..2000, shape in ratios(), per in 1u32..8,
    ) {
        let c = Curve::new(DecayKind::Cos, lr, min, total, &shape);
        let w = *c.warm().unwrap();
        let mut prev = f64::INFINITY;
        for k in 0..(total * per) {
            let t = k as f64 / per as f64;
            let v = c.at(t);
            prop_assert!(v.is_finite());
            if t > w.warmup_total {
                prop_assert!(v >= min && v <= lr, "t {t}: {v} outside [{min}, {lr}]");
                prop_assert!(v <= prev, "t {t}: {v} rises above {prev}");
                prev = v;
            }
            if t > w.warmup_total && t >= w.total - w.no_aug {
                prop_assert_eq!(v.to_bits(), min.to_bits());
            }
        }
    }

    #[test]
    fn step_takes_step_num_values_ending_at_min(
        (lr, min) in lr_pair(), step_num in 2u32..30, extra in 0u32..200,
    ) {
        let total = step_num + extra;
        let shape = Shape { warmup_iters_ratio: 0.05, warmup_lr_ratio: 0.1, no_aug_iter_ratio: 0.05, step_num };
        let c = Curve::new(DecayKind::Step, lr, min, total, &shape);
        let mut values: Vec<f64> = (0..total).map(|e| c.at(e as f64)).collect();
        prop_assert_eq!(values[0].to_bits(), lr.to_bits());
        let last = *values.last().unwrap();
        prop_assert!((last - min).abs() <= min * 1e-9, "last {last} vs min {min}");
        prop_assert!(values.windows(2).all(|w| w[1] <= w[0]));
        values.dedup_by(|a, b| a.to_bits() == b.to_bits());
        if min < lr * (1.0 - 1e-9) {
            prop_assert_eq!(values.len(), step_num as usize);
        }
    }

    #[test]
    fn every_valid_plan_gives_finite_values_everywhere(
        kind in 0usize..4, opt in 0usize..3, (lr, min) in lr_pair(), total in 1u32..400,
        freeze in any::<bool>(), freeze_frac in 0.0f64..=1.0, bs0 in 1u32..256, bs1 in 1u32..256,
        nbs in 1u32..256, per_iter in any::<bool>(), iters in 1u32..50, shape in ratios(),
    ) {
        let mut plan = Plan::default();
        plan.decay.kind = DecayKind::ALL[kind];
        plan.optimizer.kind = OptimizerKind::ALL[opt];
        plan.lr.init = lr;
        plan.lr.min = min;
        plan.lr.nbs = nbs;
        plan.epochs.total = total;
        plan.phases.freeze = freeze;
        plan.phases.freeze_epochs = (freeze_frac * total as f64) as u32;
        plan.phases.freeze_batch_size = bs0;
        plan.phases.unfreeze_batch_size = bs1;
        plan.decay.warmup_iters_ratio = shape.warmup_iters_ratio;
        plan.decay.warmup_lr_ratio = shape.warmup_lr_ratio;
        plan.decay.no_aug_iter_ratio = shape.no_aug_iter_ratio;
        plan.decay.step_num = shape.step_num.min(total.max(2));
        if per_iter {
            plan.updates.per = UpdateUnit::Iteration;
            plan.updates.iters_per_epoch = Some(iters);
        }
        if plan.decay.kind == DecayKind::Step && (total as f64 / plan.decay.step_num as f64) < 1.0 {
            prop_assert!(plan.validate().is_err());
            return Ok(());
        }
        let s = Schedule::new(&plan).unwrap();
        let mut n = 0u64;
        for step in s.steps() {
            prop_assert!(step.lr.is_finite() && step.lr > 0.0, "step {:?}", step);
            prop_assert_eq!(s.step(step.index), Some(step));
            n += 1;
        }
        prop_assert_eq!(n, s.total_steps());
    }

    #[test]
    fn envelope_holds_every_step(
        kind in 0usize..4, total in 1u32..60, iters in 1u32..300, columns in 1usize..400,
        freeze_epochs in 0u32..60,
    ) {
        let mut plan = Plan::default();
        plan.decay.kind = DecayKind::ALL[kind];
        plan.decay.step_num = 2;
        plan.epochs.total = total.max(2);
        plan.phases.freeze_epochs = freeze_epochs.min(plan.epochs.total);
        plan.updates.per = UpdateUnit::Iteration;
        plan.updates.iters_per_epoch = Some(iters);
        let s = Schedule::new(&plan).unwrap();
        let cols = s.envelope(columns);
        prop_assert_eq!(cols.first().map(|c| c.first), Some(0));
        prop_assert_eq!(cols.last().map(|c| c.end), Some(s.total_steps()));
        for pair in cols.windows(2) {
            prop_assert_eq!(pair[0].end, pair[1].first);
        }
        for c in &cols {
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for i in c.first..c.end {
                let lr = s.step(i).unwrap().lr;
                lo = lo.min(lr);
                hi = hi.max(lr);
            }
            prop_assert_eq!(c.lo.to_bits(), lo.to_bits());
            prop_assert_eq!(c.hi.to_bits(), hi.to_bits());
        }
    }
}
