//! The batch loader: a background thread that assembles the batches of one epoch and hands
//! them over through a bounded channel (two batches ahead), so the model rarely waits and
//! memory stays bounded: at most four batches exist at once (two queued, one being built,
//! one being trained on). Within a batch the images are decoded and transformed in parallel
//! (rayon's pool, one thread per core). For a CUDA device the batch is written straight into
//! pinned host memory ([`HostBuf`]), so the step's upload never makes the host wait.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use lrplan_schedule::batches_per_epoch;
use rayon::prelude::*;

use super::host::HostBuf;
use super::random::{SampleRng, epoch_order};
use super::{Dataset, Images, Shard};
use crate::error::{Error, Result};

/// A batch ready to become tensors: `[n, 3, size, size]` pixels, row-major.
pub struct Batch {
    /// Its index within the epoch (the iteration it trains).
    pub index: usize,
    pub size: usize,
    pub pixels: HostBuf<f32>,
    pub labels: HostBuf<i64>,
    /// Images in the whole batch of which this is a process's [`Shard`] (`labels.len()` for a
    /// single process).
    pub global_len: usize,
}

/// Which batches a loader makes; what is done to each image is the dataset's
/// [`Transform`](super::Transform).
#[derive(Debug, Clone, Copy)]
pub struct LoaderSpec {
    pub batch_size: usize,
    pub drop_last: bool,
    /// Shuffle (train) or keep order (val).
    pub train: bool,
    pub seed: u64,
    pub epoch: u32,
    /// First batch to produce (resuming mid-epoch skips the ones already trained).
    pub first_batch: usize,
    /// Batches in pinned host memory, for a CUDA device ([`HostBuf`]).
    pub pinned: bool,
}

impl LoaderSpec {
    /// Validation: every image once, in order, in batches of 256.
    pub fn eval() -> LoaderSpec {
        LoaderSpec {
            batch_size: 256,
            drop_last: false,
            train: false,
            seed: 0,
            epoch: 0,
            first_batch: 0,
            pinned: false,
        }
    }
}

/// Starts a background thread producing the batches of one epoch through a bounded channel
/// (two batches ahead). A streamed image that fails to decode arrives as an error naming the
/// file, and the epoch ends there.
pub fn spawn_loader(data: Arc<Dataset>, spec: LoaderSpec) -> Receiver<Result<Batch>> {
    spawn_shard_loader(data, spec, Shard::WHOLE)
}

/// [`spawn_loader`] for one of several processes training together: of every batch, only
/// the images of `shard`, each exactly as the single process draws it (its random draws
/// come from its position in the whole batch). Every rank gets every batch, possibly empty.
pub fn spawn_shard_loader(
    data: Arc<Dataset>,
    spec: LoaderSpec,
    shard: Shard,
) -> Receiver<Result<Batch>> {
    let (tx, rx) = sync_channel(2);
    std::thread::spawn(move || {
        let n = data.len();
        let order = if spec.train {
            epoch_order(n, spec.seed, spec.epoch)
        } else {
            (0..n).collect()
        };
        let count = batches_per_epoch(n as u64, spec.batch_size as u32, spec.drop_last) as usize;
        let table = data.transform.normalize.table();
        for b in spec.first_batch..count {
            let whole = &order[b * spec.batch_size..((b + 1) * spec.batch_size).min(n)];
            let part = shard.range(whole.len());
            let at = Place {
                b,
                first: part.start,
                global_len: whole.len(),
            };
            let batch = make_batch(&data, &whole[part], at, &spec, &table);
            let failed = batch.is_err();
            if tx.send(batch).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// Output floats per batch from which images in memory are assembled on rayon's threads too.
/// Below it the work is a few hundred microseconds, less than waking the pool costs, and on a
/// CPU run the pool's threads would only compete with libtorch's for the cores.
pub const PARALLEL_FROM: usize = 1 << 22;

/// Where a batch's images sit: batch `b` of the epoch, from position `first` of a whole
/// batch of `global_len` (0 and `idx.len()` for a single process).
struct Place {
    b: usize,
    first: usize,
    global_len: usize,
}

fn make_batch(
    data: &Dataset,
    idx: &[usize],
    at: Place,
    spec: &LoaderSpec,
    table: &[[f32; 256]; 3],
) -> Result<Batch> {
    let len = data.image_len();
    let mut pixels = HostBuf::zeros(idx.len() * len, spec.pinned)?;
    let first = at.b * spec.batch_size + at.first;
    let fill = |(out, (k, &i)): (&mut [f32], (usize, &usize))| -> Option<(PathBuf, String)> {
        let mut rng = SampleRng::new(spec.seed, spec.epoch, (first + k) as u64);
        let loaded;
        let src = match &data.images {
            Images::Memory(px) => &px[i * len..(i + 1) * len],
            Images::Files(files) => match data.transform.load(&files[i], &mut rng) {
                Ok(px) => {
                    loaded = px;
                    &loaded[..]
                }
                Err(e) => return Some((files[i].clone(), e)),
            },
        };
        data.transform.finish(src, out, &rng, table);
        None
    };
    let serial = matches!(data.images, Images::Memory(_)) && pixels.len() < PARALLEL_FROM;
    let errors: Vec<(PathBuf, String)> = if serial {
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
    let mut labels = HostBuf::zeros(idx.len(), spec.pinned)?;
    for (l, &i) in labels.iter_mut().zip(idx) {
        *l = data.labels[i];
    }
    Ok(Batch {
        index: at.b,
        size: data.size(),
        pixels,
        labels,
        global_len: at.global_len,
    })
}
