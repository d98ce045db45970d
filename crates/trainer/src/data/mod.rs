//! Image-folder datasets (`DIR/train/<class>/…`, `DIR/val/<class>/…`, as torchvision's
//! `ImageFolder`): first listed ([`listing`], cheap, so a run's configuration can check the
//! plan against the data before any decoding), then either decoded once into memory (as bytes,
//! when the split fits in [`MEMORY_LIMIT`] and its transform is deterministic) or decoded again
//! for every batch by the [`loader`], in parallel, a few batches ahead: memory stays bounded
//! however large the folder.
//!
//! A file becomes a model input by its split's [`Transform`] ([`transforms`]): decoding
//! ([`decode`]: every format `ImageFolder` lists, upright, JPEGs reduced in the DCT when the
//! transform needs no more), a geometry to `size × size` RGB, then random crop and flip and
//! the normalisation into the batch's `[n, 3, size, size]` floats.
//!
//! Everything random here (the shuffle and the augmentation) is a pure function of
//! `(seed, epoch, position)` ([`random`]), so a resumed run sees exactly the batches an
//! uninterrupted run would, and decoding in parallel changes nothing.

pub mod bench;
pub mod decode;
mod host;
mod listing;
mod loader;
mod random;
mod shard;
pub mod transforms;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use host::HostBuf;
pub use listing::{EXTENSIONS, Listing, list_split};
pub use loader::{Batch, LoaderSpec, PARALLEL_FROM, spawn_loader, spawn_shard_loader};
pub use random::{SampleRng, epoch_order, mix};
pub use shard::Shard;
pub use transforms::{Normalize, Style, Transform, Transforms};

use crate::error::{Error, Result};

/// Largest decoded split kept in memory (bytes: 3 per pixel); larger ones stream.
/// The environment variable `LRPLAN_MEMORY_LIMIT` (bytes) overrides it.
pub const MEMORY_LIMIT: usize = 4 << 30;

fn memory_limit() -> usize {
    std::env::var("LRPLAN_MEMORY_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MEMORY_LIMIT)
}

/// Where a split's images are.
#[derive(Debug, Clone)]
pub enum Images {
    /// Decoded by the split's geometry: `size × size` RGB bytes per image, one after another.
    Memory(Vec<u8>),
    /// Files decoded for every batch (too large to keep, or a random geometry).
    Files(Vec<PathBuf>),
}

/// One split, ready for the loader.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub classes: Vec<String>,
    pub transform: Transform,
    pub images: Images,
    pub labels: Vec<i64>,
    /// Files refused with `--skip-bad-images`, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Classes of the synthetic data.
const SYNTHETIC_CLASSES: usize = 10;

/// The names of the synthetic data's classes.
pub fn synthetic_classes() -> Vec<String> {
    (0..SYNTHETIC_CLASSES)
        .map(|c| format!("class{c}"))
        .collect()
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Output side in pixels.
    pub fn size(&self) -> usize {
        self.transform.size
    }

    /// Bytes of one decoded image, and floats of one image in a batch.
    fn image_len(&self) -> usize {
        3 * self.size() * self.size()
    }

    /// Random images in memory (for benchmarks) of the [`synthetic_classes`]: deterministic
    /// in `seed`. The transform's geometry must be deterministic (there are no files).
    pub fn synthetic(n: usize, transform: Transform, seed: u64) -> Dataset {
        let len = 3 * transform.size * transform.size;
        let mut pixels = vec![0u8; n * len];
        pixels.par_chunks_mut(len).enumerate().for_each(|(k, img)| {
            for (j, v) in img.iter_mut().enumerate() {
                *v = (mix(seed, 0xda7a, (k * len + j) as u64) >> 56) as u8;
            }
        });
        Dataset {
            classes: synthetic_classes(),
            transform,
            images: Images::Memory(pixels),
            labels: (0..n).map(|i| (i % SYNTHETIC_CLASSES) as i64).collect(),
            skipped: Vec::new(),
        }
    }

    /// Decodes a listed split into memory by `transform`, or only checks headers when its
    /// geometry is random or it is too large to keep (the loader then decodes per batch).
    pub fn load(listing: Listing, transform: Transform, skip_bad: bool) -> Result<Dataset> {
        let Listing {
            split_dir,
            classes,
            files,
        } = listing;
        let len = 3 * transform.size * transform.size;
        let streamed =
            transform.random_geometry() || files.len().saturating_mul(len) > memory_limit();
        let (images, labels, skipped) = if streamed {
            // Only headers are read now, so an unreadable or non-image file is reported (or
            // skipped) before training.
            let usable = gather(&split_dir, files, skip_bad, "read", decode::header)?;
            let labels = usable.labels();
            let paths = usable.kept.into_iter().map(|(p, _, ())| p).collect();
            (Images::Files(paths), labels, usable.skipped)
        } else {
            // A deterministic geometry draws nothing: any generator will do.
            let probe = |p: &Path| transform.load(p, &mut SampleRng::new(0, 0, 0));
            let usable = gather(&split_dir, files, skip_bad, "decode", probe)?;
            let labels = usable.labels();
            let mut pixels = Vec::with_capacity(usable.kept.len() * len);
            for (_, _, px) in usable.kept {
                pixels.extend_from_slice(&px);
            }
            (Images::Memory(pixels), labels, usable.skipped)
        };
        Ok(Dataset {
            classes,
            transform,
            images,
            labels,
            skipped,
        })
    }
}

/// The files a load keeps, with their labels and what the probe returned, and those it
/// skipped, with the reason.
struct Gathered<T> {
    kept: Vec<(PathBuf, i64, T)>,
    skipped: Vec<(PathBuf, String)>,
}

impl<T> Gathered<T> {
    fn labels(&self) -> Vec<i64> {
        self.kept.iter().map(|(_, label, _)| *label).collect()
    }
}

/// Runs `probe` on every file in parallel. A file it rejects stops the load, naming the file,
/// or with `--skip-bad-images` is recorded as skipped; the others are kept in file order.
fn gather<T: Send>(
    split_dir: &Path,
    files: Vec<(PathBuf, i64)>,
    skip_bad: bool,
    verb: &str,
    probe: impl Fn(&Path) -> std::result::Result<T, String> + Sync,
) -> Result<Gathered<T>> {
    let probed: Vec<(PathBuf, i64, std::result::Result<T, String>)> = files
        .into_par_iter()
        .map(|(path, label)| {
            let r = probe(&path);
            (path, label, r)
        })
        .collect();
    let mut out = Gathered {
        kept: Vec::with_capacity(probed.len()),
        skipped: Vec::new(),
    };
    for (path, label, r) in probed {
        match r {
            Ok(x) => out.kept.push((path, label, x)),
            Err(reason) if skip_bad => out.skipped.push((path, reason)),
            Err(reason) => {
                return Err(Error::data(
                    &path,
                    format!("cannot {verb} image: {reason} (--skip-bad-images skips such files)"),
                ));
            }
        }
    }
    if out.kept.is_empty() {
        return Err(Error::data(split_dir, "no usable images"));
    }
    Ok(out)
}
