#!/usr/bin/env python3
"""Real photos and torchvision references for the trainer's data tests (tests/data.rs).

    photos.py all OUT
        OUT/imgs: test images made from scikit-learn's two bundled photos (china.jpg,
            flower.jpg, 640x427): JPEG re-encodings (baseline, progressive, 4:4:4, 4:2:2,
            grayscale, CMYK, every EXIF orientation, odd, small and large sizes), PNG variants
            (RGB, RGBA, gray, gray+alpha, palette, 16-bit gray and RGB, EXIF), and BMP, PPM,
            PGM, TIFF and lossless WebP;
        OUT/ref224, OUT/ref64: for every image, torchvision's validation transform
            (Resize(round(SIZE / 0.875)) + CenterCrop(SIZE) on the PIL image, upright by
            ImageOps.exif_transpose, RGB) as raw bytes <file>.rgb (SIZE x SIZE x 3);
        OUT/draft224, OUT/draft64: the same, but each JPEG decoded reduced in the DCT by PIL's
            Image.draft (libjpeg-turbo's scaling) by the factor the trainer picks (the largest
            of 8, 4, 2 that leaves at least twice the Resize output), then resized to the full
            image's Resize output: an independent decoder for the trainer's reduced decoding;
        OUT/pixels: every image decoded as above, without a transform: <file>.rgb, a line
            "W H" then the bytes.
    photos.py boxes N WxH...
        for each size, N crop boxes "W H top left height width" drawn by torchvision's
        RandomResizedCrop.get_params (default scale and ratio), torch seed 0.
    photos.py samples ROOT
        ImageFolder(ROOT).samples as "label<TAB>path" lines.

16-bit images are handed to torchvision as 8-bit rounded (v / 257): PIL itself reads 16-bit RGB
PNGs by their high byte and clips 16-bit gray at 255, and the trainer documents that it rounds.
"""
import os
import struct
import sys
import zlib

import numpy as np
import sklearn.datasets
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.datasets import ImageFolder

PHOTOS = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")


def photo(name):
    return Image.open(os.path.join(PHOTOS, name + ".jpg")).convert("RGB")


def exif(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def png16(path, arr):
    """A 16-bit PNG (gray HxW or RGB HxWx3) written with zlib alone: PIL cannot write 16-bit RGB."""
    h, w = arr.shape[:2]
    color = 0 if arr.ndim == 2 else 2
    rows = arr.astype(">u2").reshape(h, -1)
    raw = b"".join(b"\x00" + r.tobytes() for r in rows)

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                + chunk(b"IEND", b""))


def folder(out):
    os.makedirs(out, exist_ok=True)
    for name in ["china", "flower"]:
        im = photo(name)
        w, h = im.size
        p = lambda suffix: os.path.join(out, f"{name}-{suffix}")
        im.save(p("baseline.jpg"), quality=90)
        im.save(p("progressive.jpg"), quality=85, progressive=True)
        im.save(p("444.jpg"), quality=95, subsampling=0)
        im.save(p("422.jpg"), quality=90, subsampling=1)
        im.convert("L").save(p("gray.jpg"), quality=90)
        im.convert("CMYK").save(p("cmyk.jpg"), quality=90)
        for o in range(2, 9):
            im.save(p(f"exif{o}.jpg"), quality=90, exif=exif(o))
        im.crop((170, 0, 470, h)).save(p("portrait.jpg"), quality=90)
        im.resize((160, 107), Image.BICUBIC).save(p("small.jpg"), quality=90)
        im.resize((517, 383), Image.BICUBIC).save(p("odd.jpg"), quality=90)
        im.resize((1600, 1068), Image.BICUBIC).save(p("large.jpg"), quality=90)
        im.resize((1068, 1600), Image.BICUBIC).save(p("large-progressive-exif6.jpg"), quality=90,
                                                   progressive=True, exif=exif(6))
        im.save(p("rgb.png"))
        rgba = im.copy()
        rgba.putalpha(Image.linear_gradient("L").resize(im.size))
        rgba.save(p("rgba.png"))
        im.convert("L").save(p("gray.png"))
        im.convert("LA").save(p("la.png"))
        im.convert("P", palette=Image.ADAPTIVE, colors=200).save(p("palette.png"))
        im.save(p("exif8.png"), exif=exif(8))
        a = np.asarray(im).astype(np.uint16) * 257 + np.arange(w, dtype=np.uint16)[None, :, None] % 200
        png16(p("rgb16.png"), a)
        png16(p("gray16.png"), np.asarray(im.convert("L")).astype(np.uint16) * 257 + 100)
        im.save(p("rgb.bmp"))
        im.save(p("rgb.ppm"))
        im.convert("L").save(p("gray.pgm"))
        im.save(p("rgb.tif"))
        im.save(p("lzw.tiff"), compression="tiff_lzw")
        im.save(p("lossless.webp"), lossless=True)


def reference(src, size, out, draft=False):
    os.makedirs(out, exist_ok=True)
    size = int(size)
    resize = round(size / 0.875)
    tf = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(size)])
    for f in sorted(os.listdir(src)):
        path = os.path.join(src, f)
        if draft:
            im = drafted(path, resize, size)
        else:
            im = tf(decoded(path))
        with open(os.path.join(out, f + ".rgb"), "wb") as o:
            o.write(np.asarray(im).tobytes())


def pixels(src, out):
    os.makedirs(out, exist_ok=True)
    for f in sorted(os.listdir(src)):
        im = decoded(os.path.join(src, f))
        with open(os.path.join(out, f + ".rgb"), "wb") as o:
            o.write(f"{im.size[0]} {im.size[1]}\n".encode() + np.asarray(im).tobytes())


def drafted(path, resize, size):
    """torchvision's validation transform after PIL's DCT-reduced decoding (JPEGs only)."""
    im = Image.open(path)
    if im.format != "JPEG":
        return transforms.CenterCrop(size)(transforms.Resize(resize)(decoded(path)))
    turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    w, h = im.size
    uw, uh = (h, w) if turned else (w, h)
    th, tw = transforms.functional._compute_resized_output_size((uh, uw), [resize])
    need_w, need_h = (th, tw) if turned else (tw, th)
    k = next((k for k in (8, 4, 2) if -(-w // k) >= 2 * need_w and -(-h // k) >= 2 * need_h), 1)
    im.draft("RGB", (w // k, h // k))
    im = ImageOps.exif_transpose(im).convert("RGB").resize((tw, th), Image.BILINEAR)
    return transforms.CenterCrop(size)(im)


def decoded(path):
    """The image upright in RGB, as torchvision would get it from ImageFolder plus
    ImageOps.exif_transpose, 16-bit samples rounded to 8 bits."""
    im = Image.open(path)
    if path.endswith("16.png"):
        a = read_png16(path)
        a = np.clip(np.round(a / 257.0), 0, 255).astype(np.uint8)
        im = Image.fromarray(a)
    im = ImageOps.exif_transpose(im)
    return im.convert("RGB")


def read_png16(path):
    """Decodes the unfiltered 16-bit PNGs png16() writes."""
    data = open(path, "rb").read()
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, color = ihdr[:4]
    assert depth == 16, path
    channels = 1 if color == 0 else 3
    raw = zlib.decompress(idat)
    stride = 1 + 2 * channels * w
    rows = [np.frombuffer(raw[y * stride + 1:(y + 1) * stride], dtype=">u2") for y in range(h)]
    a = np.stack(rows).astype(np.float64)
    return a.reshape(h, w) if channels == 1 else a.reshape(h, w, 3)


def boxes(n, *sizes):
    import torch
    torch.manual_seed(0)
    for size in sizes:
        w, h = map(int, size.split("x"))
        img = Image.new("RGB", (w, h))
        for _ in range(int(n)):
            i, j, bh, bw = transforms.RandomResizedCrop.get_params(
                img, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0))
            print(w, h, i, j, bh, bw)


def everything(out):
    imgs = os.path.join(out, "imgs")
    folder(imgs)
    for size in ("224", "64"):
        reference(imgs, size, os.path.join(out, "ref" + size))
        reference(imgs, size, os.path.join(out, "draft" + size), draft=True)
    pixels(imgs, os.path.join(out, "pixels"))


def samples(root):
    for path, label in ImageFolder(root).samples:
        print(f"{label}\t{path}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    commands = {"all": everything, "boxes": boxes, "samples": samples}
    commands[cmd](*args)
