"""Models for the data-parallel tests (crates/trainer/tests/ddp.rs): small CNNs as
TorchScript files, without batch norm, so that a run split across processes is held to the
single-process run (batch norm's per-process batch statistics legitimately differ).

usage:
  ddp_models.py plain CLASSES OUT.pt    conv-ReLU-conv-ReLU-pool-linear, seeded, scripted
"""
import sys

import torch
import torch.nn as nn


class Plain(nn.Module):
    """Two convolutions (the backbone) and a linear head named `fc`, no normalisation."""

    def __init__(self, classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def plain(classes, out):
    torch.manual_seed(0)
    torch.jit.script(Plain(int(classes))).save(out)


if __name__ == "__main__":
    commands = {"plain": plain}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
