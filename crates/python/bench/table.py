"""Benchmark: a 3-million-step plan's table from lrplan (Rust, filled without a Python loop)
against a pure-Python evaluation of the same formulas (the original's batch-size fit and
`yolox_warm_cos_lr`, per iteration, into a NumPy array).

    .venv/bin/python crates/python/bench/table.py [--repeat N]

Prints the best of N runs of each, the ratio, and how many of the pure-Python values are
bit-identical to lrplan's (the others differ in the last bits: Python's math.cos is glibc's,
which is not correctly rounded; lrplan's is).
Not a test: the figures depend on the machine and its load.
"""

import argparse
import math
import time

import numpy as np

import lrplan

# 300 epochs x 10,000 iterations; 50 frozen epochs at batch 16, then batch 8 (the original's).
PLAN = lrplan.Plan(updates_per="iteration", updates_iters_per_epoch=10_000)


def python_lrs(plan: lrplan.Plan) -> np.ndarray:
    """Every step's lr, computed in Python as the original's training script would."""
    limits = {"sgd": (5e-2, 5e-4), "adam": (1e-3, 3e-4), "adamw": (1e-3, 3e-4)}
    lr_limit_max, lr_limit_min = limits[plan.optimizer_kind]
    total = plan.epochs_total
    iters = plan.updates_iters_per_epoch
    out = []
    for epoch in range(plan.epochs_start, total):
        frozen = plan.phases_freeze and epoch < plan.phases_freeze_epochs
        bs = plan.phases_freeze_batch_size if frozen else plan.phases_unfreeze_batch_size
        lr = min(max(bs / plan.lr_nbs * plan.lr_init, lr_limit_min), lr_limit_max)
        min_lr = min(max(bs / plan.lr_nbs * plan.lr_min, lr_limit_min * 1e-2), lr_limit_max * 1e-2)
        warmup_total = min(max(plan.decay_warmup_iters_ratio * total, 1), 3)
        warmup_start = max(plan.decay_warmup_lr_ratio * lr, 1e-6)
        no_aug = min(max(plan.decay_no_aug_iter_ratio * total, 1), 15)
        for i in range(iters):
            t = epoch + i / iters
            if t <= warmup_total:
                x = t / warmup_total
                value = (lr - warmup_start) * (x * x) + warmup_start
            elif t >= total - no_aug:
                value = min_lr
            else:
                value = min_lr + 0.5 * (lr - min_lr) * (
                    1.0 + math.cos(math.pi * (t - warmup_total) / (total - warmup_total - no_aug))
                )
            out.append(value)
    return np.array(out, dtype=np.float64)


def best(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    schedule = PLAN.schedule()
    n = len(schedule)
    t_table, table = best(lambda: PLAN.schedule().table(), repeat)
    t_lrs, lrs = best(lambda: PLAN.schedule().lrs(), repeat)
    t_py, py = best(lambda: python_lrs(PLAN), repeat)
    assert table.shape == (n,) and lrs.shape == (n,) and py.shape == (n,)
    ulps = np.abs(py.view(np.int64) - lrs.view(np.int64))
    same = int(np.count_nonzero(ulps == 0))
    assert table["lr"].tobytes() == lrs.tobytes()
    print(f"{n:,} steps, best of {repeat}:")
    print(f"  Schedule.table() (all columns)  {t_table * 1e3:8.1f} ms")
    print(f"  Schedule.lrs()   (lr column)    {t_lrs * 1e3:8.1f} ms")
    print(f"  pure Python, same formulas      {t_py * 1e3:8.1f} ms")
    print(f"  table() is {t_py / t_table:.1f}x faster, lrs() {t_py / t_lrs:.1f}x")
    print(f"  {same:,} of {n:,} values bit-identical to the Python's ({100 * same / n:.4f}%); "
          f"the rest within {ulps.max()} ulp (Python's math.cos is glibc's, not correctly "
          f"rounded; lrplan's is)")


if __name__ == "__main__":
    main()
