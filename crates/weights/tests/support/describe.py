"""How the Rust tests see what torch read: tensors flattened to dotted keys, each described as
{"dtype", "shape", "hex"}, where dtype is the name lrplan-weights gives it (`DType::name`)
and hex its contiguous little-endian bytes."""

import zlib
from collections import OrderedDict

import torch

DTYPE_NAMES = {
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


def raw_bytes(t):
    """The tensor's elements, contiguous and little-endian; a bool as one byte, 0 or 1."""
    flat = t.detach().contiguous().reshape(-1)
    raw = flat.view(torch.uint8) if flat.dtype != torch.bool else flat.to(torch.uint8)
    return raw.numpy().tobytes()


def describe(t):
    return {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "hex": raw_bytes(t).hex()}


def summarize(t):
    """For tensors too large to compare as hex: the sum of the values (as f64), the sum of
    their magnitudes (which bounds how far two summation orders can differ) and the CRC-32
    of the bytes."""
    values = t.detach().double()
    total, magnitude = values.sum().item(), values.abs().sum().item()
    return {
        "dtype": DTYPE_NAMES[t.dtype],
        "shape": list(t.shape),
        # As text (shortest round-trip, "nan", "inf"): JSON has no NaN or infinity, and a
        # JSON reader need not round its numbers correctly.
        "sum": repr(total),
        "abs_sum": repr(magnitude),
        "crc32": zlib.crc32(raw_bytes(t)),
    }


def flatten(obj, prefix=""):
    """Tensors of a nested checkpoint under dotted keys, as a state dict names them."""
    out = OrderedDict()
    if isinstance(obj, torch.Tensor):
        out[prefix[:-1]] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}."))
    return out
