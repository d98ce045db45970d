"""What the lrplan package's tests share: the installed package, torch, and the `lrplan` CLI
they compare it with (built here with cargo, so `pytest crates/python/tests` runs alone).

Run them with `scripts/test.sh`, or after `scripts/setup.sh` (which builds crates/python into
.venv) with `.venv/bin/python -m pytest crates/python/tests`. Nothing is skipped: a missing
package or tool fails the run with the command that installs it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.dont_write_bytecode = True  # no __pycache__ in the tree

ROOT = Path(__file__).resolve().parents[3]
SETUP = "run scripts/setup.sh (it builds crates/python into .venv)"

for module in ("lrplan", "torch", "numpy"):
    try:
        __import__(module)
    except ImportError as e:
        pytest.exit(f"cannot import {module} in {sys.executable} ({e}): {SETUP}", returncode=1)

import torch  # noqa: E402

# The models are tiny: one thread is fastest, and on a shared machine far steadier.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `lrplan` binary of this checkout (cargo's target dir, CARGO_TARGET_DIR honoured)."""
    try:
        out = subprocess.run(
            ["cargo", "build", "-q", "-p", "lrplan-cli", "--message-format=json"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.exit(f"cannot build the lrplan CLI with cargo ({e}): install rustup", returncode=1)
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "lrplan":
            if msg.get("executable"):
                return Path(msg["executable"])
    pytest.exit("cargo built lrplan-cli but named no `lrplan` executable", returncode=1)


def run_cli(cli: Path, *args: str, cwd: os.PathLike = ROOT) -> subprocess.CompletedProcess:
    """`lrplan ARGS` with its output as text."""
    return subprocess.run([str(cli), *args], cwd=cwd, capture_output=True, text=True)
