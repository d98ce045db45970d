"""Reference for the loss-scaler test: torch.amp.GradScaler on the CPU driving SGD over one
parameter, with the gradients the Rust test wrote (inf and NaN injected at some steps).

usage: scaler_ref.py IN.safetensors OUT.safetensors GROWTH_INTERVAL
IN holds p (the parameter) and g.<k> (the unscaled gradient of step k): each step's loss is
(p * g.<k>).sum(), so its scaled backward gives g.<k> times the scale, as in training.
OUT holds p (final) and, per step k, scale.<k>, tracker.<k> (after update()) and
skipped.<k> (1.0 when the optimizer step was skipped).
"""
import sys

import torch
from safetensors.torch import load_file, save_file

inp, out, interval = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = load_file(inp)
steps = len([k for k in t if k.startswith("g.")])
p = torch.nn.Parameter(t["p"].clone())
opt = torch.optim.SGD([p], lr=0.1, momentum=0.0, foreach=False)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
                              growth_interval=interval)
res = {}
for k in range(steps):
    opt.zero_grad(set_to_none=True)
    loss = (p * t[f"g.{k}"]).sum()
    scaler.scale(loss).backward()
    scaler.step(opt)
    found = scaler._per_optimizer_states[id(opt)]["found_inf_per_device"]
    skipped = sum(v.item() for v in found.values()) > 0
    scaler.update()
    res[f"scale.{k}"] = torch.tensor([scaler.get_scale()], dtype=torch.float64)
    res[f"tracker.{k}"] = scaler._growth_tracker.to(torch.float64).reshape(1)
    res[f"skipped.{k}"] = torch.tensor([1.0 if skipped else 0.0], dtype=torch.float64)
res["p"] = p.detach().clone()
save_file(res, out)
