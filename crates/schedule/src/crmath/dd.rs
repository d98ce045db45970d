//! Double-double arithmetic: a value held as the unevaluated sum `hi + lo` of two doubles,
//! about 106 bits of precision. The fast paths of [`cos`](super::cos) and [`pow`](super::pow)
//! evaluate in it and then ask [`Dd::round`] whether the error bound still allows only one
//! correctly rounded double.
//!
//! Products use Dekker's splitting, not a fused multiply-add: wasm32 has no deterministic FMA
//! and x86-64 without `target-feature=+fma` has none at all, and the same bits on both is the
//! point. Rust never contracts `a * b + c` into an FMA, so every line below rounds exactly as
//! written on every target.
//!
//! Error bounds (u = 2^-53, for results far from overflow and underflow, which the callers
//! ensure): [`two_sum`] and [`two_prod`] are exact; [`Dd::add`] errs by at most 3u² relative,
//! [`Dd::mul`] and [`Dd::mul_f64`] by at most 7u², [`Dd::recip_div`] by at most 16u² (Joldes,
//! Muller, Popescu, "Tight and rigorous error bounds for basic building blocks of double-word
//! arithmetic", 2017, with the FMA-free variants' constants rounded up).

/// `hi + lo` with `|lo| <= ulp(hi) / 2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dd {
    pub hi: f64,
    pub lo: f64,
}

/// `a + b = s + e` exactly (Knuth's TwoSum; no condition on the magnitudes).
#[inline]
pub(crate) const fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    Dd { hi: s, lo: e }
}

/// `a + b = s + e` exactly when `|a| >= |b|` (or `a` is 0).
#[inline]
const fn fast_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd {
        hi: s,
        lo: b - (s - a),
    }
}

/// Veltkamp's split of `a` into two halves of at most 26 significant bits each; exact for
/// `|a| < 2^995`.
#[inline]
const fn split(a: f64) -> (f64, f64) {
    const C: f64 = 134_217_729.0; // 2^27 + 1
    let c = C * a;
    let hi = c - (c - a);
    (hi, a - hi)
}

/// `a * b = p + e` exactly (Dekker's product), for `|a|, |b| < 2^995` and a product whose
/// error term is not subnormal (`|a * b| > 2^-969`).
#[inline]
pub(crate) const fn two_prod(a: f64, b: f64) -> Dd {
    split_prod(a, split(a), b)
}

/// [`two_prod`] with `a` already split (a Horner loop splits its variable once).
#[inline]
const fn split_prod(a: f64, (ah, al): (f64, f64), b: f64) -> Dd {
    let p = a * b;
    let (bh, bl) = split(b);
    let e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    Dd { hi: p, lo: e }
}

impl Dd {
    #[inline]
    pub const fn from_f64(x: f64) -> Dd {
        Dd { hi: x, lo: 0.0 }
    }

    /// `1 / d` to about 106 bits, at compile time: the series coefficients are built with it
    /// instead of being typed in as hexadecimal constants. `d` must be an integer below 2^53.
    #[inline]
    pub const fn recip(d: f64) -> Dd {
        let hi = 1.0 / d;
        // 1 - hi * d is exact in double-double; its leading part divided by d is the correction.
        let p = two_prod(hi, d);
        let lo = ((1.0 - p.hi) - p.lo) / d;
        Dd { hi, lo }
    }

    #[inline]
    pub const fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }

    #[inline]
    pub fn add(self, b: Dd) -> Dd {
        let s = two_sum(self.hi, b.hi);
        let t = two_sum(self.lo, b.lo);
        let s = fast_two_sum(s.hi, s.lo + t.hi);
        fast_two_sum(s.hi, s.lo + t.lo)
    }

    #[inline]
    pub fn add_f64(self, b: f64) -> Dd {
        let s = two_sum(self.hi, b);
        fast_two_sum(s.hi, s.lo + self.lo)
    }

    #[inline]
    pub fn mul(self, b: Dd) -> Dd {
        let p = two_prod(self.hi, b.hi);
        fast_two_sum(p.hi, p.lo + (self.hi * b.lo + self.lo * b.hi))
    }

    #[inline]
    pub fn mul_f64(self, b: f64) -> Dd {
        let p = two_prod(self.hi, b);
        fast_two_sum(p.hi, p.lo + self.lo * b)
    }

    /// `a / self` for a double `a`.
    #[inline]
    pub fn recip_div(self, a: f64) -> Dd {
        let q = a / self.hi;
        // The remainder a - q * self, with q * self.hi exact.
        let p = two_prod(q, self.hi);
        let r = ((a - p.hi) - p.lo) - q * self.lo;
        fast_two_sum(q, r / self.hi)
    }

    /// Scales by a power of two (exact while the result stays normal).
    #[inline]
    pub fn scale(self, s: f64) -> Dd {
        Dd {
            hi: self.hi * s,
            lo: self.lo * s,
        }
    }

    /// The double nearest to the true value `v` when the caller knows `|v - (hi + lo)| <= err`
    /// and that bound decides it: every value within `err` rounds to the same double. `None`
    /// means "too close to a rounding boundary", and the caller falls back to exact
    /// arithmetic (Ziv's strategy).
    ///
    /// The two endpoints are each computed with one more rounding of `lo ± err` (at most
    /// `2^-53 (|lo| + err)`, below `2^-104 |hi|`); callers pass an `err` with that much and far
    /// more to spare, so the computed endpoints enclose `v`, and rounding is monotone.
    #[inline]
    pub fn round(self, err: f64) -> Option<f64> {
        let down = self.hi + (self.lo - err);
        let up = self.hi + (self.lo + err);
        (down == up).then_some(down)
    }
}

/// `Σ c_i z^i` with the leading coefficients `head` in double-double and the small trailing
/// ones `tail` in plain double: the tail's terms are below 2^-45 of the sum, so its rounding
/// errors (a few 2^-53 of itself) stay below 2^-95 of the result.
///
/// For series whose terms shrink (`|c_(i+1) z| < |c_i| / 2`, true of every series here), so that
/// each step `c_i + z p` is dominated by `c_i` and cannot cancel: the sum is then an ordered
/// two-sum (erring by at most 4u² of the step's value) and `z.hi` is split once for all the
/// products (each erring by at most 4u²).
#[inline]
pub(crate) fn horner(z: Dd, head: &[Dd], tail: &[f64]) -> Dd {
    let mut t = 0.0;
    for &c in tail.iter().rev() {
        t = t * z.hi + c;
    }
    let zs = split(z.hi);
    let mut p = Dd::from_f64(t);
    for &c in head.iter().rev() {
        let q = split_prod(z.hi, zs, p.hi);
        let q_lo = q.lo + (z.hi * p.lo + z.lo * p.hi);
        let s = fast_two_sum(c.hi, q.hi);
        p = fast_two_sum(s.hi, s.lo + (c.lo + q_lo));
    }
    p
}

/// `n!` (exact up to 22!, correctly rounded products beyond: only tail coefficients use those).
pub(crate) const fn factorial(n: u32) -> f64 {
    let mut f = 1.0;
    let mut i = 2;
    while i <= n {
        f *= i as f64;
        i += 1;
    }
    f
}
