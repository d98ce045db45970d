//! Arbitrary-precision fixed point for the exact fallback: big integers read as multiples of
//! `2^-n`, every operation truncating, every error counted in units of `2^-n` ("ulps" below).
//!
//! The fallback's only job is to be right, not fast (it runs for about one argument in ten
//! million), so it is written for an error analysis that fits in comments: series whose
//! per-term error is a small constant, constants (π, ln 2) computed from Machin-like series at
//! whatever precision is asked, and a final rounding done on integers ([`Big`] naturals; signs
//! are carried beside them).

use super::big::Big;

/// Guard bits for the constants: their series' summed truncation errors stay below `2^GUARD`.
const GUARD: u32 = 32;

/// `π · 2^n`, within 2 units: Machin's `π = 16 atan(1/5) - 4 atan(1/239)`.
pub(super) fn pi(n: u32) -> Big {
    let w = n + GUARD;
    let sum = inv_series(5, w, true)
        .shl(4)
        .sub(&inv_series(239, w, true).shl(2));
    // Each series errs by at most 3(M+1) units of 2^-w with M < w terms, so 20·3(w+1) < 2^GUARD
    // units before the shift; after it, at most 1 unit plus 1 for the truncation.
    sum.shr(GUARD.into())
}

/// `ln 2 · 2^n`, within 2 units: `ln 2 = 2 atanh(1/3)`.
pub(super) fn ln2(n: u32) -> Big {
    let w = n + GUARD;
    inv_series(3, w, false).shl(1).shr(GUARD.into())
}

/// `atan(1/k) · 2^n` (alternating) or `atanh(1/k) · 2^n`, within `3(M+1)` units for `M` terms:
/// each power `2^n / k^(2i+1)` is truncated once per step (its error stays below 2 units,
/// because dividing by `k² >= 9` shrinks the inherited error) and each term once more.
fn inv_series(k: u32, n: u32, alternating: bool) -> Big {
    let mut power = Big::from_u64(1).shl(n.into()).div_small(k);
    let (mut plus, mut minus) = (Big::from_u64(0), Big::from_u64(0));
    let mut i: u32 = 0;
    while !power.is_zero() {
        let term = power.div_small(2 * i + 1);
        if alternating && i % 2 == 1 {
            minus = minus.add(&term);
        } else {
            plus = plus.add(&term);
        }
        power = power.div_small(k * k);
        i += 1;
    }
    plus.sub(&minus)
}

/// `Σ_i (±1)^i t_i · 2^-n` with `t_0 = first`, `t_i = t_(i-1) · z · 2^-n / d(i)`, truncated,
/// until a term is 0: the Taylor series of cos, sin and exp. Returns the sum (never negative:
/// the terms do not increase) and its error bound in units, for `z · 2^-n <= 0.65`, `first · 2^-n <= 1`, `d(i) >= 1` with `d(i) >= 2`
/// unless `z · 2^-n <= 0.36`, and `z` itself within 1 unit:
///
/// the error of a term is at most `(0.65 e + 1 + 1) / 2 + 1 <= 3` when the previous one erred
/// by `e <= 3` (`(0.36 e + 1) / 1 + 1 <= 3` for `d = 1`), and once a computed term is 0 the
/// exact rest is below `3 / (1 - 0.36) < 5` units. So `3M + 5` for `M` computed terms.
pub(super) fn taylor(
    first: Big,
    z: &Big,
    n: u32,
    alternating: bool,
    d: impl Fn(u32) -> u32,
) -> (Big, u64) {
    let mut term = first;
    let (mut plus, mut minus) = (Big::from_u64(0), Big::from_u64(0));
    let mut i = 0;
    while !term.is_zero() {
        if alternating && i % 2 == 1 {
            minus = minus.add(&term);
        } else {
            plus = plus.add(&term);
        }
        i += 1;
        term = term.mul(z).shr(n.into()).div_small(d(i));
    }
    (plus.sub(&minus), 3 * u64::from(i) + 5)
}

/// `a + b` for signed values held as (negative, magnitude).
pub(super) fn signed_add(a: (bool, Big), b: (bool, Big)) -> (bool, Big) {
    match (a, b) {
        ((an, a), (bn, b)) if an == bn => (an, a.add(&b)),
        ((an, a), (_, b)) if a >= b => (an, a.sub(&b)),
        ((_, a), (bn, b)) => (bn, b.sub(&a)),
    }
}

/// The double nearest to `v · 2^-n` (ties to even), with subnormals and overflow to infinity:
/// the final rounding of the fallback, on integers so that it is exact.
pub(super) fn to_f64(v: &Big, n: i64) -> f64 {
    let len = v.bits() as i64;
    if len == 0 {
        return 0.0;
    }
    // The leading bit is worth 2^lead; below 2^-1022 fewer than 53 bits are kept.
    let lead = len - 1 - n;
    let keep = if lead >= -1022 {
        53
    } else {
        53 - (-1022 - lead)
    };
    let drop = len - keep;
    if drop <= 0 {
        return ldexp(v.low_u64() as f64, -n);
    }
    let drop = drop as u64;
    let mut m = v.shr(drop).low_u64();
    let half = Big::from_u64(1).shl(drop - 1);
    let rest = v.sub(&Big::from_u64(m).shl(drop));
    if rest > half || (rest == half && m % 2 == 1) {
        m += 1;
    }
    ldexp(m as f64, drop as i64 - n)
}

/// `m · 2^s` for an integer `m <= 2^53` whose product is a double or overflows (the caller
/// has rounded it to the precision of its binade): scaling in steps that stay exact.
fn ldexp(m: f64, s: i64) -> f64 {
    let mut x = m;
    let mut s = s;
    while s > 0 {
        let step = s.min(1000);
        x *= pow2(step);
        s -= step;
    }
    while s < 0 {
        let step = s.max(-1000);
        x *= pow2(step);
        s -= step;
    }
    x
}

/// `2^e` for `|e| <= 1000`.
fn pow2(e: i64) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// The double nearest to every value in `[(v - e) 2^-n, (v + e) 2^-n]`, if they share one.
pub(super) fn decide(v: &Big, e: u64, n: i64) -> Option<f64> {
    let e = Big::from_u64(e);
    if *v <= e {
        return None;
    }
    let down = to_f64(&v.sub(&e), n);
    let up = to_f64(&v.add(&e), n);
    (down == up).then_some(down)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(v: u128) -> Big {
        Big::from_u128(v)
    }

    #[test]
    fn rounds_ties_to_even_and_subnormals() {
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even wins.
        assert_eq!(to_f64(&big((1 << 53) + 1), 0), 9007199254740992.0);
        assert_eq!(to_f64(&big((1 << 53) + 3), 0), 9007199254740996.0);
        // Half the smallest subnormal is a tie with 0; a hair more rounds up.
        assert_eq!(to_f64(&big(1), 1075), 0.0);
        assert_eq!(to_f64(&big(3), 1076), 5e-324);
        assert_eq!(to_f64(&big(1), -1024), f64::INFINITY);
        assert_eq!(to_f64(&big(3), 1), 1.5);
    }

    #[test]
    fn constants_agree_with_their_decimal_expansions() {
        // 2^64 π and 2^64 ln 2, truncated.
        let (p, l) = (pi(64), ln2(64));
        let (p0, l0) = (big(57952155664616982739), big(12786308645202655659));
        assert!(p.add(&big(2)) >= p0 && p <= p0.add(&big(3)), "{p:?}");
        assert!(l.add(&big(2)) >= l0 && l <= l0.add(&big(3)), "{l:?}");
    }
}
