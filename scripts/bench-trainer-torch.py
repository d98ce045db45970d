#!/usr/bin/env python3
"""The PyTorch side of scripts/bench-trainer.sh: the same model, batch size, optimizer and
parameter groups as `trainer train --synthetic`, on random data already in memory, with the
same thread count and number of steps. Prints `throughput: X steps/s`, timed like the
trainer: every training iteration after the first 5 (batch gather, forward, loss, zero_grad,
backward, step, loss.item()). On CUDA, cuDNN's autotuning is on (as in the trainer) and it
also prints `host syncs per step: X`, the synchronising CUDA calls of the timed steps that
torch.cuda.set_sync_debug_mode("warn") reports.

usage: bench-trainer-torch.py MODEL IMAGE_SIZE BATCH STEPS THREADS [DEVICE [PRECISION [LAYOUT]]]
       bench-trainer-torch.py script MODEL OUT.pt
MODEL: small-cnn | resnet18 | resnet50 (torchvision's, the trainer's built-in has its names)
PRECISION: fp32 (default) | bf16 | fp16, as `trainer --precision`: the forward pass and the
loss under torch.autocast (PyTorch AMP), fp16 with torch.amp.GradScaler.
LAYOUT: nchw (default) | channels-last, as `trainer --channels-last`: the model and every
batch in torch.channels_last.

Under torchrun (WORLD_SIZE > 1: scripts/bench-ddp.sh, scripts/bench-trainer-gpu.sh) it trains
with DistributedDataParallel, on gloo for the CPU and NCCL on CUDA (one GPU per process, the
one LOCAL_RANK names): BATCH is the global batch, each rank takes its contiguous share of
every batch as the trainer does, and rank 0 prints the throughput.

`script` writes MODEL (10 classes) as TorchScript for `trainer train --model OUT.pt`: the same
Python definition the PyTorch side trains eagerly.
"""
import os
import sys
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

WARMUP = 5


class SmallCnn(nn.Module):
    def __init__(self, classes):
        super().__init__()
        layers = []
        for cin, cout, s in [(3, 16, 1), (16, 32, 2), (32, 64, 2)]:
            layers += [nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.backbone(x), 1).flatten(1))


class Basic(nn.Module):
    def __init__(self, cin, w, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, w, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, w, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(w)
        self.downsample = None
        if stride != 1 or cin != w:
            self.downsample = nn.Sequential(nn.Conv2d(cin, w, 1, stride, bias=False), nn.BatchNorm2d(w))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for li, w in enumerate([64, 128, 256, 512]):
            for b in range(2):
                blocks.append(Basic(cin, w, 2 if b == 0 and li > 0 else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.fc(F.adaptive_avg_pool2d(self.blocks(h), 1).flatten(1))


def build(model_name):
    if model_name == "resnet50":
        import torchvision

        return torchvision.models.resnet50(num_classes=10)
    return SmallCnn(10) if model_name == "small-cnn" else ResNet18(10)


def main():
    if sys.argv[1] == "script":
        torch.jit.script(build(sys.argv[2])).save(sys.argv[3])
        return
    model_name, size, bs, steps, threads = sys.argv[1], *map(int, sys.argv[2:6])
    device = torch.device(sys.argv[6] if len(sys.argv) > 6 else "cpu")
    precision = sys.argv[7] if len(sys.argv) > 7 else "fp32"
    amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    channels_last = len(sys.argv) > 8 and sys.argv[8] == "channels-last"
    layout = torch.channels_last if channels_last else torch.contiguous_format
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and device.type == "cuda":
        # One process per GPU, as the trainer under a launcher: LOCAL_RANK's.
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(model_name).to(device, memory_format=layout)
    # The trainer's groups: BN weights (no decay), other weights (decay), biases (no decay).
    bn_w, w, b = [], [], []
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            bn_w.append(m.weight)
            b.append(m.bias)
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            w.append(m.weight)
            if m.bias is not None:
                b.append(m.bias)
    opt = torch.optim.SGD([{"params": bn_w}, {"params": w, "weight_decay": 5e-4}, {"params": b}],
                          lr=0.01, momentum=0.9, nesterov=True)
    n = bs * steps
    x_all = torch.randn(n, 3, size, size)
    y_all = torch.arange(n) % 10
    order = torch.randperm(n)
    rank = 0
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank = torch.distributed.get_rank()
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    share = bs // world
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    model.train()
    syncs = []
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *rest: syncs.append("synchroniz" in str(message))
    timed, seconds = 0, 0.0
    t0 = time.perf_counter()
    for i in range(steps):
        if i == WARMUP and device.type == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
        idx = order[i * bs + rank * share:i * bs + (rank + 1) * share]
        x = x_all.index_select(0, idx).to(device, non_blocking=True)
        x = x.contiguous(memory_format=layout)
        y = y_all.index_select(0, idx).to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        loss.item()
        t1 = time.perf_counter()
        if i >= WARMUP:
            timed += 1
            seconds += t1 - t0
        t0 = t1
    if rank == 0:
        print(f"throughput: {timed / seconds:.3f} steps/s ({timed} steps timed, the first {WARMUP} excluded)")
        if device.type == "cuda":
            print(f"host syncs per step: {sum(syncs) / timed:.2f}")
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
