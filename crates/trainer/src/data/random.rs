//! The one source of randomness for data order and augmentation: pure functions of
//! `(seed, epoch, position)`, cheap and identical on every platform, so a resumed run sees
//! exactly the batches an uninterrupted run would and prefetching in parallel changes nothing.

/// SplitMix64 finaliser over a few words.
pub fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.rotate_left(21))
        .wrapping_add(c.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The order of epoch `epoch`: a Fisher–Yates shuffle seeded by `seed + epoch`.
pub fn epoch_order(n: usize, seed: u64, epoch: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let s = seed.wrapping_add(epoch as u64);
    for i in (1..n).rev() {
        let j = (mix(s, 0x5eed, i as u64) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// The random draws of one sample of one epoch: a pure function of `(seed, epoch, position)`,
/// so a sample is transformed alike whichever thread, batch or resumed run produces it.
///
/// [`first`](SampleRng::first) is the word the CIFAR-style augmentation has always used (flip
/// bit, crop offsets), kept so those runs keep their bits; further draws (the random-resized
/// crop's) come from [`next_u64`](SampleRng::next_u64).
#[derive(Debug, Clone)]
pub struct SampleRng {
    first: u64,
    drawn: u64,
}

impl SampleRng {
    pub fn new(seed: u64, epoch: u32, position: u64) -> SampleRng {
        SampleRng {
            first: mix(seed.wrapping_add(epoch as u64), 0xa06, position),
            drawn: 0,
        }
    }

    pub fn first(&self) -> u64 {
        self.first
    }

    pub fn next_u64(&mut self) -> u64 {
        self.drawn += 1;
        mix(self.first, 0x7a11, self.drawn)
    }

    /// Uniform in `[lo, hi)`, from 53 random bits.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }

    /// Uniform integer in `[0, n)` for `n >= 1` (multiply-shift: bias below `n / 2^64`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}
