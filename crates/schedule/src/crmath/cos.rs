//! Correctly rounded cosine: Cody–Waite reduction and Taylor polynomials in double-double, then
//! big-integer reduction and series when the rounding is close.

use super::big::Big;
use super::dd::{Dd, factorial, horner, two_prod, two_sum};
use super::fixed::{self, decide, taylor};
use super::{FAST_ERR, decompose};

/// π/2 as `C1 + C2 + C3 + C4`, about 177 bits; `C1` and `C2` have 33 significant bits, so
/// `k · C1` and `k · C2` are exact for `k < 2^20`.
const PIO2: [f64; 4] = [
    f64::from_bits(0x3FF9_21FB_5440_0000),
    f64::from_bits(0x3DD0_B461_1A60_0000),
    f64::from_bits(0x3BA3_198A_2E03_7073),
    f64::from_bits(0x3841_2902_4E08_8A68),
];
const TWO_OVER_PI: f64 = f64::from_bits(0x3FE4_5F30_6DC9_C883);
/// Adding and subtracting 1.5 · 2^52 rounds a double below 2^51 to the nearest integer.
const SHIFTER: f64 = 6_755_399_441_055_744.0;
/// Largest argument of the fast path: `round(x · 2/π) < 2^20`.
const FAST_MAX: f64 = 1.0e6;
/// Below this, `cos x` rounds to 1: `1 > cos x > 1 - x²/2 >= 1 - 2^-55`, above the midpoint
/// `1 - 2^-54` between 1 and the double below it.
const TINY: f64 = 7.450_580_596_923_828e-9; // 2^-27

/// `Σ_n (-1)^n z^n / (2n+1)!`, the Taylor series of `sin r / r` in `z = r²`, to `n = 13`:
/// for `|r| <= π/4` the first dropped term is below 2^-112, the double-precision tail (from
/// `n = 7`) below 2^-45.
const SIN_HEAD: [Dd; 7] = inv_factorials(1);
const SIN_TAIL: [f64; 7] = tail_factorials(15);
/// `Σ_n (-1)^n z^n / (2n)!` to `n = 14` (dropped: below 2^-118; tail from `n = 8`: 2^-50).
const COS_HEAD: [Dd; 8] = inv_factorials(0);
const COS_TAIL: [f64; 7] = tail_factorials(16);
/// The quick first try keeps only the first `QUICK` terms in double-double and evaluates the
/// rest in double: the tails from `n = 4` are below 2^-18 (cos) and 2^-21 (sin) of the result,
/// and Horner's rule in double errs by at most 20 u (u = 2^-53) of them, so the result is within
/// 2^-66 relative, against the [`QUICK_ERR`] of 2^-63 its rounding test allows. It decides all
/// but about one argument in 500 in half the time; the others take the full evaluation.
const QUICK: usize = 4;
const QUICK_ERR: f64 = 1.084_202_172_485_504_4e-19; // 2^-63
const SIN_QUICK_TAIL: [f64; 10] = tail_factorials(9);
const COS_QUICK_TAIL: [f64; 11] = tail_factorials(8);

/// `(-1)^i / (first + 2i)!` in double-double.
const fn inv_factorials<const N: usize>(first: u32) -> [Dd; N] {
    let mut out = [Dd::from_f64(0.0); N];
    let mut i = 0;
    while i < N {
        let c = Dd::recip(factorial(first + 2 * i as u32));
        out[i] = if i % 2 == 0 { c } else { c.neg() };
        i += 1;
    }
    out
}

/// `(-1)^i / (first + 2i)!` in double, continuing a head whose last sign was `-` (even
/// length) or `+`: the callers' heads have 7 and 8 terms, so the tails start with `-` for sin
/// (`n = 7`) and `+` for cos (`n = 8`), which is `(first / 2) % 2`.
const fn tail_factorials<const N: usize>(first: u32) -> [f64; N] {
    let mut out = [0.0; N];
    let mut i = 0;
    while i < N {
        let c = 1.0 / factorial(first + 2 * i as u32);
        out[i] = if (first / 2 + i as u32) % 2 == 0 {
            c
        } else {
            -c
        };
        i += 1;
    }
    out
}

/// The cosine of `x`, correctly rounded to nearest. NaN for NaN and infinities.
pub fn cos(x: f64) -> f64 {
    evaluate(x, |x| if x <= FAST_MAX { fast(x) } else { None })
}

/// [`cos`] by exact arithmetic alone, without the fast path: the same results, slower.
pub fn cos_exact(x: f64) -> f64 {
    evaluate(x, |_| None)
}

fn evaluate(x: f64, fast: fn(f64) -> Option<f64>) -> f64 {
    let ax = f64::from_bits(x.to_bits() & !(1 << 63));
    if ax.is_nan() || ax == f64::INFINITY {
        return f64::NAN;
    }
    if ax < TINY {
        return 1.0;
    }
    fast(ax).unwrap_or_else(|| exact(ax))
}

/// `cos x` for `2^-27 <= x <= 10^6`, if the double-double result decides the rounding.
///
/// Error: `r` carries at most `k · 2^-177` from π/2's representation and `2^-104 |r|` from the
/// additions; `|r| > 2^-62` for every double below 10^6 (the closest doubles to multiples of
/// π/2 come no closer), so `r` is within 2^-96 relative. The polynomials add below 2^-95
/// (truncation 2^-112, tail 2^-95, eight double-double steps 2^-99) and the product `r · S`
/// 2^-103: in all below 2^-93, against the 2^-72 the rounding test allows. A quick try with a
/// shorter double-double head comes first (see [`QUICK`]).
fn fast(x: f64) -> Option<f64> {
    let k = (x * TWO_OVER_PI + SHIFTER) - SHIFTER;
    let r = if k == 0.0 {
        Dd::from_f64(x)
    } else {
        // x - k·C1 is exact (Sterbenz: x is within a factor 2 of k·C1 for k >= 1), as are k·C1
        // and k·C2.
        two_sum(x - k * PIO2[0], -(k * PIO2[1]))
            .add(two_prod(k, PIO2[2]).neg())
            .add_f64(-(k * PIO2[3]))
    };
    let z = r.mul(r);
    let quadrant = k as u64 & 3;
    // cos x = cos r, -sin r, -cos r, sin r by quadrant.
    let value = |cos_head: &[Dd], cos_tail: &[f64], sin_head: &[Dd], sin_tail: &[f64]| {
        let v = if quadrant % 2 == 0 {
            horner(z, cos_head, cos_tail)
        } else {
            r.mul(horner(z, sin_head, sin_tail))
        };
        if quadrant == 1 || quadrant == 2 {
            v.neg()
        } else {
            v
        }
    };
    let quick = value(
        &COS_HEAD[..QUICK],
        &COS_QUICK_TAIL,
        &SIN_HEAD[..QUICK],
        &SIN_QUICK_TAIL,
    );
    quick.round(quick.hi.abs() * QUICK_ERR).or_else(|| {
        let v = value(&COS_HEAD, &COS_TAIL, &SIN_HEAD, &SIN_TAIL);
        v.round(v.hi.abs() * FAST_ERR)
    })
}

/// `cos x` for finite `x >= 2^-27` by exact arithmetic alone, at 128, 256, 512, … bits until
/// the rounding is decided (see the `crmath` module's docs for why this ends).
fn exact(x: f64) -> f64 {
    let mut n = 128;
    loop {
        if let Some(c) = exact_at(x, n) {
            return c;
        }
        n *= 2;
    }
}

/// One precision step of [`exact`]: `cos x` from `r = x - k π/2` and the series of
/// `cos r` or `sin r` at `n` fractional bits, if that decides the rounding.
fn exact_at(x: f64, n: u32) -> Option<f64> {
    let (m, e) = decompose(x);
    // x < 2^(w-2) (at least 1), so k <= x / (π/2) + 1 <= 2^(w-2) and the reduction's error
    // k · 2 units of 2^-s is below 2^(w-1-s) = 2^-(n+9).
    let w = (e + 53).max(0) as u32 + 2;
    let s = n + w + 8;
    let half_pi = fixed::pi(s - 1);
    let xs = Big::from_u64(m).shl((e + s as i64) as u64);
    let k = xs.shl(1).add(&half_pi).div(&half_pi.shl(1));
    let kp = k.mul(&half_pi);
    let (r_negative, r) = if xs >= kp {
        (false, xs.sub(&kp))
    } else {
        (true, kp.sub(&xs))
    };
    // |r| <= π/4 (k is the nearest multiple), within 2 units of 2^-n after the truncation.
    let r = r.shr((s - n).into());
    let z = r.mul(&r).shr(n.into());
    let quadrant = k.low_u64() & 3;
    let (sum, err) = if quadrant % 2 == 0 {
        let one = Big::from_u64(1).shl(n.into());
        taylor(one, &z, n, true, |i| (2 * i - 1) * (2 * i))
    } else {
        taylor(r, &z, n, true, |i| (2 * i) * (2 * i + 1))
    };
    // cos x = cos r, -sin r, -cos r, sin r by quadrant; the sum is cos |r| or sin |r|, and
    // both have derivatives of at most 1, so r's 2 units add 2 units.
    let negative = match quadrant {
        0 => false,
        1 => !r_negative,
        2 => true,
        _ => r_negative,
    };
    let c = decide(&sum, err + 2, n as i64)?;
    Some(if negative { -c } else { c })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pio2_pieces_sum_to_pi_over_2() {
        // Σ C_i · 2^200 against π · 2^199 from Machin's series: within 2^-174 of π/2.
        let exact = fixed::pi(199);
        let mut sum = Big::from_u64(0);
        for c in PIO2 {
            let (m, e) = decompose(c);
            sum = sum.add(&Big::from_u64(m).shl((e + 200) as u64));
        }
        let diff = if sum >= exact {
            sum.sub(&exact)
        } else {
            exact.sub(&sum)
        };
        assert!(diff.bits() <= 26, "{diff:?}");
    }

    #[test]
    fn coefficients_are_inverse_factorials() {
        assert_eq!(COS_HEAD[1].hi, -0.5);
        assert_eq!(SIN_HEAD[1].hi + SIN_HEAD[1].lo, -1.0 / 6.0);
        assert_eq!(SIN_TAIL[0], -1.0 / factorial(15));
        assert_eq!(COS_TAIL[0], 1.0 / factorial(16));
        assert_eq!(COS_TAIL[1], -1.0 / factorial(18));
    }

    #[test]
    fn fast_and_exact_agree_on_a_grid() {
        for i in 1..20_000 {
            let x = i as f64 * 1.7e-4;
            assert_eq!(cos(x).to_bits(), cos_exact(x).to_bits(), "{x}");
        }
    }
}
