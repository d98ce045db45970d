#!/usr/bin/env python3
"""torchvision's side of scripts/bench-data.sh, and the photo folder both sides read.

    bench-data-torch.py make DIR N
        N JPEGs of about 500x375 (a fifth of them 375x500) in DIR/train/<8 classes>/, made
        from scikit-learn's two bundled photos: a random crop of 35-100% of the area, resized,
        mirrored half the time, saved as baseline JPEG at quality 75-95 (seeded, so every run
        reads the same folder). DIR/val is a link to DIR/train.
    bench-data-torch.py run DIR SPLIT SIZE BATCH WORKERS PASSES
        ImageFolder(DIR/SPLIT) + DataLoader(batch_size=BATCH, shuffle on train,
        num_workers=WORKERS) with torchvision's standard transforms, ToTensor and the ImageNet
        Normalize: train RandomResizedCrop(SIZE) + RandomHorizontalFlip(), val
        Resize(round(SIZE / 0.875)) + CenterCrop(SIZE). Each pass over the split is timed from
        the loader's start (worker start-up included, as in every epoch of a training run) to
        the last batch; prints "pass k: ..." lines and "images/s: BEST".
"""
import os
import random
import sys
import time

import sklearn.datasets
from PIL import Image

CLASSES = 8


def make(root, n):
    photos = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    sources = [Image.open(os.path.join(photos, f)).convert("RGB")
               for f in ("china.jpg", "flower.jpg")]
    rng = random.Random(15)
    for i in range(int(n)):
        src = sources[i % 2]
        w, h = src.size
        size = (375, 500) if rng.random() < 0.2 else (500, 375)
        aspect = size[0] / size[1]
        area = rng.uniform(0.35, 1.0) * w * h
        cw = min(w, round((area * aspect) ** 0.5))
        ch = min(h, round(cw / aspect))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        im = src.crop((x, y, x + cw, y + ch)).resize(size, Image.BILINEAR)
        if rng.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        d = os.path.join(root, "train", f"class{i % CLASSES}")
        os.makedirs(d, exist_ok=True)
        im.save(os.path.join(d, f"{i:05d}.jpg"), quality=rng.randint(75, 95))
    os.symlink("train", os.path.join(root, "val"))


def run(root, split, size, batch, workers, passes):
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets
    from torchvision import transforms as T

    size = int(size)
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    if split == "train":
        geometry = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        geometry = [T.Resize(round(size / 0.875)), T.CenterCrop(size)]
    data = datasets.ImageFolder(os.path.join(root, split), T.Compose(geometry + [T.ToTensor(), norm]))
    loader = DataLoader(data, batch_size=int(batch), shuffle=split == "train",
                        num_workers=int(workers))
    torch.manual_seed(0)
    best = 0.0
    for p in range(int(passes)):
        started, images = time.perf_counter(), 0
        for x, _ in loader:
            images += x.shape[0]
        seconds = time.perf_counter() - started
        best = max(best, images / seconds)
        print(f"pass {p + 1}: {images} images in {seconds:.3f}s: {images / seconds:.1f} images/s")
    print(f"images/s: {best:.1f} (best of {passes} passes)")


if __name__ == "__main__":
    {"make": make, "run": run}[sys.argv[1]](*sys.argv[2:])
