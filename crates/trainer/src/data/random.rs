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

pub(super) fn unit(x: u64) -> f32 {
    (x >> 40) as f32 / (1u64 << 24) as f32
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
