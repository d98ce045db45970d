"""Print what Python's safetensors reads from a file, as {key: {dtype, shape, hex}} JSON.

Usage: python read_safetensors.py FILE
"""

import json
import sys

import torch
from safetensors.torch import load_file

NAMES = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.int64: "i64",
    torch.int32: "i32",
    torch.int16: "i16",
    torch.int8: "i8",
    torch.uint8: "u8",
    torch.bool: "bool",
}

out = {}
for k, t in load_file(sys.argv[1]).items():
    flat = t.contiguous().reshape(-1)
    raw = flat.view(torch.uint8) if flat.dtype != torch.bool else flat.to(torch.uint8)
    out[k] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "hex": raw.numpy().tobytes().hex()}
print(json.dumps(out))
