"""Write the PyTorch files the lrplan-weights tests read, and what torch says is in them.

Usage: python make_fixtures.py OUT_DIR

Every file is written by the real torch.save (or, for the hostile ones, by Python's own
pickle), so the Rust reader is checked against the layouts PyTorch actually produces.
`expected.json` maps each file to {"order": [keys in file order], "tensors": {key:
{"dtype", "shape", "hex"}}} where "hex" is the tensor's contiguous little-endian bytes as
torch itself reads them back, so the tests compare bit for bit.
"""

import io
import json
import os
import pickle
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch

import old_torch
from describe import describe, flatten

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)


def path(name):
    return os.path.join(OUT, name)


expected = {}


def record(name, entry=None, weights_only=True):
    """What torch itself reads back from the file: the reference for the Rust reader.
    With an entry that is not the one found automatically, it is recorded as NAME#ENTRY."""
    loaded = torch.load(path(name), map_location="cpu", weights_only=weights_only)
    if entry is not None:
        loaded = loaded[entry]
    flat = flatten(loaded)
    key = name if entry is None or name not in expected else f"{name}#{entry}"
    expected[key] = {"order": list(flat), "tensors": {k: describe(v) for k, v in flat.items()}}


class Block(torch.nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(cout)


class Net(torch.nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.stem = Block(3, 8)
        self.layer1 = torch.nn.Sequential(Block(8, 8), Block(8, 16))
        self.head = torch.nn.Linear(16, classes)


def model_keys(model, prefix=""):
    return [[prefix + k, list(v.shape)] for k, v in model.state_dict().items()]


# --- a state dict covering every dtype and layout -------------------------------------
base = torch.randn(6, 5)
sd = OrderedDict()
sd["f32"] = torch.randn(3, 4)
sd["f64"] = torch.randn(2, 3, dtype=torch.float64)
sd["f16"] = torch.randn(7).half()
sd["bf16"] = torch.randn(2, 5).bfloat16()
sd["i64"] = torch.tensor([-(2**62), -1, 0, 1, 2**62 + 5], dtype=torch.int64)
sd["i32"] = torch.tensor([-(2**31), 7, 2**31 - 1], dtype=torch.int32)
sd["i16"] = torch.tensor([-32768, 3, 32767], dtype=torch.int16)
sd["i8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
sd["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
sd["bool"] = torch.tensor([True, False, True, True, False])
sd["special"] = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 1e-45, 3.4e38])
sd["scalar"] = torch.tensor(2.5)
sd["empty"] = torch.zeros(0, 3)
# Views saved as they are: torch.save keeps the whole storage with its offset and strides.
sd["weight_t"] = base.t()  # transposed weight, never made contiguous
sd["slice"] = base[2:5]  # storage offset 10, contiguous
sd["strided"] = base[1:, ::2]  # offset and a step
sd["base"] = base  # shares its storage with the three views above
sd["expanded"] = torch.arange(3.0).reshape(3, 1).expand(3, 4)  # stride 0
sd["permuted"] = torch.randn(2, 3, 4).permute(2, 0, 1)
sd["nested_dict_list"] = torch.ones(1)
assert not sd["weight_t"].is_contiguous() and sd["slice"].storage_offset() == 10

torch.save(sd, path("zip_basic.pt"))
record("zip_basic.pt")
torch.save(sd, path("legacy_basic.pt"), _use_new_zipfile_serialization=False)
record("legacy_basic.pt")
# Newer pickle protocols (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL).
torch.save(sd, path("zip_proto4.pt"), pickle_protocol=4)
# torch's own weights_only unpickler rejects FRAME (protocol 4); these files are ours.
record("zip_proto4.pt", weights_only=False)
torch.save(sd, path("legacy_proto4.pt"), _use_new_zipfile_serialization=False, pickle_protocol=4)
record("legacy_proto4.pt", weights_only=False)


# --- storages recorded on cuda:0 -----------------------------------------------------
CPU = b"X\x03\x00\x00\x00cpu"  # BINUNICODE 'cpu', how protocol 2 writes the location
CUDA = b"X\x06\x00\x00\x00cuda:0"


def rewrite_zip(src, dst, edit_pkl=None, drop=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if drop is not None and info.filename.endswith(drop):
                continue
            data = zin.read(info.filename)
            if edit_pkl is not None and info.filename.endswith("/data.pkl"):
                data = edit_pkl(data)
            zout.writestr(info.filename, data)


def to_cuda(pkl):
    assert CPU in pkl, "location string not found"
    return pkl.replace(CPU, CUDA)


rewrite_zip(path("zip_basic.pt"), path("zip_cuda.pt"), edit_pkl=to_cuda)
with open(path("legacy_basic.pt"), "rb") as f:
    legacy = f.read()
assert CPU in legacy
with open(path("legacy_cuda.pt"), "wb") as f:
    f.write(legacy.replace(CPU, CUDA))
for name in ["zip_cuda.pt", "legacy_cuda.pt"]:
    with open(path(name), "rb") as f:
        assert b"cuda:0" in f.read()
    record(name)

# Saved without checksums (CRC-32 recorded as 0): still read, just unverified.
torch.serialization.set_crc32_options(False)
torch.save(sd, path("zip_nocrc.pt"))
torch.serialization.set_crc32_options(True)
record("zip_nocrc.pt")

# One flipped bit inside a storage record: only the CRC-32 can tell.
def corrupt_record(src, dst, record):
    with zipfile.ZipFile(src) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(record))
    with open(src, "rb") as f:
        data = bytearray(f.read())
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x10
    with open(dst, "wb") as f:
        f.write(data)


corrupt_record(path("zip_basic.pt"), path("zip_corrupt.pt"), "/data/0")

# A zip whose pickle names a storage the archive does not hold.
rewrite_zip(path("zip_basic.pt"), path("zip_missing_storage.pt"), drop="/data/0")


# --- checkpoints that wrap the weights ---------------------------------------------
net = Net(10)
with torch.no_grad():
    for p in net.parameters():
        p.add_(torch.randn_like(p))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
for p in net.parameters():
    p.grad = torch.randn_like(p)
opt.step()
net_sd = net.state_dict()

torch.save(net_sd, path("net.pt"))
record("net.pt")
ckpt = {
    "epoch": 3,
    "optimizer": opt.state_dict(),
    "model": net_sd,
    "config": {"lr": 0.1, "name": "net", "sizes": [1, 2, 3], "flag": True, "none": None},
}
torch.save(ckpt, path("checkpoint.pt"))
record("checkpoint.pt", entry="model")
torch.save(ckpt, path("checkpoint_legacy.pt"), _use_new_zipfile_serialization=False)
record("checkpoint_legacy.pt", entry="model")
ema = {k: v * 0.5 if v.is_floating_point() else v for k, v in net_sd.items()}
torch.save({"epoch": 7, "state_dict_ema": ema, "args": ["--lr", "0.1"]}, path("checkpoint_ema.pt"))
record("checkpoint_ema.pt", entry="state_dict_ema")
# Nested dicts that are not a known wrapper: flattened with dots.
torch.save({"encoder": {"layer": {"weight": torch.ones(2, 2)}}, "bias": torch.zeros(2)}, path("nested.pt"))
record("nested.pt")

torch.save(OrderedDict(("module." + k, v) for k, v in net_sd.items()), path("module_prefixed.pt"))
record("module_prefixed.pt")
torch.save(OrderedDict(("backbone." + k, v) for k, v in net_sd.items()), path("backbone_prefixed.pt"))
record("backbone_prefixed.pt")
# Parameters (not plain tensors) pickle through torch._utils._rebuild_parameter.
torch.save({"w": torch.nn.Parameter(torch.randn(2, 2)), "b": torch.nn.Parameter(torch.zeros(2))}, path("parameters.pt"))
record("parameters.pt")

with open(path("model_keys_10.json"), "w") as f:
    json.dump(model_keys(Net(10)), f)
with open(path("model_keys_5.json"), "w") as f:
    json.dump(model_keys(Net(5)), f)
with open(path("model_keys_dict_5.json"), "w") as f:
    json.dump(dict(model_keys(Net(5))), f)


# --- legacy files from the Python 2 era, which current torch no longer writes ----------
# Built opcode by opcode (old_torch.py) in the layout of real files: lpips 0.1.4 ships both.
values = np.arange(1, 13, dtype=np.float32) / 8


def old_file(name, root, storages, entries=(None,)):
    with open(path(name), "wb") as f:
        f.write(old_torch.legacy_file(root, storages))
    for entry in entries:
        record(name, entry=entry)


# PyTorch 0.3: an OrderedDict of [key, value] lists, _rebuild_tensor with long sizes.
a = old_torch.Storage("140210", values[:6])
b = old_torch.Storage("140211", values[6:8])
c = old_torch.Storage("140212", values[6:12])
t03 = old_torch.tensor03
old_file("py2_torch03.pt", lambda p: p.ordered_dict([
    ("conv.weight", t03(a, 0, (2, 3, 1, 1), (3, 1, 1, 1))),
    ("conv.bias", t03(b, 0, (2,), (1,))),
    ("fc.weight_t", t03(c, 0, (3, 2), (1, 3))),  # a transposed view, saved as it is
    ("fc.tail", t03(c, 3, (3,), (1,))),  # storage offset 3
]), [a, b, c])

# PyTorch 0.4: _rebuild_tensor_v2, the state dict's _metadata set by BUILD afterwards.
t04 = old_torch.tensor04
metadata = [(module, old_torch.plain_dict({"version": 1})) for module in ("", "conv")]
old_file("py2_torch04.pt", lambda p: p.ordered_dict([
    ("conv.weight", t04(a, 0, (2, 3, 1, 1), (3, 1, 1, 1))),
    ("conv.bias", t04(b, 0, (2,), (1,), empty_hooks=True)),
    ("fc.weight_t", t04(c, 0, (3, 2), (1, 3))),
], metadata=metadata), [a, b, c])
# A checkpoint: Parameters as 0.4 pickled them, and a state dict with _metadata.
param = old_torch.parameter04
old_file("py2_torch04_checkpoint.pt", lambda p: p.dict([
    ("epoch", 7),
    ("model", lambda q: q.dict([
        ("w", param(t04(a, 0, (6,), (1,)))),
        ("b", param(t04(b, 0, (2,), (1,)))),
    ])),
    ("state_dict_ema", lambda q: q.ordered_dict([("w", t04(c, 0, (6,), (1,)))], metadata=metadata)),
]), [a, b, c], entries=["model", "state_dict_ema"])
sd_old = torch.load(path("py2_torch04.pt"), map_location="cpu", weights_only=True)
assert list(sd_old._metadata) == ["", "conv"], "torch did not read _metadata"


# Python's other spelling of instance state, (dict_state, slot_state), as BUILD's argument.
class SlotStateDict:
    def __init__(self, items):
        self.items = items

    def __reduce__(self):
        state = (None, {"_metadata": OrderedDict([("", {"version": 1})])})
        return (OrderedDict, (), state, None, iter(self.items))


slot_state = SlotStateDict([("w", torch.ones(2, 2)), ("b", torch.zeros(2))])
torch.save(slot_state, path("build_slot_state.pt"))
# torch's weights_only unpickler does not take this shape; the full one does.
record("build_slot_state.pt", weights_only=False)


# --- dtypes torch has and this reader does not: refused by name, not as code -------------
unread = {
    "complex64": torch.randn(2, dtype=torch.complex64),
    "complex128": torch.randn(2, dtype=torch.complex128),
    "float8_e4m3fn": torch.randn(3).to(torch.float8_e4m3fn),  # _rebuild_tensor_v3
    "uint16": torch.tensor([1, 2, 3]).to(torch.uint16),
    "qint8": torch.quantize_per_tensor(torch.randn(2), 0.1, 0, torch.qint8),
}
for dtype, t in unread.items():
    torch.save({"ok": torch.ones(1), "odd": t}, path(f"dtype_{dtype}.pt"))
    # The legacy format puts every storage's bytes back to back: the reader must step over
    # those it does not read to find the rest.
    torch.save({"odd": t, "ok": torch.ones(1)}, path(f"dtype_{dtype}_legacy.pt"),
               _use_new_zipfile_serialization=False)
# Only an error where it is among the weights: here it sits in a skipped entry.
skipped = {"extra": {"odd": unread["complex64"]}, "model": {"w": torch.ones(2)}}
torch.save(skipped, path("dtype_skipped.pt"))
record("dtype_skipped.pt", entry="model")


def legacy_storage_types(name):
    """The storage classes of a legacy file, in the order its bytes are stored."""
    types = {}

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            types[pid[2]] = pid[1][1]

        def find_class(self, module, name):
            return (module, name) if module == "torch" else (lambda *a, **k: None)

    with open(path(name), "rb") as f:
        for _ in range(3):
            pickle.load(f)
        Unpickler(f).load()
        return [types[k] for k in pickle.load(f)]


# Storage keys are addresses, stored in sorted order: save until the complex storage's bytes
# come first, so that the reader has to step over them to find the weights.
for _ in range(100):
    odd = torch.randn(2, dtype=torch.complex64)
    skipped = {"extra": {"odd": odd}, "model": {"w": torch.ones(2)}}
    torch.save(skipped, path("dtype_skipped_legacy.pt"), _use_new_zipfile_serialization=False)
    if legacy_storage_types("dtype_skipped_legacy.pt")[0] == "ComplexFloatStorage":
        break
else:
    raise SystemExit("could not get the complex storage first in dtype_skipped_legacy.pt")
record("dtype_skipped_legacy.pt", entry="model")


# --- hostile pickles: must be refused, never run -----------------------------------
marker = path("MARKER")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + marker,))


class EvalEvil:
    def __reduce__(self):
        import builtins

        return (builtins.eval, ("open(%r, 'w').close()" % marker,))


with open(path("evil_os_system.pt"), "wb") as f:
    pickle.dump({"weight": Evil()}, f, protocol=2)
with open(path("evil_eval.pt"), "wb") as f:
    pickle.dump(EvalEvil(), f, protocol=2)


# A real torch.save zip whose data.pkl also carries a call to os.system next to the
# tensors: a reader that keeps unknown calls as opaque values would load it silently.
buf = io.BytesIO()
torch.save({"weight": torch.ones(2), "hook": Evil()}, buf)
with open(path("evil_in_zip.pt"), "wb") as f:
    f.write(buf.getvalue())
assert not os.path.exists(marker), "fixture generation itself must not run the payload"

with open(path("expected.json"), "w") as f:
    json.dump(expected, f)
print("fixtures written to", OUT)
