//! Natural numbers of any size, just what the exact fallback needs: add, subtract, multiply,
//! shift, compare and divide.
//!
//! Why not `num-bigint`: it did the job, but it added 22 KB gzipped to the planner page (its
//! Karatsuba/Toom-3 products and Knuth division), a sixth of the page's 150 KB budget, for a
//! path that runs once in a million calls on numbers of a few hundred bits. Schoolbook products
//! and bit-by-bit division are plenty for that and take a few hundred bytes.

use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// Little-endian 32-bit limbs without leading (most significant) zero limbs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Big(Vec<u32>);

impl Big {
    pub fn from_u64(v: u64) -> Big {
        Big(vec![v as u32, (v >> 32) as u32]).trim()
    }

    fn trim(mut self) -> Big {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        self
    }

    /// For tests: any value up to 2^128.
    #[cfg(test)]
    pub fn from_u128(v: u128) -> Big {
        Big::from_u64((v >> 64) as u64)
            .shl(64)
            .add(&Big::from_u64(v as u64))
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of significant bits (0 for 0).
    pub fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => 32 * self.0.len() as u64 - top.leading_zeros() as u64,
        }
    }

    /// The low 64 bits.
    pub fn low_u64(&self) -> u64 {
        let limb = |i: usize| self.0.get(i).copied().unwrap_or(0) as u64;
        limb(0) | limb(1) << 32
    }

    pub fn shl(&self, s: u64) -> Big {
        if self.is_zero() {
            return Big(Vec::new());
        }
        let (limbs, bits) = ((s / 32) as usize, (s % 32) as u32);
        let mut out = vec![0u32; limbs + self.0.len() + 1];
        for (i, &l) in self.0.iter().enumerate() {
            let wide = (l as u64) << bits;
            out[limbs + i] |= wide as u32;
            out[limbs + i + 1] |= (wide >> 32) as u32;
        }
        Big(out).trim()
    }

    /// `self / 2^s`, truncated.
    pub fn shr(&self, s: u64) -> Big {
        let (limbs, bits) = ((s / 32) as usize, (s % 32) as u32);
        if limbs >= self.0.len() {
            return Big(Vec::new());
        }
        let src = &self.0[limbs..];
        let out = (0..src.len())
            .map(|i| {
                let hi = src.get(i + 1).copied().unwrap_or(0) as u64;
                (((hi << 32 | src[i] as u64) >> bits) & 0xffff_ffff) as u32
            })
            .collect();
        Big(out).trim()
    }

    pub fn add(&self, o: &Big) -> Big {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let s = self.0.get(i).copied().unwrap_or(0) as u64
                + o.0.get(i).copied().unwrap_or(0) as u64
                + carry;
            out.push(s as u32);
            carry = s >> 32;
        }
        out.push(carry as u32);
        Big(out).trim()
    }

    /// `self - o` for `o <= self`.
    pub fn sub(&self, o: &Big) -> Big {
        debug_assert!(*o <= *self);
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, &l) in self.0.iter().enumerate() {
            let d = l as i64 - o.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            out.push(d.rem_euclid(1 << 32) as u32);
            borrow = i64::from(d < 0);
        }
        Big(out).trim()
    }

    pub fn mul(&self, o: &Big) -> Big {
        let mut out = vec![0u32; self.0.len() + o.0.len()];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &b) in o.0.iter().enumerate() {
                let t = a as u64 * b as u64 + out[i + j] as u64 + carry;
                out[i + j] = t as u32;
                carry = t >> 32;
            }
            out[i + o.0.len()] = carry as u32;
        }
        Big(out).trim()
    }

    /// `self / d`, truncated, for a small divisor.
    pub fn div_small(&self, d: u32) -> Big {
        let mut out = vec![0u32; self.0.len()];
        let mut rem = 0u64;
        for i in (0..self.0.len()).rev() {
            let cur = rem << 32 | self.0[i] as u64;
            out[i] = (cur / d as u64) as u32;
            rem = cur % d as u64;
        }
        Big(out).trim()
    }

    /// `self / d`, truncated, one quotient bit at a time.
    pub fn div(&self, d: &Big) -> Big {
        if *self < *d {
            return Big(Vec::new());
        }
        let shift = self.bits() - d.bits();
        let mut rem = self.clone();
        let mut q = vec![0u32; (shift / 32 + 1) as usize];
        for i in (0..=shift).rev() {
            let part = d.shl(i);
            if rem >= part {
                rem = rem.sub(&part);
                q[(i / 32) as usize] |= 1 << (i % 32);
            }
        }
        Big(q).trim()
    }
}

impl Ord for Big {
    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, o: &Big) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Big as B;

    fn big(v: u128) -> Big {
        B::from_u128(v)
    }

    #[test]
    fn arithmetic_agrees_with_u128() {
        let vals: [u128; 6] = [
            0,
            1,
            0xffff_ffff,
            1 << 32,
            0x1234_5678_9abc_def0_0fed,
            u64::MAX as u128,
        ];
        for &a in &vals {
            for &b in &vals {
                assert_eq!(big(a).add(&big(b)), big(a + b));
                if b <= a {
                    assert_eq!(big(a).sub(&big(b)), big(a - b));
                }
                if let Some(p) = a.checked_mul(b) {
                    assert_eq!(big(a).mul(&big(b)), big(p));
                }
                if b != 0 {
                    assert_eq!(big(a).div(&big(b)), big(a / b), "{a} / {b}");
                }
                assert_eq!(big(a).cmp(&big(b)), a.cmp(&b));
            }
            for s in [0, 1, 31, 32, 33, 63] {
                assert_eq!(big(a).shr(s), big(a >> s));
                if a.leading_zeros() as u64 >= s {
                    assert_eq!(big(a).shl(s), big(a << s));
                }
            }
            assert_eq!(big(a).div_small(7), big(a / 7));
            assert_eq!(big(a).bits(), 128 - a.leading_zeros() as u64);
        }
    }
}
