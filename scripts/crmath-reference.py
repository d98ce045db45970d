#!/usr/bin/env python3
"""Correctly rounded cos and pow, from mpmath, for the schedule crate's crmath tests.

    crmath-reference.py SEED OUTDIR [COUNT]

Writes OUTDIR/cos.bin (records x, cos x, hard) and OUTDIR/pow.bin (records x, y, x^y, hard):
IEEE-754 bit patterns as little-endian u64 (hard is 1 for a constructed hard case), the result
the double nearest to the exact value (ties to even, subnormals, overflow to infinity). COUNT
(default 1,000,000) arguments per function, drawn from SEED: mostly random in the ranges the
schedules use, a fifth constructed hard cases (results within a tiny fraction of an ulp of a
rounding boundary, and exact midpoints).

Every value is computed by mpmath at 256 bits and rounded here on integers. When the 256-bit
value lies within 2^-190 ulp of a midpoint it is recomputed at 4096 bits, and a power still that
close is decided by exact rational arithmetic (it is then an exact midpoint, or the script
stops). It also prints how often glibc's cos and pow (Python's math module on Linux) differ.
"""
import math
import os
import random
import struct
import sys
from fractions import Fraction

import mpmath
from mpmath import mp

PREC = 256
HIGH_PREC = 4096


def rounded(v):
    """The double nearest to the mpf v, and whether v was too close to a midpoint to trust
    (within 2^-190 ulp, far beyond a 256-bit value's own error)."""
    sign, man, exp, _ = v._mpf_
    if man == 0:
        return (-0.0 if sign else 0.0), False
    length = man.bit_length()
    lead = length - 1 + exp
    keep = 53 if lead >= -1022 else 53 - (-1022 - lead)
    drop = length - keep
    close = False
    if drop <= 0:
        m, scale = man, exp
    else:
        m = man >> drop
        rest = man - (m << drop)
        half = 1 << (drop - 1)
        # |rest - half| / 2^drop is the distance to the midpoint in ulps.
        close = abs(rest - half) * (1 << 190) < (1 << drop)
        if rest > half or (rest == half and m & 1):
            m += 1
        scale = exp + drop
    try:
        r = math.ldexp(m, scale)
    except OverflowError:
        r = math.inf
    return (-r if sign else r), close


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def cr_cos(x):
    mp.prec = PREC
    r, close = rounded(mpmath.cos(mpmath.mpf(x)))
    if close:
        mp.prec = HIGH_PREC
        r, close = rounded(mpmath.cos(mpmath.mpf(x)))
        if close:  # cos x is transcendental for x != 0: this would need more precision
            sys.exit(f"cos({x!r}) is within 2^-190 ulp of a midpoint even at {HIGH_PREC} bits")
    return r


def exact_power(x, y):
    """x^y as a Fraction when it is rational and y's numerator is small, else None."""
    f = Fraction(y)
    if x < 0:
        if f.denominator != 1:
            return None
        r = exact_power(-x, y)
        return None if r is None else (-r if f.numerator % 2 else r)
    if abs(f.numerator) > 4096:
        return None
    base = Fraction(x) ** f.numerator
    # y's denominator is a power of two: take square roots, while they are exact.
    num, den, k = base.numerator, base.denominator, f.denominator
    while k > 1:
        rn, rd = math.isqrt(num), math.isqrt(den)
        if rn * rn != num or rd * rd != den:
            return None
        num, den, k = rn, rd, k // 2
    return Fraction(num, den)


def cr_pow(x, y):
    mp.prec = PREC
    r, close = rounded(mpmath.power(mpmath.mpf(x), mpmath.mpf(y)))
    if close:
        mp.prec = HIGH_PREC
        r, close = rounded(mpmath.power(mpmath.mpf(x), mpmath.mpf(y)))
    if close:
        exact = exact_power(x, y)
        if exact is None:
            sys.exit(f"pow({x!r}, {y!r}) is within 2^-190 ulp of a midpoint at {HIGH_PREC} bits")
        mp.prec = HIGH_PREC
        e = mpmath.mpf(exact.numerator) / exact.denominator
        r, still = rounded(e)
        if still and exact.denominator & (exact.denominator - 1):
            sys.exit(f"pow({x!r}, {y!r}) = {exact}: not dyadic, yet at a midpoint")
        if still:
            # An exact midpoint: round half to even, exactly.
            r = float(exact)  # Fraction.__float__ rounds correctly, ties to even
    return r


def schedule_cos_args(rng):
    """An argument of the cosine decay, computed as Curve::at does."""
    total = float(rng.choice([rng.randint(2, 400), rng.randint(2, 100_000)]))
    warm = min(max(rng.choice([0.05, rng.random() * 0.2]) * total, 1.0), 3.0)
    tail = min(max(rng.choice([0.05, rng.random() * 0.2]) * total, 1.0), 15.0)
    if total - warm - tail <= 0:
        return rng.random() * math.pi
    epoch = rng.randint(math.ceil(warm), max(math.ceil(warm), int(total - tail)))
    iters = rng.choice([1, rng.randint(1, 20_000)])
    t = epoch + rng.randint(0, iters - 1) / iters
    return math.pi * (t - warm) / (total - warm - tail)


def cos_args(rng, count):
    """(x, hard) pairs."""
    out = []
    for i in range(count):
        kind = i % 20
        if kind < 8:
            x = rng.uniform(0.0, math.pi)
        elif kind < 12:
            x = schedule_cos_args(rng)
        elif kind == 12:
            x = math.ldexp(1.0 + rng.random(), -rng.randint(1, 40))
        elif kind == 13:
            near = rng.choice([math.pi / 2, math.pi, 3 * math.pi / 2])
            x = near + rng.randint(-2000, 2000) * 2.0**-52
        elif kind == 14:
            # The whole range, log-uniform: exercises the big reductions.
            x = math.ldexp(1.0 + rng.random(), rng.randint(-27, 1023)) * rng.choice([1, -1])
        elif kind == 15:
            x = math.ldexp(1.0 + rng.random(), rng.randint(-10, 21)) * rng.choice([1, -1])
        else:
            x = hard_cos_arg(rng)
        out.append((x, kind >= 16))
    return out


def hard_cos_arg(rng):
    """The double nearest to acos(mu) for a midpoint mu near ±1: cos of it lies within a tiny
    fraction of an ulp of mu (the slope sin x is small there), so only the exact path decides."""
    mp.prec = 200
    k = rng.randint(1, 2**rng.randint(1, 30))
    if rng.random() < 0.5:
        mu = 1 - mpmath.mpf(2 * k - 1) * mpmath.mpf(2) ** -54  # below 1, spacing 2^-53
    else:
        mu = -1 + mpmath.mpf(2 * k - 1) * mpmath.mpf(2) ** -54
    return float(mpmath.acos(mu))


def schedule_rate(rng):
    lr = math.ldexp(1.0 + rng.random(), -rng.randint(0, 20))
    mn = lr * rng.choice([0.01, rng.uniform(1e-4, 1.0)])
    return mn / lr


def pow_args(rng, count):
    """(x, y, hard) triples."""
    out = []
    for i in range(count):
        kind = i % 20
        if kind < 5:  # the step decay's rate: (min/lr)^(1/(step_num-1))
            out.append((schedule_rate(rng), 1.0 / (rng.randint(2, 1001) - 1.0)))
        elif kind < 10:  # its powers: rate^floor(t/step_size)
            rate = rng.choice([rng.random(), schedule_rate(rng) ** (1.0 / rng.randint(1, 100))])
            out.append((rate, float(rng.randint(0, 1000))))
        elif kind < 13:
            out.append((rng.uniform(0.0, 4.0), rng.uniform(-60.0, 60.0)))
        elif kind < 16:  # the whole range, results from overflow down through subnormals
            x = math.ldexp(1.0 + rng.random(), rng.randint(-1074, 1023))
            if x == 1.0:
                x = 3.0
            lo, hi = (-1100.0, 1100.0) if kind < 15 else (-1080.0, -1015.0)
            y = rng.uniform(lo, hi) / math.log2(x)
            if rng.random() < 0.2:
                y = float(round(y))
                x = -x if rng.random() < 0.5 else x
            out.append((x, y))
        elif kind < 18:
            out.append(exact_case(rng))
        else:
            out.append(near_midpoint_case(rng))
        out[-1] = (*out[-1], kind >= 16)
    return out


def exact_case(rng):
    """Powers that are exact doubles or exact midpoints: c^p, their 2^j-th roots, 2^(e·y)."""
    kind = rng.randint(0, 3)
    if kind == 0:  # x = 2^e, y with e·y an integer or not
        e = rng.randint(-1074, 1023)
        y = rng.choice([rng.randint(-3, 3) / 2 ** rng.randint(0, 4), rng.uniform(-2, 2)])
        return (math.ldexp(1.0, e), y)
    c = rng.choice([3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 25, 27, 33, 99, 255, 1023, 3**10 + 2])
    # c^p around 2^53..2^54 makes midpoints, below exact doubles.
    p = max(1, int(rng.choice([53, 54, 40, 60]) / math.log2(c)) + rng.randint(-1, 1))
    j = rng.choice([0, 0, 1, 2, 3])
    x = float(c ** (2**j)) if c ** (2**j) < 2**53 else float(c)
    if c ** (2**j) >= 2**53:
        j = 0
    x = math.ldexp(x, rng.randint(-20, 20) * 2**j)
    y = p / 2**j
    if kind == 3:
        y = -y
    return (x, y)


def near_midpoint_case(rng):
    """x = m · 2^s whose n-th power (n = 2..6) lies one unit in its last place off a midpoint
    between doubles: rounding it takes all of its n·B bits. m has B = 53 // (n - 1) bits (53
    for n = 2), few enough that its low bits decide all the bits of m^n below the 53 kept."""
    while True:
        n = rng.choice([2, 3, 4, 5, 6])
        m = lift(n, rng)
        if m is not None:
            return (math.ldexp(m, rng.randint(-80, 20)), float(n))


def lift(n, rng):
    """A B-bit m whose n-th power has its bits below the 53 kept equal to 10…01 or 01…11
    (one unit above or below the midpoint), by Hensel lifting one bit at a time, or None."""
    width = 53 if n == 2 else 53 // (n - 1)
    v = (n & -n).bit_length() - 1  # 2-adic valuation of n
    target_bits = rng.choice([n * width - 1, n * width])
    low = target_bits - 54  # position of the rounding bit
    if low < v + 2:
        return None
    t = (1 << low) + rng.choice([1, -1])
    mod_bits = low + 1
    if v and t % (1 << (v + 2)) != 1:  # even powers of odd numbers are 1 mod 2^(v+2)
        return None
    m = 1
    for i in range(1, mod_bits):
        if pow(m, n, 1 << (i + 1)) != t % (1 << (i + 1)):
            m ^= 1 << (i - v)  # changes bit i of m^n and none below it
    fixed = mod_bits - v
    if fixed > width - 1:
        return None
    high = rng.getrandbits(width - 1 - fixed) << fixed
    m = (m & ((1 << fixed) - 1)) | high | (1 << (width - 1))
    if (m**n).bit_length() != target_bits or pow(m, n, 1 << mod_bits) != t % (1 << mod_bits):
        return None
    return m


def main():
    seed, outdir = int(sys.argv[1]), sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    rng = random.Random(seed)
    os.makedirs(outdir, exist_ok=True)

    xs = cos_args(rng, count)
    glibc_off = 0
    with open(os.path.join(outdir, "cos.bin.tmp"), "wb") as f:
        for x, hard in xs:
            r = cr_cos(x)
            glibc_off += math.cos(x) != r
            f.write(struct.pack("<QQQ", bits(x), bits(r), hard))
    print(f"cos: {count} arguments, glibc's math.cos differs from the correctly rounded value "
          f"in {glibc_off}")

    args = pow_args(rng, count)
    glibc_off = 0
    with open(os.path.join(outdir, "pow.bin.tmp"), "wb") as f:
        for x, y, hard in args:
            r = cr_pow(x, y)
            try:
                g = math.pow(x, y)
            except (OverflowError, ValueError):
                g = math.inf
            glibc_off += bits(g) != bits(r)
            f.write(struct.pack("<QQQQ", bits(x), bits(y), bits(r), hard))
    print(f"pow: {count} arguments, glibc's math.pow differs from the correctly rounded value "
          f"in {glibc_off}")
    # Renamed last, so a cache hit is always a complete file.
    for name in ("cos.bin", "pow.bin"):
        os.replace(os.path.join(outdir, name + ".tmp"), os.path.join(outdir, name))


if __name__ == "__main__":
    main()
