//! Image-folder datasets (`DIR/train/<class>/*`, `DIR/val/<class>/*`, classes sorted by name
//! as torchvision's `ImageFolder`): first listed ([`Listing`], cheap, so a run's
//! configuration can check the plan against the data before any decoding), then decoded once
//! into memory when the decoded split fits in [`MEMORY_LIMIT`] (the digits do), otherwise
//! decoded again for every batch by the [`loader`], which also augments.
//!
//! Images are resized to `--image-size` square, converted to RGB (grayscale expands to three
//! equal channels, so every model, torchvision's included, takes 3-channel input) and
//! normalised with the ImageNet mean and standard deviation.
//!
//! Everything random here (the shuffle and the augmentation) is a pure function of
//! `(seed, epoch, position)`, so a resumed run sees exactly the batches an uninterrupted run
//! would, and prefetching in parallel changes nothing.

mod loader;
mod random;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use loader::{Batch, LoaderSpec, spawn_loader};
pub use random::{epoch_order, mix};

use crate::error::{Error, Result};
use random::unit;

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Largest decoded split kept in memory (bytes of f32 pixels); larger ones stream.
/// The environment variable `LRPLAN_MEMORY_LIMIT` (bytes) overrides it.
pub const MEMORY_LIMIT: usize = 4 << 30;

fn memory_limit() -> usize {
    std::env::var("LRPLAN_MEMORY_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MEMORY_LIMIT)
}
const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Decoded images of one split, `[n, 3, size, size]` row-major.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub classes: Vec<String>,
    pub size: usize,
    pub pixels: Vec<f32>,
    /// Image files when the split is too large to keep decoded (`pixels` is then empty).
    pub files: Vec<PathBuf>,
    pub labels: Vec<i64>,
    /// Files refused with `--skip-bad-images`, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn image_len(&self) -> usize {
        3 * self.size * self.size
    }

    /// No images yet, room for `images` of them.
    fn empty(classes: Vec<String>, size: usize, images: usize) -> Dataset {
        Dataset {
            classes,
            size,
            pixels: Vec::with_capacity(images * 3 * size * size),
            files: Vec::new(),
            labels: Vec::with_capacity(images),
            skipped: Vec::new(),
        }
    }

    /// Random images in memory (for benchmarks): deterministic in `seed`.
    pub fn synthetic(n: usize, classes: usize, size: usize, seed: u64) -> Dataset {
        let len = 3 * size * size;
        let mut pixels = vec![0f32; n * len];
        pixels.par_chunks_mut(len).enumerate().for_each(|(k, img)| {
            for (j, v) in img.iter_mut().enumerate() {
                *v = unit(mix(seed, 0xda7a, (k * len + j) as u64)) * 2.0 - 1.0;
            }
        });
        let names = (0..classes).map(|c| format!("class{c}")).collect();
        Dataset {
            pixels,
            labels: (0..n).map(|i| (i % classes) as i64).collect(),
            ..Dataset::empty(names, size, 0)
        }
    }
}

/// The sorted class folders of `split_dir`.
fn class_dirs(split_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !split_dir.is_dir() {
        return Err(Error::data(
            split_dir,
            "not a folder: the data folder must hold train/<class>/* and val/<class>/*",
        ));
    }
    let read = std::fs::read_dir(split_dir).map_err(|e| Error::io(split_dir, "list", e))?;
    let mut classes = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io(split_dir, "list", e))?;
        let path = entry.path();
        if path.is_dir() {
            classes.push((entry.file_name().to_string_lossy().into_owned(), path));
        }
    }
    classes.sort();
    if classes.is_empty() {
        return Err(Error::data(
            split_dir,
            "no class folders: expected one sub-folder per class with images in it",
        ));
    }
    Ok(classes)
}

/// One split of an image folder, listed but not decoded: its classes (sorted, as
/// `ImageFolder`) and every image file with its label, in class then name order.
#[derive(Debug, Clone)]
pub struct Listing {
    pub split_dir: PathBuf,
    pub classes: Vec<String>,
    pub files: Vec<(PathBuf, i64)>,
}

impl Listing {
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Lists one split. `expected_classes` (the train split's) must match.
pub fn list_split(
    data_dir: &Path,
    split: &str,
    expected_classes: Option<&[String]>,
) -> Result<Listing> {
    if !data_dir.is_dir() {
        return Err(Error::data(data_dir, "data folder does not exist"));
    }
    let split_dir = data_dir.join(split);
    let classes = class_dirs(&split_dir)?;
    let names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    if let Some(expected) = expected_classes {
        if expected != names.as_slice() {
            return Err(Error::data(
                &split_dir,
                format!("classes {names:?} differ from the train split's {expected:?}"),
            ));
        }
    }
    let mut files = Vec::new();
    for (label, (_, dir)) in classes.iter().enumerate() {
        let mut in_class = images_in(dir)?;
        if in_class.is_empty() {
            return Err(Error::data(
                dir,
                "class folder has no images (.png, .jpg, .jpeg, .bmp)",
            ));
        }
        in_class.sort();
        files.extend(in_class.into_iter().map(|p| (p, label as i64)));
    }
    Ok(Listing {
        split_dir,
        classes: names,
        files,
    })
}

/// The image files (by extension) directly inside `dir`.
fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
        let path = entry.map_err(|e| Error::io(dir, "list", e))?.path();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if path.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            out.push(path);
        }
    }
    Ok(out)
}

impl Dataset {
    /// Decodes and normalises a listed split, or only checks headers when it is too large to
    /// keep decoded (the loader then decodes per batch).
    pub fn load(listing: Listing, size: usize, skip_bad: bool) -> Result<Dataset> {
        let Listing {
            split_dir,
            classes,
            files,
        } = listing;
        if files.len().saturating_mul(3 * size * size * 4) > memory_limit() {
            // Too large to keep decoded: only headers are read now, so an unreadable or
            // non-image file is reported (or skipped) before training.
            let ds = Dataset::empty(classes, size, 0);
            let keep = |ds: &mut Dataset, path, ()| ds.files.push(path);
            return gather(&split_dir, ds, files, skip_bad, "read", header, keep);
        }
        let ds = Dataset::empty(classes, size, files.len());
        let keep = |ds: &mut Dataset, _, px: Vec<f32>| ds.pixels.extend_from_slice(&px);
        let probe = |p: &Path| decode(p, size);
        gather(&split_dir, ds, files, skip_bad, "decode", probe, keep)
    }
}

/// Runs `probe` on every file in parallel, then, in file order, `keep`s what it returns
/// and the label. A file it rejects stops the load, naming the file, or with
/// `--skip-bad-images` is recorded as skipped.
fn gather<T: Send>(
    split_dir: &Path,
    mut ds: Dataset,
    files: Vec<(PathBuf, i64)>,
    skip_bad: bool,
    verb: &str,
    probe: impl Fn(&Path) -> std::result::Result<T, String> + Sync,
    mut keep: impl FnMut(&mut Dataset, PathBuf, T),
) -> Result<Dataset> {
    let probed: Vec<(PathBuf, i64, std::result::Result<T, String>)> = files
        .into_par_iter()
        .map(|(path, label)| {
            let r = probe(&path);
            (path, label, r)
        })
        .collect();
    for (path, label, r) in probed {
        match r {
            Ok(x) => {
                keep(&mut ds, path, x);
                ds.labels.push(label);
            }
            Err(reason) if skip_bad => ds.skipped.push((path, reason)),
            Err(reason) => {
                return Err(Error::data(
                    &path,
                    format!("cannot {verb} image: {reason} (--skip-bad-images skips such files)"),
                ));
            }
        }
    }
    if ds.is_empty() {
        return Err(Error::data(split_dir, "no usable images"));
    }
    Ok(ds)
}

/// Whether a file is an image we can open, from its header alone.
fn header(path: &Path) -> std::result::Result<(), String> {
    image::ImageReader::open(path)
        .map_err(|e| e.to_string())
        .and_then(|r| r.with_guessed_format().map_err(|e| e.to_string()))
        .and_then(|r| r.into_dimensions().map_err(|e| e.to_string()))
        .map(|_| ())
}

/// One image → `[3, size, size]` normalised floats.
fn decode(path: &Path, size: usize) -> std::result::Result<Vec<f32>, String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    let s = size as u32;
    let rgb = img
        .resize_exact(s, s, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let plane = size * size;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (px.0[c] as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    Ok(out)
}
