//! Image files → pixels, upright. Every format the listing accepts (torchvision's
//! `IMG_EXTENSIONS`) decodes here or fails with a reason the caller prints next to the file:
//! the format is taken from the content, not the name, as PIL does.
//!
//! * Full-size decoding is the `image` crate's (zune-jpeg for JPEG, baseline and progressive,
//!   YCbCr, grayscale and Adobe CMYK/YCCK).
//! * JPEGs much larger than the transform needs are decoded smaller in the DCT itself, at
//!   1/2, 1/4 or 1/8 (what libjpeg's `scale_num`/`scale_denom` and PIL's
//!   `Image.draft` do) with `jpeg-decoder`: zune-jpeg has no scaled decoding. An 8× smaller
//!   decode skips most of the inverse DCT and the colour conversion of 63/64 of the pixels.
//! * The EXIF orientation is applied as PIL's `ImageOps.exif_transpose` does (torchvision's
//!   `ImageFolder` itself ignores it, so camera photos taken upright reach it on their side).
//! * Conversion to RGB follows PIL's `convert("RGB")`: gray is repeated, alpha is dropped (not
//!   composited), a palette is looked up. 16-bit samples are rounded to 8 bits; PIL instead
//!   truncates 16-bit RGB to its high byte and clips 16-bit gray at 255 (white).

use std::io::Cursor;
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// A JPEG is reduced in the DCT only while what is left stays at least this many times the
/// size the transform asks for, so that the resampling filter (Pillow's antialiasing
/// bilinear), not the DCT's truncation, does most of the reduction. With PIL's own `draft`
/// rule (1) the validation crops of detailed 640-pixel photos at 64 px differed from
/// torchvision's by up to 64/255; with 2 by at most 31 (tests/data.rs measures it).
const DCT_MARGIN: u32 = 2;

/// A decoded image, upright, possibly reduced in the DCT.
pub struct Decoded {
    pub image: RgbImage,
    /// The full image is `reduction` times larger on each side (1, 2, 4 or 8): a pixel of
    /// `image` covers `reduction × reduction` pixels of it.
    pub reduction: u32,
}

/// Whether a file is an image we can open, from its header alone. A JPEG's header is read
/// up to its first scan by `jpeg-decoder` (the `image` crate would read the whole file), so
/// checking a folder of a million photos reads a few kilobytes of each; only a header it
/// refuses goes on to the `image` crate, which decodes full-size images.
pub fn header(path: &Path) -> Result<(), String> {
    let reader = ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format() == Some(ImageFormat::Jpeg) {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut jpeg = jpeg_decoder::Decoder::new(std::io::BufReader::new(file));
        if jpeg.read_info().is_ok() {
            return Ok(());
        }
    }
    reader
        .into_dimensions()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The whole image at full size in its own colour type, upright.
pub fn decode_full(path: &Path) -> Result<DynamicImage, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    full(&bytes)
}

/// The image in RGB, upright, as small as the DCT allows while it stays at least
/// [`DCT_MARGIN`] times as large as `need(width, height)` asks (`need` is called once, with
/// the upright full size): a JPEG reduced as PIL's `draft` reduces it, the other formats at
/// full size.
pub fn decode_rgb(
    path: &Path,
    need: impl FnOnce(u32, u32) -> (u32, u32),
) -> Result<Decoded, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut need = Some(need);
    if image::guess_format(&bytes).ok() == Some(ImageFormat::Jpeg)
        && let Some(reduced) = reduced_jpeg(&bytes, &mut need)?
    {
        return Ok(reduced);
    }
    let image = full(&bytes)?.into_rgb8();
    if let Some(need) = need {
        need(image.width(), image.height());
    }
    Ok(Decoded {
        image,
        reduction: 1,
    })
}

/// Full-size decoding through the `image` crate, orientation applied.
fn full(bytes: &[u8]) -> Result<DynamicImage, String> {
    let decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_decoder()
        .map_err(|e| e.to_string())?;
    decode_upright(decoder).map_err(|e| e.to_string())
}

fn decode_upright(mut decoder: impl ImageDecoder) -> image::ImageResult<DynamicImage> {
    let orientation = decoder.orientation()?;
    let mut img = DynamicImage::from_decoder(decoder)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// A JPEG decoded at 1/2, 1/4 or 1/8 when that still covers what `need` asks, with the margin
/// (`need` is then taken); `None` when only full size does, or the file is a kind `jpeg-decoder` does not
/// scale (lossless, 12-bit) or whose header it does not read: full-size decoding decides.
fn reduced_jpeg<F: FnOnce(u32, u32) -> (u32, u32)>(
    bytes: &[u8],
    need: &mut Option<F>,
) -> Result<Option<Decoded>, String> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let Some(info) = decoder.read_info().ok().and_then(|()| decoder.info()) else {
        return Ok(None);
    };
    let scalable = matches!(
        info.coding_process,
        jpeg_decoder::CodingProcess::DctSequential | jpeg_decoder::CodingProcess::DctProgressive
    ) && info.pixel_format != jpeg_decoder::PixelFormat::L16;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let (w, h) = (info.width as u32, info.height as u32);
    let Some(need) = need.take().filter(|_| scalable) else {
        return Ok(None);
    };
    let (need_w, need_h) = if swaps_axes(orientation) {
        let (a, b) = need(h, w);
        (b, a)
    } else {
        need(w, h)
    };
    let k = reduction(w, h, DCT_MARGIN * need_w, DCT_MARGIN * need_h);
    if k == 1 {
        return Ok(None);
    }
    let (sw, sh) = decoder
        .scale(w.div_ceil(k) as u16, h.div_ceil(k) as u16)
        .map_err(|e| e.to_string())?;
    let pixels = decoder.decode().map_err(|e| e.to_string())?;
    let mut img = DynamicImage::ImageRgb8(to_rgb(info.pixel_format, sw as u32, sh as u32, pixels)?);
    img.apply_orientation(orientation);
    Ok(Some(Decoded {
        image: img.into_rgb8(),
        reduction: k,
    }))
}

/// Whether the orientation turns the image a quarter (width and height swap).
fn swaps_axes(o: Orientation) -> bool {
    use Orientation::*;
    matches!(o, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
}

/// The largest of 8, 4, 2 by which a `w × h` JPEG can be reduced and still be at least
/// `need_w × need_h` (scaled sizes round up, as libjpeg's), else 1.
pub fn reduction(w: u32, h: u32, need_w: u32, need_h: u32) -> u32 {
    [8, 4, 2]
        .into_iter()
        .find(|&k| w.div_ceil(k) >= need_w && h.div_ceil(k) >= need_h)
        .unwrap_or(1)
}

/// `jpeg-decoder`'s output as RGB. CMYK arrives un-inverted (the Adobe convention undone)
/// and is converted with PIL's `cmyk2rgb` formula.
fn to_rgb(
    format: jpeg_decoder::PixelFormat,
    w: u32,
    h: u32,
    px: Vec<u8>,
) -> Result<RgbImage, String> {
    use jpeg_decoder::PixelFormat::*;
    let rgb = match format {
        RGB24 => px,
        L8 => px.iter().flat_map(|&v| [v, v, v]).collect(),
        CMYK32 => px
            .chunks_exact(4)
            .flat_map(|p| {
                let nk = 255 - p[3] as u32;
                [0, 1, 2].map(|c| (nk - muldiv255(p[c] as u32, nk)) as u8)
            })
            .collect(),
        L16 => return Err("12-bit JPEG cannot be reduced".into()),
    };
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| "decoded JPEG has the wrong size".into())
}

/// `a * b / 255` rounded, as Pillow's `MULDIV255`.
fn muldiv255(a: u32, b: u32) -> u32 {
    let t = a * b + 128;
    ((t >> 8) + t) >> 8
}
