"""Reference for the optimizer parity test: runs torch.optim on the parameters and gradients
the Rust test wrote, with the same groups and per-step learning rates, and writes the
resulting parameters.

usage: optim_ref.py IN.safetensors OUT.safetensors KIND MOMENTUM WEIGHT_DECAY LR1,LR2,... FOREACH
IN holds p.<i> (initial params), g.<k>.<i> (grad of param i at step k; absent: no gradient
that step, `p.grad = None`, as a frozen parameter), d.<i> (1.0 if the param is in the
decaying group). Params are split into two groups: decay and no decay. FOREACH: 1 for
torch.optim's multi-tensor path, 0 for its single-tensor one.
"""
import sys

import torch
from safetensors.torch import load_file, save_file

inp, out, kind, momentum, wd, lrs, foreach = sys.argv[1:8]
foreach = foreach == "1"
momentum, wd = float(momentum), float(wd)
lrs = [float(x) for x in lrs.split(",")]
t = load_file(inp)
n = len([k for k in t if k.startswith("p.")])
params = [torch.nn.Parameter(t[f"p.{i}"].clone()) for i in range(n)]
decay = [p for i, p in enumerate(params) if t[f"d.{i}"].item() == 1.0]
no_decay = [p for i, p in enumerate(params) if t[f"d.{i}"].item() != 1.0]
groups = [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": wd}]
if kind == "sgd":
    opt = torch.optim.SGD(groups, lr=lrs[0], momentum=momentum, nesterov=True, foreach=foreach)
elif kind == "adam":
    opt = torch.optim.Adam(groups, lr=lrs[0], betas=(momentum, 0.999), eps=1e-8, foreach=foreach)
elif kind == "adamw":
    opt = torch.optim.AdamW(groups, lr=lrs[0], betas=(momentum, 0.999), eps=1e-8, foreach=foreach)
else:
    sys.exit(f"unknown optimizer {kind}")
for k, lr in enumerate(lrs):
    for g in opt.param_groups:
        g["lr"] = lr
    for i, p in enumerate(params):
        g = t.get(f"g.{k}.{i}")
        p.grad = None if g is None else g.clone()
    opt.step()
save_file({f"p.{i}": p.detach().contiguous() for i, p in enumerate(params)}, out)
