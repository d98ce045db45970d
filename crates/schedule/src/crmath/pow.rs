//! Correctly rounded power function: `x^y = e^(y ln x)` in double-double, then big-integer
//! logarithm and exponential when the rounding is close, and exact arithmetic for the powers
//! that are themselves short binary fractions (the only ones that can be midpoints).

use super::big::Big;
use super::dd::{Dd, factorial, horner, two_prod, two_sum};
use super::fixed::{self, decide, taylor, to_f64};
use super::{FAST_ERR, decompose};

/// ln 2 as `L1 + L2 + L3`, about 150 bits; `L1` has 42 significant bits, so `k · L1` is exact
/// for `|k| < 2^11`.
const LN2: [f64; 3] = [
    f64::from_bits(0x3FE6_2E42_FEFA_3800),
    f64::from_bits(0x3D2E_F357_93C7_6730),
    f64::from_bits(0x398F_97B5_7A07_9A19),
];
const INV_LN2: f64 = f64::from_bits(0x3FF7_1547_652B_82FE);
const SQRT2: f64 = core::f64::consts::SQRT_2;
const SHIFTER: f64 = 6_755_399_441_055_744.0;
/// 2^-64 and 2^64: beyond these, `|y ln x|` is below 2^-54 (the result rounds to 1) or above
/// 2^11 (it overflows or underflows), because `2^-53 < |ln x| < 745` for doubles `x != 1`.
const Y_TINY: f64 = 5.421_010_862_427_522e-20;
const Y_HUGE: f64 = 18_446_744_073_709_551_616.0;
/// Integer exponents up to this size take [`integer_power`].
const INT_MAX: f64 = 1_048_576.0;
/// The fast path keeps `|y ln x| < 700`, so the result `v · 2^k` has a normal `2^k`; results
/// near the ends of the range (subnormal, close to overflow) are left to the exact path.
const T_MAX: f64 = 700.0;
/// `ln(2^-1075) = -745.133…` and `ln(2^1024) = 709.782…`, with a margin.
const UNDERFLOW: f64 = -745.2;
const OVERFLOW: f64 = 709.79;

/// `Σ_n z^n / (2n+1)`: `atanh(s) / s` in `z = s²`, to `n = 19`. `|s| <= 3 - 2√2 < 0.1716`, so
/// `z < 0.0295`: the first dropped term is below 2^-107, the double tail (from `n = 9`) 2^-50.
const ATANH_HEAD: [Dd; 9] = inv_odd();
const ATANH_TAIL: [f64; 11] = {
    let mut out = [0.0; 11];
    let mut i = 0;
    while i < 11 {
        out[i] = 1.0 / (2 * (i + 9) + 1) as f64;
        i += 1;
    }
    out
};
/// `Σ_n r^n / n!` to `n = 22`: `|r| <= ln(2)/2 < 0.347`, dropped terms below 2^-110, the double
/// tail (from `n = 13`) below 2^-52.
const EXP_HEAD: [Dd; 13] = {
    let mut out = [Dd::from_f64(0.0); 13];
    let mut i = 0;
    while i < 13 {
        out[i] = Dd::recip(factorial(i as u32));
        i += 1;
    }
    out
};
const EXP_TAIL: [f64; 10] = {
    let mut out = [0.0; 10];
    let mut i = 0;
    while i < 10 {
        out[i] = 1.0 / factorial(13 + i as u32);
        i += 1;
    }
    out
};

const fn inv_odd<const N: usize>() -> [Dd; N] {
    let mut out = [Dd::from_f64(0.0); N];
    let mut i = 0;
    while i < N {
        out[i] = Dd::recip((2 * i + 1) as f64);
        i += 1;
    }
    out
}

/// `x` raised to `y`, correctly rounded to nearest, with the special values of C99 Annex F
/// (as glibc): `pow(x, ±0) = 1` and `pow(1, y) = 1` even for NaN, a negative `x` only with an
/// integer `y`, signed zeros and infinities by the parity of `y`.
pub fn pow(x: f64, y: f64) -> f64 {
    evaluate(x, y, fast)
}

/// [`pow`] by exact arithmetic alone, without the fast path: the same results, slower.
pub fn pow_exact(x: f64, y: f64) -> f64 {
    evaluate(x, y, |_, _| None)
}

fn evaluate(x: f64, y: f64, fast: fn(f64, f64) -> Option<f64>) -> f64 {
    if let Some(v) = special(x, y) {
        return v;
    }
    let v = fast(x.abs(), y).unwrap_or_else(|| positive(x.abs(), y));
    if x < 0.0 && is_odd_integer(y) { -v } else { v }
}

/// Every case but finite `x != 0, ±1` with `2^-64 <= |y| < 2^64` (negative `x` only with an
/// integer `y`), or `None`.
fn special(x: f64, y: f64) -> Option<f64> {
    let ax = x.abs();
    let ay = y.abs();
    if y == 0.0 || x == 1.0 {
        return Some(1.0);
    }
    if x.is_nan() || y.is_nan() {
        return Some(x + y);
    }
    if ay == f64::INFINITY {
        return Some(if ax == 1.0 {
            1.0
        } else if (ax < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        });
    }
    let odd = is_odd_integer(y);
    if x == 0.0 || ax == f64::INFINITY {
        // pow(±∞, y) = 1 / pow(±0, y).
        let big = (x == 0.0) == (y < 0.0);
        let v = if big { f64::INFINITY } else { 0.0 };
        return Some(if odd && x.is_sign_negative() { -v } else { v });
    }
    if x < 0.0 && !is_integer(y) {
        return Some(f64::NAN);
    }
    if ay >= Y_HUGE {
        // Even integers here, so the sign of x does not matter.
        return Some(if (ax > 1.0) == (y > 0.0) {
            f64::INFINITY
        } else {
            0.0
        });
    }
    if ay < Y_TINY {
        return Some(1.0);
    }
    None
}

fn is_integer(y: f64) -> bool {
    let (m, e) = decompose(y.abs());
    e >= 0 || m.trailing_zeros() as i64 >= -e
}

fn is_odd_integer(y: f64) -> bool {
    let (m, e) = decompose(y.abs());
    m != 0 && e <= 0 && e > -64 && m.trailing_zeros() as i64 == -e
}

/// `x = m · 2^e` with `√½ <= m < √2`, for finite `x > 0` (subnormals included).
fn reduce(x: f64) -> (f64, i64) {
    let (mant, e) = decompose(x);
    let shift = mant.leading_zeros() as i64 - 11;
    // A mantissa normalised to [2^52, 2^53), as a double in [1, 2).
    let m = (mant << shift) as f64 * (1.0 / 4_503_599_627_370_496.0);
    let e = e - shift + 52;
    if m >= SQRT2 { (m * 0.5, e + 1) } else { (m, e) }
}

/// `x^n` for finite `x > 0` and an integer `1 <= |n| <= 2^20` by binary powering in
/// double-double (the step decay's `rate^floor(t / step_size)`, three times faster than the
/// logarithm and exponential), if that decides the rounding.
///
/// Error: each product errs by at most 7u² (u = 2^-53) and squaring doubles the error a factor
/// carries, so `x^|n|` is within `2 |n| · 7u² <= 2^-82` relative, and the reciprocal for a
/// negative `n` adds 16u²: against the 2^-72 of the rounding test. Factors are kept in [1, 2)
/// with their binary exponents apart, so nothing overflows on the way.
fn integer_power(x: f64, n: f64) -> Option<f64> {
    let (m, e) = reduce(x);
    let (mut base, mut base_exp) = normalize(Dd::from_f64(m), 0);
    let (mut acc, mut acc_exp) = (Dd::from_f64(1.0), 0);
    let mut k = n.abs() as u64;
    loop {
        if k & 1 == 1 {
            (acc, acc_exp) = normalize(acc.mul(base), acc_exp + base_exp);
        }
        k >>= 1;
        if k == 0 {
            break;
        }
        (base, base_exp) = normalize(base.mul(base), 2 * base_exp);
    }
    if n < 0.0 {
        (acc, acc_exp) = normalize(acc.recip_div(1.0), -acc_exp);
    }
    // x^n = acc · 2^exp with acc in [1, 2).
    let exp = acc_exp + e * n as i64;
    if exp >= 1024 {
        return Some(f64::INFINITY);
    }
    if exp < -1076 {
        return Some(0.0); // below 2^-1075: rounds to 0
    }
    if !(-1022..1023).contains(&exp) {
        return None; // subnormal or near overflow: the exact path rounds those
    }
    let rounded = acc.round(acc.hi * FAST_ERR)?;
    Some(rounded * f64::from_bits(((exp + 1023) as u64) << 52))
}

/// `v · 2^e` as `(v', e')` with `v'.hi` in [1, 2), for `v.hi > 0`.
fn normalize(v: Dd, e: i64) -> (Dd, i64) {
    let k = (v.hi.to_bits() >> 52) as i64 - 1023;
    (v.scale(f64::from_bits(((1023 - k) as u64) << 52)), e + k)
}

/// `x^y` for finite `x > 0, x != 1` and `2^-64 <= |y| < 2^64`, if the double-double result
/// decides the rounding.
///
/// Error: `ln x` is within 2^-98 relative (the atanh series: truncation 2^-107, tail 2^-102,
/// nine double-double steps and the division 2^-100; `e ln 2` and `ln m` never cancel by more
/// than a factor 2), `y ln x` within 2^-97, so `t = y ln x` within `700 · 2^-97 < 2^-87`
/// absolute, which is the result's relative error from `t`. `r = t - k ln 2` adds 2^-140, the
/// exponential series 2^-98: below 2^-86 in all, against the 2^-72 of the rounding test.
fn fast(x: f64, y: f64) -> Option<f64> {
    if y.abs() <= INT_MAX && is_integer(y) {
        return integer_power(x, y);
    }
    let t = ln(x).mul_f64(y);
    // t is within 2^-40 of t.hi: beyond these bounds the result is below 2^-1075 (half the
    // smallest subnormal: rounds to 0) or at least 2^1024 (overflows).
    if t.hi < UNDERFLOW {
        return Some(0.0);
    }
    if t.hi > OVERFLOW {
        return Some(f64::INFINITY);
    }
    if t.hi.abs() >= T_MAX {
        return None;
    }
    let k = (t.hi * INV_LN2 + SHIFTER) - SHIFTER;
    // t.hi - k·L1 is exact: k·L1 is exact and within a factor 2 of t.hi (or k = 0).
    let r = two_sum(t.hi - k * LN2[0], t.lo)
        .add(two_prod(k, LN2[1]).neg())
        .add_f64(-(k * LN2[2]));
    let v = horner(r, &EXP_HEAD, &EXP_TAIL);
    let rounded = v.round(v.hi * FAST_ERR)?;
    // 2^k is a normal double (|k| <= 1010) and so is the product: the scaling is exact and
    // keeps the rounding.
    Some(rounded * f64::from_bits(((k as i64 + 1023) as u64) << 52))
}

/// `ln x` in double-double for finite `x > 0`: `e ln 2 + 2 atanh((m - 1) / (m + 1))`.
fn ln(x: f64) -> Dd {
    let (m, e) = reduce(x);
    // m - 1 is exact (Sterbenz), m + 1 exact as a double-double.
    let s = two_sum(m, 1.0).recip_div(m - 1.0);
    let atanh = s.mul(horner(s.mul(s), &ATANH_HEAD, &ATANH_TAIL));
    let ln_m = atanh.scale(2.0);
    if e == 0 {
        return ln_m;
    }
    let e = e as f64;
    // e·L1 is exact: |e| < 1140 needs 11 bits.
    Dd::from_f64(e * LN2[0])
        .add(two_prod(e, LN2[1]))
        .add_f64(e * LN2[2])
        .add(ln_m)
}

/// `x^y` for finite `x > 0, x != 1` and `2^-64 <= |y| < 2^64` by exact arithmetic alone:
/// first the exact power when it is a short binary fraction, otherwise the logarithm and
/// exponential at 128, 256, 512, … bits until the rounding is decided.
fn positive(x: f64, y: f64) -> f64 {
    if let Some(v) = dyadic(x, y) {
        return v;
    }
    let mut n = 128;
    loop {
        if let Some(v) = exact_at(x, y, n) {
            return v;
        }
        n *= 2;
    }
}

/// `x^y` exactly, when it is `c · 2^f` with an odd integer `c < 2^64`.
///
/// These are the only powers the Ziv loop could not decide: every midpoint between doubles
/// has an odd part below 2^54, and any other value (irrational, a non-dyadic rational, or a
/// dyadic with a longer odd part) is not a rounding boundary, so enough precision decides it.
/// Which powers are dyadic: with `x = a · 2^e` (`a` odd) and `y = b / 2^j` (`b` odd, `j >= 0`),
/// `x^y = d · 2^f` (`d` odd) means `a^b = d^(2^j)` and `e b = f 2^j`; so either `a = 1` and
/// `2^j` divides `e b`, or `b > 0`, `a` is a perfect `2^j`-th power `c^(2^j)`, `2^j` divides `e`,
/// and `d = c^b`. An integer `y = b 2^i` is the case `j = 0` with `b 2^i` for `b`.
fn dyadic(x: f64, y: f64) -> Option<f64> {
    let (a, e) = odd_parts(x);
    let (b, i) = odd_parts(y.abs());
    let b = if y < 0.0 { -(b as i128) } else { b as i128 };
    // y = p / 2^j with p = b·2^i for an integer y.
    let (p, j) = if i >= 0 {
        (b << i, 0)
    } else {
        (b, (-i) as u32)
    };
    if j > 62 || e % (1i64 << j) != 0 {
        return None;
    }
    let c = root_pow2(a, j)?;
    let exponent = (e >> j) as i128 * p;
    let odd = if c == 1 {
        1u64
    } else if p > 0 {
        checked_pow(c, p)?
    } else {
        return None;
    };
    // Beyond ±2^12 the result overflows or underflows the same way.
    let exponent = exponent.clamp(-4096, 4096) as i64;
    Some(to_f64(&Big::from_u64(odd), -exponent))
}

/// `v = a · 2^e` with `a` odd, for finite `v > 0`.
fn odd_parts(v: f64) -> (u64, i64) {
    let (m, e) = decompose(v);
    let z = m.trailing_zeros();
    (m >> z, e + z as i64)
}

/// The `2^j`-th root of `a`, if `a` is a perfect `2^j`-th power.
fn root_pow2(a: u64, j: u32) -> Option<u64> {
    let mut c = a;
    for _ in 0..j {
        if c == 1 {
            return Some(1);
        }
        let s = c.isqrt();
        if s * s != c {
            return None;
        }
        c = s;
    }
    Some(c)
}

/// `c^p` if it is below 2^64.
fn checked_pow(c: u64, p: i128) -> Option<u64> {
    let p = u32::try_from(p).ok()?;
    c.checked_pow(p)
}

/// One precision step of [`positive`] at `n` bits of the exponential's argument.
fn exact_at(x: f64, y: f64, n: u32) -> Option<f64> {
    let n2 = n + 12;
    let (ym, ye) = decompose(y.abs());
    let y_bits = ye + 53; // |y| < 2^y_bits
    let nl = n2 + y_bits.max(0) as u32 + 16;
    let (ln_negative, ln_x, ln_err) = ln_fixed(x, nl);
    // |t| = |y ln x| at n2 bits: the product is exact; the shift (at least 16 bits) truncates,
    // and ln x's error, times |y| < 2^y_bits, is divided by at least 2^16.
    let t_negative = ln_negative != (y < 0.0);
    let t = ln_x
        .mul(&Big::from_u64(ym))
        .shr((nl as i64 - n2 as i64 - ye) as u64);
    let t_err = (ln_err >> 16) + 2;
    let limit = |v: u64| Big::from_u64(v).shl(n2.into());
    if !t_negative && t > limit(710) {
        return Some(f64::INFINITY); // e^710 > 2^1024
    }
    if t_negative && t > limit(746) {
        return Some(0.0); // e^-746 < 2^-1075, half the smallest subnormal
    }
    // k = round(|t| / ln 2); r = t - k ln 2 carries t's sign unless k overshoots |t|.
    let ln2 = fixed::ln2(n2);
    let k = t.shl(1).add(&ln2).div(&ln2.shl(1));
    let (r_negative, r) = fixed::signed_add((t_negative, t), (!t_negative, k.mul(&ln2)));
    let k = if t_negative {
        -(k.low_u64() as i64)
    } else {
        k.low_u64() as i64
    };
    let one = Big::from_u64(1).shl(n2.into());
    let (sum, series_err) = taylor(one, &r, n2, r_negative, |i| i);
    // r's error (t's plus 2 per multiple of ln 2) is multiplied by e^r < 1.42.
    let err = series_err + 2 * (t_err + 2 * k.unsigned_abs());
    decide(&sum, err, n2 as i64 - k)
}

/// `ln x · 2^n` for finite `x > 0` and its error bound in units, from
/// `ln x = e ln 2 + 2 atanh(s)` with `s = (m - 1) / (m + 1)`, `|s| < 0.1716`:
///
/// `s` is truncated once (1 unit), each power `s^(2i+1)` errs by at most `0.03 e + 0.18 + 1`
/// when the previous erred by `e` (so at most 1.3), each term by one more after its division,
/// and once a power is 0 the exact rest is below 1.4 units: `3M + 2` for `M` terms, doubled,
/// plus 2 units per multiple of ln 2.
fn ln_fixed(x: f64, n: u32) -> (bool, Big, u64) {
    let (m, e) = reduce(x);
    // m has at most 53 significant bits and m >= 1/2, so m · 2^53 is an integer.
    let mm = (m * 9_007_199_254_740_992.0) as u64;
    let one = 1u64 << 53;
    let (negative, num) = if mm >= one {
        (false, mm - one)
    } else {
        (true, one - mm)
    };
    let s = Big::from_u64(num)
        .shl(n.into())
        .div(&Big::from_u64(mm + one));
    let z = s.mul(&s).shr(n.into());
    let mut power = s;
    let mut sum = Big::from_u64(0);
    let mut terms = 0u32;
    while !power.is_zero() {
        sum = sum.add(&power.div_small(2 * terms + 1));
        power = power.mul(&z).shr(n.into());
        terms += 1;
    }
    let e_ln2 = fixed::ln2(n).mul(&Big::from_u64(e.unsigned_abs()));
    let (ln_negative, ln_x) = fixed::signed_add((negative, sum.shl(1)), (e < 0, e_ln2));
    let err = 2 * (3 * u64::from(terms) + 2) + 2 * e.unsigned_abs();
    (ln_negative, ln_x, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln2_pieces_sum_to_ln2() {
        // Σ L_i · 2^199 against ln 2 · 2^199: within 2^-151.
        let exact = fixed::ln2(199);
        let mut sum = Big::from_u64(0);
        for c in LN2 {
            let (m, e) = decompose(c);
            sum = sum.add(&Big::from_u64(m).shl((e + 199) as u64));
        }
        let diff = if sum >= exact {
            sum.sub(&exact)
        } else {
            exact.sub(&sum)
        };
        assert!(diff.bits() <= 48, "{diff:?}");
    }

    #[test]
    fn special_values_follow_c99() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        assert_eq!(pow(nan, 0.0), 1.0);
        assert_eq!(pow(1.0, nan), 1.0);
        assert!(pow(nan, 1.0).is_nan() && pow(2.0, nan).is_nan());
        assert!(pow(-2.0, 0.5).is_nan());
        assert_eq!(pow(-1.0, inf), 1.0);
        assert_eq!(pow(0.5, inf), 0.0);
        assert_eq!(pow(0.5, -inf), inf);
        assert_eq!(pow(-0.0, 3.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(pow(-0.0, -3.0), -inf);
        assert_eq!(pow(-0.0, -2.0), inf);
        assert_eq!(pow(-inf, 3.0), -inf);
        assert_eq!(pow(-inf, -3.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(pow(-2.0, 3.0), -8.0);
        assert_eq!(pow(-2.0, 1e300), inf);
        assert_eq!(pow(2.0, -1e300), 0.0);
        assert_eq!(pow(3.0, 1e-300), 1.0);
        assert_eq!(pow(2.0, 1024.0), inf);
        assert_eq!(pow(2.0, -1074.0), 5e-324);
        assert_eq!(pow(2.0, -1075.0), 0.0);
    }

    #[test]
    fn midpoints_round_to_even() {
        // 3^34 is odd with 54 bits: a midpoint between two doubles.
        let exact = 16677181699666569u64;
        let want = exact as f64; // the cast rounds to nearest, ties to even
        assert_eq!(pow(3.0, 34.0), want);
        let two_to_minus_68 = f64::from_bits((1023 - 68) << 52);
        assert_eq!(pow(0.75, 34.0), want * two_to_minus_68);
        assert_eq!(pow(2.25, 0.5), 1.5);
        assert_eq!(pow(5.0625, 0.25), 1.5);
        assert_eq!(pow(0.25, -1.5), 8.0);
    }

    #[test]
    fn fast_and_exact_agree_on_a_grid() {
        for i in 1..3000 {
            let x = i as f64 * 3.3e-4;
            for k in [1.0, 2.0, 9.0, 1.0 / 9.0, 0.37, -2.5, 123.0] {
                assert_eq!(pow(x, k).to_bits(), pow_exact(x, k).to_bits(), "{x} {k}");
            }
        }
    }
}
