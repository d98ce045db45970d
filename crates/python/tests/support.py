"""Plans, plan files and the CLI's table, shared by the tests.

A plan is written here as a dict of dotted paths; `toml_text` writes it as a plan file with
Python's own formatting, so the CLI and `Plan.load` read a file that the schedule crate did not
write, and `Plan(fields)` builds the same plan by keyword.
"""

import csv
import io
import json
import random
import struct
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplan
from conftest import run_cli

# Each: a name and the fields that differ from the default plan. Together they cover a frozen
# phase (entered, crossed, skipped, the whole run), per-epoch and per-iteration updates (fixed
# counts, dataset sizes with and without drop_last), every decay kind, every optimizer and
# overridden limits.
PLANS = {
    "epoch-cos-freeze-sgd": {"epochs.total": 20, "phases.freeze_epochs": 6},
    "iter-cos-freeze-adam": {
        "optimizer.kind": "adam", "lr.init": 1e-3, "lr.min": 1e-5, "epochs.total": 12,
        "phases.freeze_epochs": 4, "updates.per": "iteration", "updates.iters_per_epoch": 5,
    },
    "iter-step-dataset-adamw": {
        "optimizer.kind": "adamw", "lr.init": 6e-4, "lr.min": 6e-6, "decay.kind": "step",
        "decay.step_num": 4, "epochs.total": 12, "phases.freeze_epochs": 5,
        "updates.per": "iteration", "updates.dataset_size": 50,
    },
    "iter-linear-dataset-ceil": {
        "decay.kind": "linear", "epochs.total": 10, "phases.freeze_epochs": 3,
        "phases.freeze_batch_size": 16, "phases.unfreeze_batch_size": 8,
        "updates.per": "iteration", "updates.dataset_size": 50, "updates.drop_last": False,
    },
    "epoch-step-nofreeze": {
        "decay.kind": "step", "decay.step_num": 10, "epochs.total": 30, "phases.freeze": False,
        "phases.unfreeze_batch_size": 32,
    },
    "epoch-constant-freeze": {
        "decay.kind": "constant", "epochs.total": 8, "phases.freeze_epochs": 3,
    },
    "epoch-linear-start-in-freeze": {
        "decay.kind": "linear", "epochs.total": 25, "epochs.start": 5, "phases.freeze_epochs": 10,
        "decay.warmup_iters_ratio": 0.2, "decay.no_aug_iter_ratio": 0.3,
    },
    "epoch-cos-start-after-boundary": {
        "epochs.total": 30, "epochs.start": 12, "phases.freeze_epochs": 10,
    },
    "iter-cos-limits-momentum0": {
        "optimizer.momentum": 0.0, "lr.init": 0.05, "lr.min": 5e-4, "lr.limit_max": 0.02,
        "lr.limit_min": 1e-3, "epochs.total": 9, "phases.freeze": False,
        "updates.per": "iteration", "updates.iters_per_epoch": 3,
    },
    "epoch-step-all-frozen": {
        "decay.kind": "step", "decay.step_num": 3, "epochs.total": 9, "phases.freeze_epochs": 9,
        "optimizer.kind": "adam", "lr.init": 1e-3,
    },
}


def random_plans(count: int, seed: int) -> dict:
    """`count` valid plans drawn at random (short runs: a test trains each one)."""
    rng = random.Random(seed)
    plans = {}
    while len(plans) < count:
        total = rng.randint(2, 14)
        init = rng.choice([5e-2, 1e-2, 1e-3, 6e-4, 2.5e-4])
        fields = {
            "optimizer.kind": rng.choice(["sgd", "adam", "adamw"]),
            "lr.init": init,
            "lr.min": init * rng.choice([0.01, 0.1, 1.0]),
            "lr.nbs": rng.choice([16, 64]),
            "decay.kind": rng.choice(["cos", "step", "linear", "constant"]),
            "decay.warmup_iters_ratio": rng.random() * 0.5,
            "decay.warmup_lr_ratio": rng.random(),
            "decay.no_aug_iter_ratio": rng.random() * 0.5,
            "decay.step_num": rng.randint(2, total),
            "epochs.total": total,
            "epochs.start": rng.choice([0, 0, rng.randint(0, total - 1)]),
            "phases.freeze": rng.random() < 0.7,
            "phases.freeze_epochs": rng.randint(0, total),
            "phases.freeze_batch_size": rng.choice([4, 8, 16]),
            "phases.unfreeze_batch_size": rng.choice([2, 4, 8]),
        }
        if rng.random() < 0.5:
            fields["updates.per"] = "iteration"
            if rng.random() < 0.5:
                fields["updates.iters_per_epoch"] = rng.randint(1, 4)
            else:
                fields["updates.dataset_size"] = rng.randint(8, 40)
                fields["updates.drop_last"] = rng.random() < 0.5
        try:
            lrplan.Plan(fields)
        except lrplan.PlanError:
            continue
        plans[f"random-{seed}-{len(plans)}"] = fields
    return plans


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def toml_text(fields: dict) -> str:
    """A plan file of dotted keys (`lr.init = 0.001`), one per field given."""
    return "".join(f"{path} = {toml_value(value)}\n" for path, value in fields.items())


def write_plan(directory: Path, name: str, fields: dict) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(toml_text(fields))
    return path


def cli_rows(cli: Path, plan_file: Path) -> list[dict]:
    """`lrplan PLAN --format csv` as a list of rows, numbers parsed (lr exactly: the CSV has
    shortest round-trip digits)."""
    out = run_cli(cli, str(plan_file), "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    for row in rows:
        for key in ("step", "epoch", "iteration", "batch_size"):
            row[key] = int(row[key])
        row["lr"] = float(row["lr"])
    return rows


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


class Net(nn.Module):
    """A small CNN with a backbone to freeze: conv (no bias), batch norm, a linear head."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten()
        )
        self.head = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.head(self.backbone(x))


def loader(plan: lrplan.Plan, batch_size: int, seed: int) -> DataLoader:
    """The epoch's batches: the plan's dataset size (or its fixed count of full batches)."""
    size = plan.updates_dataset_size or (plan.updates_iters_per_epoch or 2) * batch_size
    g = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.randn(size, 1, 6, 6, generator=g), torch.randint(0, 3, (size,)))
    return DataLoader(data, batch_size=batch_size, shuffle=False, drop_last=plan.updates_drop_last)
