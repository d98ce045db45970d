//! How a file becomes a model input: the run's choice ([`Transforms`], from `--augment`,
//! `--no-flip`, `--mean`, `--std`), each split's [`Transform`] (a [`Geometry`] that yields a
//! `size × size` RGB image, then random crop and flip, then normalisation into the batch).
//!
//! * `imagenet`: torchvision's standard pair. Training takes
//!   `RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3))` and
//!   `RandomHorizontalFlip()`; validation `Resize(round(size / 0.875))` (the shorter side, aspect
//!   kept) and `CenterCrop(size)`. Crop boxes, output sizes and offsets are computed as
//!   torchvision computes them (Python's round-half-to-even included); resampling is Pillow's
//!   bilinear filter with its antialiasing support, by `fast_image_resize`.
//! * `cifar` (the default): the whole image squashed to `size × size`, and in training a random
//!   crop after zero padding (2 pixels below 32, else 4) and a flip: what the trainer has always
//!   done, bit for bit, so runs started before keep their data when resumed.
//! * `none`: the whole image squashed, nothing random.
//!
//! Every random draw comes from the sample's [`SampleRng`], so a sample is transformed alike
//! whichever thread produces it, and a resumed run sees exactly the images an uninterrupted one
//! would.

use std::path::Path;

use fast_image_resize::images::{CroppedImage, Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use image::imageops::FilterType as ImageFilter;

use super::decode::{decode_full, decode_rgb};
use super::random::SampleRng;

/// The transform family of a run (`--augment`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum Style {
    /// torchvision's RandomResizedCrop + flip; Resize + CenterCrop for validation.
    Imagenet,
    /// Squash to a square; padded random crop + flip in training.
    Cifar,
    /// Squash to a square, nothing random.
    None,
}

/// Per-channel normalisation after scaling to [0, 1], as torchvision's `Normalize`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalize {
    /// The ImageNet statistics torchvision's pretrained weights expect.
    pub const IMAGENET: Normalize = Normalize {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Every byte's normalised value per channel: `(v / 255 - mean) / std` in f32, the
    /// operations of `ToTensor` then `Normalize`, so the values are torchvision's bit for bit.
    pub fn table(&self) -> [[f32; 256]; 3] {
        std::array::from_fn(|c| {
            std::array::from_fn(|v| (v as f32 / 255.0 - self.mean[c]) / self.std[c])
        })
    }
}

/// A run's transforms, from its flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transforms {
    pub style: Style,
    /// Random horizontal flip in training (`--no-flip` turns it off).
    pub flip: bool,
    pub normalize: Normalize,
}

/// torchvision's validation resize for a `size` crop: `round(size / 0.875)` (256 for 224).
pub fn eval_resize(size: u32) -> u32 {
    (size as f64 / 0.875).round_ties_even() as u32
}

impl Transforms {
    /// The training split's transform.
    pub fn train(&self, size: usize) -> Transform {
        let pad = if size < 32 { 2 } else { 4 };
        let (geometry, pad) = match self.style {
            Style::Imagenet => (
                Geometry::RandomResizedCrop {
                    scale: (0.08, 1.0),
                    ratio: (3.0 / 4.0, 4.0 / 3.0),
                },
                0,
            ),
            Style::Cifar => (Geometry::Squash, pad),
            Style::None => (Geometry::Squash, 0),
        };
        Transform {
            size,
            geometry,
            pad,
            flip: self.flip && self.style != Style::None,
            normalize: self.normalize,
        }
    }

    /// The validation split's transform: deterministic.
    pub fn eval(&self, size: usize) -> Transform {
        let geometry = match self.style {
            Style::Imagenet => Geometry::ResizeCenterCrop {
                resize: eval_resize(size as u32),
            },
            Style::Cifar | Style::None => Geometry::Squash,
        };
        Transform {
            size,
            geometry,
            pad: 0,
            flip: false,
            normalize: self.normalize,
        }
    }
}

/// How a decoded image becomes `size × size`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Geometry {
    /// The whole image resized to the square, aspect ignored (the `image` crate's triangle
    /// filter, as the trainer always did).
    Squash,
    /// torchvision's `Resize(resize)` (shorter side) then `CenterCrop(size)`.
    ResizeCenterCrop { resize: u32 },
    /// torchvision's `RandomResizedCrop(size, scale, ratio)`.
    RandomResizedCrop {
        scale: (f64, f64),
        ratio: (f64, f64),
    },
}

/// One split's way from file to normalised pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub size: usize,
    pub geometry: Geometry,
    /// Random crop after zero padding by this many pixels (0: none).
    pub pad: usize,
    /// Random horizontal flip.
    pub flip: bool,
    pub normalize: Normalize,
}

impl Transform {
    /// Whether the geometry itself is random, so images cannot be kept decoded.
    pub fn random_geometry(&self) -> bool {
        matches!(self.geometry, Geometry::RandomResizedCrop { .. })
    }

    /// `path` → `size × size` RGB bytes (row-major, interleaved) by the geometry.
    pub fn load(&self, path: &Path, rng: &mut SampleRng) -> Result<Vec<u8>, String> {
        let size = self.size as u32;
        match self.geometry {
            Geometry::Squash => Ok(decode_full(path)?
                .resize_exact(size, size, ImageFilter::Triangle)
                .into_rgb8()
                .into_raw()),
            Geometry::ResizeCenterCrop { resize } => resize_center_crop(path, resize, size),
            Geometry::RandomResizedCrop { scale, ratio } => {
                random_resized_crop(path, size, scale, ratio, rng)
            }
        }
    }

    /// Writes `src` (`size × size` RGB bytes) into `out` (`[3, size, size]`, the batch's
    /// layout) normalised, flipped and crop-shifted as `rng` draws (its first word: bit 0 the
    /// flip, bits 8 and 24 on the crop offsets); padding is 0 after normalisation.
    pub fn finish(&self, src: &[u8], out: &mut [f32], rng: &SampleRng, table: &[[f32; 256]; 3]) {
        let r = rng.first();
        let flip = self.flip && r & 1 == 1;
        let (dx, dy) = match self.pad as i64 {
            0 => (0, 0),
            pad => (
                ((r >> 8) % (2 * pad as u64 + 1)) as i64 - pad,
                ((r >> 24) % (2 * pad as u64 + 1)) as i64 - pad,
            ),
        };
        let s = self.size;
        let (red, rest) = out.split_at_mut(s * s);
        let (green, blue) = rest.split_at_mut(s * s);
        for y in 0..s {
            let row = y * s..(y + 1) * s;
            let (r, g, b) = (
                &mut red[row.clone()],
                &mut green[row.clone()],
                &mut blue[row],
            );
            let Some(sy) = shifted(y, dy, s) else {
                for plane in [r, g, b] {
                    plane.fill(0.0);
                }
                continue;
            };
            let line = &src[3 * sy * s..3 * (sy + 1) * s];
            for x in 0..s {
                let from = if flip { s - 1 - x } else { x };
                match shifted(from, dx, s) {
                    Some(sx) => {
                        let px = &line[3 * sx..3 * sx + 3];
                        r[x] = table[0][px[0] as usize];
                        g[x] = table[1][px[1] as usize];
                        b[x] = table[2][px[2] as usize];
                    }
                    None => (r[x], g[x], b[x]) = (0.0, 0.0, 0.0),
                }
            }
        }
    }
}

/// `i + d` when it lies in `0..s`.
fn shifted(i: usize, d: i64, s: usize) -> Option<usize> {
    let j = i as i64 + d;
    (0..s as i64).contains(&j).then_some(j as usize)
}

/// torchvision's `Resize(resize)` output size for a `w × h` image: the shorter side becomes
/// `resize`, the longer `int(resize * long / short)`.
pub fn resized_shorter(w: u32, h: u32, resize: u32) -> (u32, u32) {
    let (short, long) = (w.min(h), w.max(h));
    let new_long = (resize as u64 * long as u64) as f64 / short as f64;
    if w <= h {
        (resize, new_long as u32)
    } else {
        (new_long as u32, resize)
    }
}

/// torchvision's `CenterCrop` offset: `int(round((have - want) / 2))`, ties to even.
pub fn center_offset(have: u32, want: u32) -> u32 {
    ((have - want) as f64 / 2.0).round_ties_even() as u32
}

fn resize_center_crop(path: &Path, resize: u32, size: u32) -> Result<Vec<u8>, String> {
    let mut target = (0, 0);
    let decoded = decode_rgb(path, |w, h| {
        target = resized_shorter(w, h, resize);
        target
    })?;
    let (tw, th) = target;
    let resized = resize_region(&decoded.image, None, tw, th)?;
    let (left, top) = (center_offset(tw, size), center_offset(th, size));
    let row = 3 * tw as usize;
    let mut out = Vec::with_capacity(3 * (size * size) as usize);
    for y in top..top + size {
        let start = y as usize * row + 3 * left as usize;
        out.extend_from_slice(&resized[start..start + 3 * size as usize]);
    }
    Ok(out)
}

/// A crop box in pixels of the full, upright image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

/// torchvision's `RandomResizedCrop.get_params`: up to ten tries of an area fraction uniform
/// in `scale` and an aspect ratio log-uniform in `ratio`, rounded (half to even) to whole
/// pixels, kept when it fits, at a uniform position; else the [`central_crop`].
pub fn crop_box(
    w: u32,
    h: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut SampleRng,
) -> CropBox {
    let area = w as f64 * h as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * rng.uniform(scale.0, scale.1);
        let aspect = rng.uniform(log_lo, log_hi).exp();
        let cw = (target * aspect).sqrt().round_ties_even() as u32;
        let ch = (target / aspect).sqrt().round_ties_even() as u32;
        if 0 < cw && cw <= w && 0 < ch && ch <= h {
            let top = rng.below((h - ch + 1) as u64) as u32;
            let left = rng.below((w - cw + 1) as u64) as u32;
            return CropBox {
                left,
                top,
                width: cw,
                height: ch,
            };
        }
    }
    central_crop(w, h, ratio)
}

/// `RandomResizedCrop`'s fallback: the whole image, centred, its aspect ratio clamped to
/// `ratio`.
pub fn central_crop(w: u32, h: u32, ratio: (f64, f64)) -> CropBox {
    let in_ratio = w as f64 / h as f64;
    let (lo, hi) = (ratio.0.min(ratio.1), ratio.0.max(ratio.1));
    let (cw, ch) = if in_ratio < lo {
        (w, (w as f64 / lo).round_ties_even() as u32)
    } else if in_ratio > hi {
        ((h as f64 * hi).round_ties_even() as u32, h)
    } else {
        (w, h)
    };
    CropBox {
        left: (w - cw) / 2,
        top: (h - ch) / 2,
        width: cw,
        height: ch,
    }
}

fn random_resized_crop(
    path: &Path,
    size: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut SampleRng,
) -> Result<Vec<u8>, String> {
    let mut chosen = None;
    let decoded = decode_rgb(path, |w, h| {
        let b = crop_box(w, h, scale, ratio, rng);
        chosen = Some(b);
        // The crop must keep at least `size` pixels each way after the DCT reduction.
        (
            (w as u64 * size as u64).div_ceil(b.width as u64) as u32,
            (h as u64 * size as u64).div_ceil(b.height as u64) as u32,
        )
    })?;
    let b = chosen.ok_or("no crop box was drawn")?;
    resize_region(&decoded.image, Some((b, decoded.reduction)), size, size)
}

/// `src`, or the crop `region` of it (a box of the full image and the reduction `src` was
/// decoded at), resized to `w × h` with Pillow's bilinear filter. A box of a full-size image is
/// cut out first, as torchvision crops before it resizes, so pixels outside it never blend
/// in; in a reduced image the box falls between pixels and is resampled where it lies.
fn resize_region(
    src: &RgbImage,
    region: Option<(CropBox, u32)>,
    w: u32,
    h: u32,
) -> Result<Vec<u8>, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let view = ImageRef::new(src.width(), src.height(), src.as_raw(), PixelType::U8x3)
        .map_err(|e| err(&e))?;
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    let mut resizer = Resizer::new();
    match region {
        Some((b, 1)) => {
            let crop =
                CroppedImage::new(&view, b.left, b.top, b.width, b.height).map_err(|e| err(&e))?;
            resizer
                .resize(&crop, &mut dst, &options)
                .map_err(|e| err(&e))?;
        }
        Some((b, k)) => {
            let k = k as f64;
            let (right, bottom) = (src.width() as f64, src.height() as f64);
            let left = b.left as f64 / k;
            let top = b.top as f64 / k;
            let width = (b.width as f64 / k).min(right - left);
            let height = (b.height as f64 / k).min(bottom - top);
            options = options.crop(left, top, width, height);
            resizer
                .resize(&view, &mut dst, &options)
                .map_err(|e| err(&e))?;
        }
        None => resizer
            .resize(&view, &mut dst, &options)
            .map_err(|e| err(&e))?,
    }
    Ok(dst.into_vec())
}
