"""Writes a state dict with torchvision's ResNet-18 key names, shapes and dtypes (built by
hand: torchvision is not installed), saved with torch.save (zip pickle) to argv[1].
argv[2] is the class count of fc."""
import sys
from collections import OrderedDict

import torch

path, classes = sys.argv[1], int(sys.argv[2])
sd = OrderedDict()


def conv(name, cin, cout, k):
    sd[f"{name}.weight"] = torch.randn(cout, cin, k, k) * 0.05


def bn(name, c):
    sd[f"{name}.weight"] = torch.rand(c) + 0.5
    sd[f"{name}.bias"] = torch.randn(c) * 0.1
    sd[f"{name}.running_mean"] = torch.randn(c) * 0.1
    sd[f"{name}.running_var"] = torch.rand(c) + 0.5
    sd[f"{name}.num_batches_tracked"] = torch.tensor(1234, dtype=torch.int64)


conv("conv1", 3, 64, 7)
bn("bn1", 64)
cin = 64
for li, width in enumerate([64, 128, 256, 512]):
    for b in range(2):
        stride = 2 if (b == 0 and li > 0) else 1
        p = f"layer{li + 1}.{b}"
        conv(f"{p}.conv1", cin, width, 3)
        bn(f"{p}.bn1", width)
        conv(f"{p}.conv2", width, width, 3)
        bn(f"{p}.bn2", width)
        if stride != 1 or cin != width:
            conv(f"{p}.downsample.0", cin, width, 1)
            bn(f"{p}.downsample.1", width)
        cin = width
sd["fc.weight"] = torch.randn(classes, 512) * 0.01
sd["fc.bias"] = torch.zeros(classes)
torch.save(sd, path)
print(len(sd))
