//! The batch loader: a background thread that assembles the batches of one epoch (decoding
//! streamed images in parallel with rayon) and hands them over through a bounded channel, so
//! the device never waits for the CPU.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use lrplan_schedule::batches_per_epoch;
use rayon::prelude::*;

use super::random::{epoch_order, mix};
use super::{Dataset, decode};
use crate::error::{Error, Result};

/// A batch ready to become tensors: `[n, 3, size, size]` pixels, row-major.
pub struct Batch {
    /// Its index within the epoch (the iteration it trains).
    pub index: usize,
    pub size: usize,
    pub pixels: Vec<f32>,
    pub labels: Vec<i64>,
}

/// What a loader does to its images.
#[derive(Debug, Clone, Copy)]
pub struct LoaderSpec {
    pub batch_size: usize,
    pub drop_last: bool,
    /// Shuffle and augment (train) or keep order (val).
    pub train: bool,
    /// Random horizontal flip (train only).
    pub flip: bool,
    /// Random flip and crop at all (train only).
    pub augment: bool,
    pub seed: u64,
    pub epoch: u32,
    /// First batch to produce (resuming mid-epoch skips the ones already trained).
    pub first_batch: usize,
}

impl LoaderSpec {
    /// Validation: every image once, in order, as is, in batches of 256.
    pub fn eval() -> LoaderSpec {
        LoaderSpec {
            batch_size: 256,
            drop_last: false,
            train: false,
            flip: false,
            augment: false,
            seed: 0,
            epoch: 0,
            first_batch: 0,
        }
    }
}

/// Starts a background thread producing the batches of one epoch through a bounded channel
/// (two batches ahead). A streamed image that fails to decode arrives as an error naming the
/// file, and the epoch ends there.
pub fn spawn_loader(data: Arc<Dataset>, spec: LoaderSpec) -> Receiver<Result<Batch>> {
    let (tx, rx) = sync_channel(2);
    std::thread::spawn(move || {
        let n = data.len();
        let order = if spec.train {
            epoch_order(n, spec.seed, spec.epoch)
        } else {
            (0..n).collect()
        };
        let count = batches_per_epoch(n as u64, spec.batch_size as u32, spec.drop_last) as usize;
        for b in spec.first_batch..count {
            let idx = &order[b * spec.batch_size..((b + 1) * spec.batch_size).min(n)];
            let batch = make_batch(&data, idx, b, &spec);
            let failed = batch.is_err();
            if tx.send(batch).is_err() || failed {
                return;
            }
        }
    });
    rx
}

fn make_batch(data: &Dataset, idx: &[usize], b: usize, spec: &LoaderSpec) -> Result<Batch> {
    let len = data.image_len();
    let mut pixels = vec![0f32; idx.len() * len];
    // The closure that fills one image; run in parallel only when it decodes files: for
    // images already in memory the copy (and crop) is cheap, and waking rayon's workers
    // would only compete with libtorch's threads for the cores.
    let fill = |(out, (k, &i)): (&mut [f32], (usize, &usize))| -> Option<(PathBuf, String)> {
        let decoded;
        let src = if data.files.is_empty() {
            &data.pixels[i * len..(i + 1) * len]
        } else {
            match decode(&data.files[i], data.size) {
                Ok(px) => {
                    decoded = px;
                    &decoded[..]
                }
                Err(e) => return Some((data.files[i].clone(), e)),
            }
        };
        if spec.train && spec.augment {
            let pos = (b * spec.batch_size + k) as u64;
            let r = mix(spec.seed.wrapping_add(spec.epoch as u64), 0xa06, pos);
            augment(src, out, data.size, r, spec.flip);
        } else {
            out.copy_from_slice(src);
        }
        None
    };
    let errors: Vec<(PathBuf, String)> = if data.files.is_empty() {
        pixels
            .chunks_mut(len)
            .zip(idx.iter().enumerate())
            .filter_map(&fill)
            .collect()
    } else {
        pixels
            .par_chunks_mut(len)
            .zip(idx.par_iter().enumerate())
            .filter_map(&fill)
            .collect()
    };
    if let Some((path, reason)) = errors.into_iter().next() {
        return Err(Error::data(&path, format!("cannot decode image: {reason}")));
    }
    Ok(Batch {
        index: b,
        size: data.size,
        pixels,
        labels: idx.iter().map(|&i| data.labels[i]).collect(),
    })
}

/// Random horizontal flip and random crop after zero padding (2 pixels below 32, else 4).
fn augment(src: &[f32], out: &mut [f32], size: usize, r: u64, flip: bool) {
    let pad = if size < 32 { 2 } else { 4 } as i64;
    let flip = flip && r & 1 == 1;
    let dx = ((r >> 8) % (2 * pad as u64 + 1)) as i64 - pad;
    let dy = ((r >> 24) % (2 * pad as u64 + 1)) as i64 - pad;
    let s = size as i64;
    let plane = size * size;
    for c in 0..3 {
        for y in 0..s {
            let sy = y + dy;
            for x in 0..s {
                let xx = if flip { s - 1 - x } else { x };
                let sx = xx + dx;
                out[c * plane + (y * s + x) as usize] =
                    if (0..s).contains(&sy) && (0..s).contains(&sx) {
                        src[c * plane + (sy * s + sx) as usize]
                    } else {
                        0.0
                    };
            }
        }
    }
}
