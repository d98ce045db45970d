"""Reference for the EMA test: a transcription of the original's ModelEMA (YOLOX,
yolox/utils/ema.py) over the model states the Rust test wrote, one per training step.

usage: ema_ref.py IN.safetensors OUT.safetensors DECAY TAU
IN holds s.<k>.<name> for k = 0 (the weights the average starts from) .. n (after step n);
its metadata "buffers" lists, comma-separated, the names that are buffers. OUT holds the
average after n updates, by name.

YOLOX's update averages every floating-point entry of the state dict; the trainer's rule
(issue 14) averages the parameters and copies the buffers, so buffers are copied here.
"""
import math
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


class ModelEMA:
    def __init__(self, state, decay=0.9999, tau=2000.0, updates=0):
        self.ema = {k: v.clone() for k, v in state.items()}
        self.updates = updates
        self.decay = lambda x: decay * (1 - math.exp(-x / tau))

    def update(self, msd, buffers):
        with torch.no_grad():
            self.updates += 1
            d = self.decay(self.updates)
            for k, v in self.ema.items():
                if k in buffers:
                    v.copy_(msd[k])
                elif v.dtype.is_floating_point:
                    v *= d
                    v += (1.0 - d) * msd[k].detach()


inp, out, decay, tau = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
with safe_open(inp, "pt") as f:
    buffers = set((f.metadata() or {}).get("buffers", "").split(","))
t = load_file(inp)
states = {}
for key, v in t.items():
    _, k, name = key.split(".", 2)
    states.setdefault(int(k), {})[name] = v
ema = ModelEMA(states[0], decay, tau)
for k in range(1, max(states) + 1):
    ema.update(states[k], buffers)
save_file({k: v.contiguous() for k, v in ema.ema.items()}, out)
