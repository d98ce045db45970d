//! Nanoseconds per call of crmath's correctly rounded `cos` and `pow` against `libm`'s, on the
//! arguments the schedules use, in one run:
//!
//!     cargo bench -p lrplan-schedule --bench crmath
//!
//! Each figure is the best of several passes over a million precomputed arguments (the
//! machine is shared: the best pass is the one least disturbed).

use std::hint::black_box;
use std::time::Instant;

use lrplan_schedule::crmath;

const N: usize = 1_000_000;
const PASSES: usize = 7;

/// A deterministic spread of values in [0, 1).
fn unit(i: usize) -> f64 {
    ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64
}

/// Best nanoseconds per call of `f` over `args`.
fn time<A: Copy>(args: &[A], f: impl Fn(A) -> f64) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..PASSES {
        let start = Instant::now();
        let mut acc = 0.0;
        for &a in args {
            acc += f(black_box(a));
        }
        black_box(acc);
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / args.len() as f64);
    }
    best
}

fn report(what: &str, ours: f64, theirs: f64) {
    println!(
        "{what:<44} crmath {ours:6.1} ns   libm {theirs:6.1} ns   ratio {:.2}x",
        ours / theirs
    );
}

/// Microseconds per call of the exact fallbacks alone (what a hard case costs).
fn report_exact(cos_args: &[f64], pow_args: &[(f64, f64)]) {
    let cos = time(&cos_args[..N / 100], crmath::exact::cos) / 1e3;
    let pow = time(&pow_args[..N / 100], |(x, y)| crmath::exact::pow(x, y)) / 1e3;
    println!("exact fallback alone: cos {cos:.1} us, pow {pow:.1} us per call");
}

fn main() {
    // The cosine decay's arguments: π (t - w) / (total - w - n) over [0, π].
    let cos_args: Vec<f64> = (0..N).map(|i| std::f64::consts::PI * unit(i)).collect();
    report(
        "cos(x), x in [0, pi]",
        time(&cos_args, crmath::cos),
        time(&cos_args, libm::cos),
    );
    // The step decay's rate: (min / lr)^(1 / (step_num - 1)).
    let rate_args: Vec<(f64, f64)> = (0..N)
        .map(|i| (1e-4 + unit(i), 1.0 / (1 + i % 1000) as f64))
        .collect();
    report(
        "pow(r, 1/k), r in (1e-4, 1], k in 1..1000",
        time(&rate_args, |(x, y)| crmath::pow(x, y)),
        time(&rate_args, |(x, y)| libm::pow(x, y)),
    );
    // Its powers rate^floor(t / step_size), from rate^0 = 1 down to rate^(k-1) = min / lr.
    let step_args: Vec<(f64, f64)> = rate_args
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| (crmath::pow(x, y), (i % (1 + i % 1000)) as f64))
        .collect();
    report(
        "pow(r, n), r = the above, n in 0..k",
        time(&step_args, |(x, y)| crmath::pow(x, y)),
        time(&step_args, |(x, y)| libm::pow(x, y)),
    );
    report_exact(&cos_args, &rate_args);
}
