//! Hand-checked values of the contract (`shared/spec/schedule.md`), compared bit for bit.
//!
//! Each expected value is the contract's formula written out again here, independently of the
//! crate's code, with the same order of operations (or a value that is exact by construction,
//! such as a clamp limit or the tail's `min_lr`).

use lrplan_schedule::crmath;
use lrplan_schedule::curve::Shape;
use lrplan_schedule::{
    Clamp, Curve, DecayKind, Fit, Limits, OptimizerKind, Phase, Plan, Schedule, UpdateUnit,
};

const PI: f64 = std::f64::consts::PI;

fn shape() -> Shape {
    Shape {
        warmup_iters_ratio: 0.05,
        warmup_lr_ratio: 0.1,
        no_aug_iter_ratio: 0.05,
        step_num: 10,
    }
}

fn same(actual: f64, expected: f64) {
    assert_eq!(
        actual.to_bits(),
        expected.to_bits(),
        "{actual:e} != {expected:e}"
    );
}

#[test]
fn worked_example_adam_1e3_bs16_is_clamped_up_to_3e4() {
    let fit = Fit::new(1e-3, 1e-5, 16, 64, Limits::default_for(OptimizerKind::Adam));
    same(fit.init_scaled, 16.0 / 64.0 * 1e-3);
    same(fit.init_scaled, 2.5e-4);
    same(fit.init, 3e-4);
    assert_eq!(fit.init_clamp, Clamp::Up);
    // min: 16/64 * 1e-5 = 2.5e-6, within [3e-6, 1e-5]? No: below 3e-4 * 1e-2 -> clamped up.
    same(fit.min, 3e-4 * 1e-2);
    assert_eq!(fit.min_clamp, Clamp::Up);
    assert!(fit.to_string().contains("clamped up to lr_limit_min"));
}

#[test]
fn fitting_limits_per_optimizer_and_overrides() {
    assert_eq!(
        Limits::default_for(OptimizerKind::Sgd),
        Limits {
            max: 5e-2,
            min: 5e-4
        }
    );
    assert_eq!(
        Limits::default_for(OptimizerKind::AdamW),
        Limits {
            max: 1e-3,
            min: 3e-4
        }
    );
    // SGD 1e-2 at bs 64: within the limits, unchanged.
    let fit = Fit::new(1e-2, 1e-4, 64, 64, Limits::default_for(OptimizerKind::Sgd));
    same(fit.init, 1.0 * 1e-2);
    assert_eq!(fit.init_clamp, Clamp::None);
    // SGD 1e-2 at bs 512: 8 * 1e-2 = 8e-2 > 5e-2, clamped down.
    let fit = Fit::new(1e-2, 1e-4, 512, 64, Limits::default_for(OptimizerKind::Sgd));
    same(fit.init, 5e-2);
    assert_eq!(fit.init_clamp, Clamp::Down);
    // min: 8 * 1e-4 = 8e-4 > 5e-2 * 1e-2, clamped down too.
    same(fit.min, 5e-2 * 1e-2);
    assert_eq!(fit.min_clamp, Clamp::Down);
    // A user override replaces the default limit.
    let mut plan = Plan::default();
    plan.optimizer.kind = OptimizerKind::Adam;
    plan.lr.limit_max = Some(2e-3);
    assert_eq!(
        plan.limits(),
        Limits {
            max: 2e-3,
            min: 3e-4
        }
    );
}

#[test]
fn cos_warmup_is_quadratic_then_cosine_then_constant_tail() {
    // The write-up's picture: lr 3e-4, min 3e-6, 100 epochs -> 3 warm-up epochs, 5 tail epochs.
    let (lr, min, total) = (3e-4, 3e-6, 100u32);
    let c = Curve::new(DecayKind::Cos, lr, min, total, &shape());
    let w = c.warm().unwrap();
    same(w.warmup_total, 3.0);
    same(w.warmup_start, 0.1 * lr);
    same(w.no_aug, 5.0);
    let start = 0.1 * lr;
    same(c.at(0.0), start);
    for t in [0.5, 1.0, 2.0, 2.25, 3.0] {
        let x: f64 = t / 3.0;
        same(c.at(t), (lr - start) * (x * x) + start);
    }
    for t in [3.5, 4.0, 50.0, 94.9] {
        let expected =
            min + 0.5 * (lr - min) * (1.0 + crmath::cos(PI * (t - 3.0) / (100.0 - 3.0 - 5.0)));
        same(c.at(t), expected);
    }
    for t in [95.0, 97.5, 99.0] {
        same(c.at(t), min);
    }
}

#[test]
fn cos_caps_warmup_at_3_and_tail_at_15_epochs() {
    let c = Curve::new(DecayKind::Cos, 1e-2, 1e-4, 1000, &shape());
    let w = c.warm().unwrap();
    same(w.warmup_total, 3.0);
    same(w.no_aug, 15.0);
    // Short runs: at least one epoch of each.
    let c = Curve::new(DecayKind::Cos, 1e-2, 1e-4, 10, &shape());
    let w = c.warm().unwrap();
    same(w.warmup_total, 1.0);
    same(w.no_aug, 1.0);
    // Warm-up start never goes below 1e-6.
    let c = Curve::new(DecayKind::Cos, 5e-6, 5e-8, 10, &shape());
    same(c.at(0.0), 1e-6);
}

#[test]
fn step_decay_is_geometric_from_lr_to_min() {
    let (lr, min, total) = (1e-2, 1e-4, 100u32);
    let c = Curve::new(DecayKind::Step, lr, min, total, &shape());
    let rate = crmath::pow(min / lr, 1.0 / (10.0 - 1.0));
    for (t, n) in [
        (0.0, 0.0),
        (9.99, 0.0),
        (10.0, 1.0),
        (55.0, 5.0),
        (99.0, 9.0),
    ] {
        same(c.at(t), lr * crmath::pow(rate, n));
    }
    assert!((c.at(99.0) - min).abs() < min * 1e-12);
}

#[test]
fn linear_runs_straight_between_warmup_and_tail() {
    let (lr, min) = (1e-2, 1e-4);
    let c = Curve::new(DecayKind::Linear, lr, min, 100, &shape());
    same(c.at(3.0), (lr - 0.1 * lr) * 1.0 + 0.1 * lr);
    same(
        c.at(50.0),
        lr - (lr - min) * (50.0 - 3.0) / (100.0 - 3.0 - 5.0),
    );
    same(c.at(96.0), min);
    let k = Curve::new(DecayKind::Constant, lr, min, 100, &shape());
    same(k.at(0.0), lr);
    same(k.at(99.0), lr);
}

fn two_phase_plan() -> Plan {
    let mut p = Plan::default();
    p.epochs.total = 100;
    p.phases.freeze_epochs = 20;
    p.phases.freeze_batch_size = 32;
    p.phases.unfreeze_batch_size = 8;
    p
}

#[test]
fn phase_jump_refits_and_keeps_the_total_length() {
    let plan = two_phase_plan();
    let s = Schedule::new(&plan).unwrap();
    let phases: Vec<_> = s.phases().collect();
    assert_eq!(phases.len(), 2);
    assert_eq!(phases[0].phase, Phase::Freeze);
    assert_eq!((phases[0].first_epoch, phases[0].end_epoch), (0, 20));
    assert_eq!((phases[1].first_epoch, phases[1].end_epoch), (20, 100));
    // Each phase's curve is the whole 100-epoch curve rebuilt from its own fit.
    let sgd = Limits::default_for(OptimizerKind::Sgd);
    let f0 = Fit::new(1e-2, 1e-4, 32, 64, sgd);
    let f1 = Fit::new(1e-2, 1e-4, 8, 64, sgd);
    let c0 = Curve::new(DecayKind::Cos, f0.init, f0.min, 100, &shape());
    let c1 = Curve::new(DecayKind::Cos, f1.init, f1.min, 100, &shape());
    same(s.lr(19, 0), c0.at(19.0));
    same(s.lr(20, 0), c1.at(20.0));
    assert!(s.lr(20, 0) < s.lr(19, 0) * 0.5, "the jump is visible");
    // The warm-up is not repeated after the boundary.
    assert!(s.lr(21, 0) <= s.lr(20, 0));
    assert_eq!(s.boundary_epoch(), Some(20));
    assert_eq!(s.step(20).unwrap().batch_size, 8);
}

#[test]
fn resume_from_epoch_n_gives_the_same_values() {
    let full = Schedule::new(&two_phase_plan()).unwrap();
    for start in [1, 19, 20, 57, 99] {
        let mut plan = two_phase_plan();
        plan.epochs.start = start;
        let resumed = Schedule::new(&plan).unwrap();
        let tail: Vec<_> = full.steps().filter(|s| s.epoch >= start).collect();
        let again: Vec<_> = resumed.steps().collect();
        assert_eq!(tail.len(), again.len());
        for (a, b) in tail.iter().zip(&again) {
            assert_eq!(
                (a.epoch, a.phase, a.batch_size),
                (b.epoch, b.phase, b.batch_size)
            );
            same(a.lr, b.lr);
        }
    }
}

#[test]
fn per_iteration_samples_the_same_curve_between_epochs() {
    let mut plan = two_phase_plan();
    plan.updates.per = UpdateUnit::Iteration;
    plan.updates.dataset_size = Some(1000);
    let s = Schedule::new(&plan).unwrap();
    let phases: Vec<_> = s.phases().collect();
    assert_eq!(phases[0].iters_per_epoch, 1000 / 32);
    assert_eq!(phases[1].iters_per_epoch, 1000 / 8);
    assert_eq!(s.total_steps(), 20 * 31 + 80 * 125);
    let per_epoch = Schedule::new(&two_phase_plan()).unwrap();
    for epoch in [0, 5, 19, 20, 60, 99] {
        same(s.lr(epoch, 0), per_epoch.lr(epoch, 0));
    }
    // Iteration 7 of epoch 2 in the freeze phase sits at t = 2 + 7/31.
    let c0 = phases[0].curve;
    same(s.lr(2, 7), c0.at(2.0 + 7.0 / 31.0));
    let step = s.step(2 * 31 + 7).unwrap();
    assert_eq!((step.epoch, step.iteration), (2, 7));
    same(step.lr, s.lr(2, 7));
    // drop_last = false rounds the iteration count up.
    plan.updates.drop_last = false;
    let s = Schedule::new(&plan).unwrap();
    assert_eq!(s.phases().next().unwrap().iters_per_epoch, 32);
}

#[test]
fn table_csv_round_trips_every_lr() {
    let mut plan = two_phase_plan();
    plan.updates.per = UpdateUnit::Iteration;
    plan.updates.iters_per_epoch = Some(7);
    let s = Schedule::new(&plan).unwrap();
    let csv = lrplan_schedule::table::to_csv(&s);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(lrplan_schedule::table::CSV_HEADER));
    let mut n = 0;
    for (line, step) in lines.zip(s.steps()) {
        let lr: f64 = line.rsplit(',').next().unwrap().parse().unwrap();
        same(lr, step.lr);
        n += 1;
    }
    assert_eq!(n, 700);
}
