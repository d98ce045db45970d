#!/usr/bin/env python3
"""Writes scikit-learn's bundled 8x8 digits (1,797 images, no download) as image folders.

    data/digits/{train,val}/<0..9>/<index>.png     all ten digits
    data/digits04/{train,val}/<0..4>/<index>.png   digits 0-4 only (the pre-training set)

The split is fixed: every fifth image (by index in load_digits) is validation. PNGs are
8-bit grayscale, pixel = value * 255 / 16, written with zlib alone (no Pillow needed).
Idempotent: a finished folder (marked by .complete) is left alone.
"""
import os
import struct
import sys
import zlib

from sklearn.datasets import load_digits


def png(path, pixels, w, h):
    raw = b"".join(b"\x00" + bytes(pixels[y * w:(y + 1) * w]) for y in range(h))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                + chunk(b"IEND", b""))


def write(root, keep):
    if os.path.exists(os.path.join(root, ".complete")):
        print(f"{root}: already prepared")
        return
    digits = load_digits()
    counts = {"train": 0, "val": 0}
    for i, (img, label) in enumerate(zip(digits.images, digits.target)):
        if label not in keep:
            continue
        split = "val" if i % 5 == 0 else "train"
        d = os.path.join(root, split, str(label))
        os.makedirs(d, exist_ok=True)
        pixels = [min(255, int(round(v * 255 / 16))) for v in img.reshape(-1)]
        png(os.path.join(d, f"{i:04d}.png"), pixels, 8, 8)
        counts[split] += 1
    open(os.path.join(root, ".complete"), "w").close()
    print(f"{root}: {counts['train']} train, {counts['val']} val images")


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "data")
    write(os.path.join(data, "digits"), set(range(10)))
    write(os.path.join(data, "digits04"), set(range(5)))


if __name__ == "__main__":
    main()
