//! Which part of every batch a process trains when several train one model (data
//! parallel): the batch is the single-process batch of the plan (the global batch of one
//! optimizer step), cut into `count` contiguous, near-equal parts, one per rank.

use std::ops::Range;

/// This process's part of each batch: part `rank` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub count: usize,
}

impl Shard {
    /// The whole batch: a single process.
    pub const WHOLE: Shard = Shard { rank: 0, count: 1 };

    /// The positions of a batch of `len` samples this part takes: `len / count` each when it
    /// divides (the plan's batch sizes must), else sizes differing by one at most (an
    /// epoch's last, smaller batch), possibly none. Together the parts cover the batch once,
    /// in order.
    pub fn range(self, len: usize) -> Range<usize> {
        len * self.rank / self.count..len * (self.rank + 1) / self.count
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn parts_cover_a_batch_once_in_order() {
        for count in 1..=5 {
            for len in 0..=13 {
                let parts: Vec<_> = (0..count)
                    .map(|rank| Shard { rank, count }.range(len))
                    .collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[count - 1].end, len);
                for w in parts.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let sizes: Vec<usize> = parts.iter().map(|r| r.len()).collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            }
        }
        assert_eq!(Shard { rank: 1, count: 2 }.range(8), 4..8);
        assert_eq!(Shard::WHOLE.range(7), 0..7);
    }
}
