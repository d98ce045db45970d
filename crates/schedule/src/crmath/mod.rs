//! Correctly rounded `cos` and `pow`: the double nearest to the exact mathematical value, for
//! every argument, the same bits on every target.
//!
//! The schedules need `cos` (the cosine decay) and `pow` (the step decay's rate and its powers).
//! A result one ulp off becomes up to twenty ulps of the learning rate near the cosine tail, and
//! "one ulp off" is whatever a math library's author chose: `libm` (musl's algorithms) misrounds
//! a few percent of the schedule's arguments, glibc almost none. Correct rounding is the only
//! answer that does not depend on the library, so it is the contract (`shared/spec/schedule.md`).
//!
//! Why our own code: no crate fitted. `libm` 0.2 has musl's `cos` and `pow` (not correctly
//! rounded); `pxfm` (ports of CORE-MATH) is not `no_std` (it uses `std` throughout and detects
//! CPU features at run time); `core-math` binds the C library, which wasm32 cannot link.
//!
//! How (Ziv's strategy): a fast path evaluates in double-double (`dd.rs`) with a relative error
//! below 2^-85 and asks whether every value within 2^-72 of its result rounds to one double,
//! leaving a wide margin over its analysed error; within its range that decides all but about
//! two arguments in a million (those within 2^-72 of a midpoint, whose ulp is 2^-52 relative). The others go to an
//! exact fallback (`fixed.rs`, on `big.rs` naturals): fixed point with counted error, doubling its
//! precision until the rounding is decided (microseconds). That loop ends for every
//! argument because the exact result is never a rounding boundary (a midpoint between two
//! doubles): `cos x` is transcendental for every double `x != 0` (Lindemann), and the powers
//! `x^y` that are midpoints are found and computed exactly first (`pow`'s exact case).
//!
//! Only IEEE-754 basic operations on `f64` are used (no FMA, no platform math), and Rust does
//! not contract them, so x86-64 and wasm32 compute the same bits. The whole range is covered,
//! not only the schedule's: [`cos`] of any double and [`pow`] with C99's special cases; the
//! fast paths cover `|x| <= 10^6` for `cos` and results within `e^±700` for `pow` (and decide
//! certain overflow and underflow), the rest takes the exact path.

mod big;
mod cos;
mod dd;
mod fixed;
mod pow;

pub use cos::cos;
pub use pow::pow;

/// The exact fallbacks alone, without the fast paths: for validating them on every argument
/// (the fast paths answer almost all arguments, so a test of [`cos`] and [`pow`] alone would
/// exercise the fallbacks only on the few hard cases).
pub mod exact {
    pub use super::cos::cos_exact as cos;
    pub use super::pow::pow_exact as pow;
}

/// `x = m · 2^e` with an integer `0 <= m < 2^53`, for finite `x >= 0`.
fn decompose(x: f64) -> (u64, i64) {
    let bits = x.to_bits();
    let field = (bits >> 52) as i64 & 0x7ff;
    let frac = bits & ((1 << 52) - 1);
    if field == 0 {
        (frac, -1074)
    } else {
        (frac | 1 << 52, field - 1075)
    }
}

/// The relative error bound the fast paths' rounding test uses: 2^-72, against analysed errors
/// below 2^-85.
const FAST_ERR: f64 = 2.117_582_368_135_751e-22;
