"""Write a ResNet-50-like state dict (161 parameter tensors, ~102 MB of f32) with torch.save.

Usage: python make_resnet50_like.py OUT.pt

The shapes are those of torchvision's resnet50 parameters (generated here, so torchvision
is not needed); the values are random.
"""

import sys
from collections import OrderedDict

import torch

torch.manual_seed(0)
sd = OrderedDict()


def conv(name, cout, cin, k):
    sd[name + ".weight"] = torch.randn(cout, cin, k, k)


def bn(name, c):
    sd[name + ".weight"] = torch.randn(c)
    sd[name + ".bias"] = torch.randn(c)


conv("conv1", 64, 3, 7)
bn("bn1", 64)
cin = 64
for layer, (blocks, width) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=1):
    for b in range(blocks):
        p = f"layer{layer}.{b}"
        conv(p + ".conv1", width, cin, 1)
        bn(p + ".bn1", width)
        conv(p + ".conv2", width, width, 3)
        bn(p + ".bn2", width)
        conv(p + ".conv3", width * 4, width, 1)
        bn(p + ".bn3", width * 4)
        if b == 0:
            conv(p + ".downsample.0", width * 4, cin, 1)
            bn(p + ".downsample.1", width * 4)
        cin = width * 4
sd["fc.weight"] = torch.randn(1000, 2048)
sd["fc.bias"] = torch.randn(1000)

assert len(sd) == 161, len(sd)
torch.save(sd, sys.argv[1])
n = sum(t.numel() for t in sd.values())
print(f"wrote {sys.argv[1]}: {len(sd)} tensors, {n} parameters, {n * 4 / 1e6:.1f} MB", file=sys.stderr)
