//! Image-folder datasets (`DIR/train/<class>/*`, `DIR/val/<class>/*`, classes sorted by name
//! as torchvision's `ImageFolder`), decoded once into memory when the decoded split fits in
//! [`MEMORY_LIMIT`] (the digits do), otherwise decoded again for every batch; and a batch
//! loader that decodes and augments on a background thread (rayon inside) so the device never
//! waits for the CPU.
//!
//! Images are resized to `--image-size` square, converted to RGB (grayscale expands to three
//! equal channels, so every model, torchvision's included, takes 3-channel input) and
//! normalised with the ImageNet mean and standard deviation.
//!
//! Everything random here (the shuffle and the augmentation) is a pure function of
//! `(seed, epoch, position)`, so a resumed run sees exactly the batches an uninterrupted run
//! would, and prefetching in parallel changes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use rayon::prelude::*;

use crate::error::{Error, Result};

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

/// Lists, decodes and normalises one split. `expected_classes` (the train split's) must match.
pub fn load_split(
    data_dir: &Path,
    split: &str,
    expected_classes: Option<&[String]>,
    size: usize,
    skip_bad: bool,
) -> Result<Dataset> {
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
        let mut in_class = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
            let path = entry.map_err(|e| Error::io(dir, "list", e))?.path();
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase());
            if path.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
                in_class.push(path);
            }
        }
        if in_class.is_empty() {
            return Err(Error::data(
                dir,
                "class folder has no images (.png, .jpg, .jpeg, .bmp)",
            ));
        }
        in_class.sort();
        files.extend(in_class.into_iter().map(|p| (p, label as i64)));
    }
    if files.len().saturating_mul(3 * size * size * 4) > memory_limit() {
        // Too large to keep decoded: only headers are read now, so an unreadable or non-image
        // file is reported (or skipped) before training; the loader decodes per batch.
        let ds = Dataset::empty(names, size, 0);
        return gather(
            &split_dir,
            ds,
            files,
            skip_bad,
            "read",
            header,
            |ds, path, ()| ds.files.push(path),
        );
    }
    let ds = Dataset::empty(names, size, files.len());
    gather(
        &split_dir,
        ds,
        files,
        skip_bad,
        "decode",
        |p| decode(p, size),
        |ds, _, px| ds.pixels.extend_from_slice(&px),
    )
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

/// SplitMix64 finaliser over a few words: the one source of randomness for data order and
/// augmentation, cheap and identical on every platform.
pub fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.rotate_left(21))
        .wrapping_add(c.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(x: u64) -> f32 {
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

/// Batches per epoch: floor with `drop_last`, ceil without.
pub fn batches_per_epoch(n: usize, batch_size: usize, drop_last: bool) -> usize {
    if drop_last {
        n / batch_size
    } else {
        n.div_ceil(batch_size)
    }
}

/// A batch ready to become tensors.
pub struct Batch {
    pub index: usize,
    /// A streamed image that failed to decode: the run stops naming the file.
    pub error: Option<(PathBuf, String)>,
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

/// Starts a background thread producing the batches of one epoch through a bounded channel
/// (two batches ahead); each batch is assembled in parallel with rayon.
pub fn spawn_loader(data: Arc<Dataset>, spec: LoaderSpec) -> Receiver<Batch> {
    let (tx, rx) = sync_channel(2);
    std::thread::spawn(move || {
        let n = data.len();
        let order = if spec.train {
            epoch_order(n, spec.seed, spec.epoch)
        } else {
            (0..n).collect()
        };
        let count = batches_per_epoch(n, spec.batch_size, spec.drop_last);
        for b in spec.first_batch..count {
            let idx = &order[b * spec.batch_size..((b + 1) * spec.batch_size).min(n)];
            let batch = make_batch(&data, idx, b, &spec);
            if tx.send(batch).is_err() {
                return;
            }
        }
    });
    rx
}

fn make_batch(data: &Dataset, idx: &[usize], b: usize, spec: &LoaderSpec) -> Batch {
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
    Batch {
        index: b,
        error: errors.into_iter().next(),
        pixels,
        labels: idx.iter().map(|&i| data.labels[i]).collect(),
    }
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
