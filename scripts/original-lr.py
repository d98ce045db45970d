#!/usr/bin/env python3
"""lrplan's per-epoch learning rates against the original's Python, evaluated here.

    original-lr.py DIR

DIR holds plan-NNNN.toml files and lrplan.txt, whose lines are `NNNN EPOCH LR` with LR the
repr of lrplan's rate (shortest round-trip). For every plan this transcribes the original's
formulas (the YOLO training loop's batch-size fit and its phase switch, `get_lr_scheduler`'s
`yolox_warm_cos_lr` and `step_lr`), evaluates them twice, and compares with lrplan bit for bit:

1. with Python's math module, i.e. glibc's cos and pow on Linux (as the original runs): at
   least 99.9% of the values must be identical;
2. with correctly rounded cos and pow (mpmath, as in crmath-reference.py): every value must be
   identical. So where (1) differs, lrplan's value is the formula's with correctly rounded
   operations, and the script also checks that glibc's cos or pow returned something other
   than the correctly rounded result at one of that value's arguments.

Where the contract (shared/spec/schedule.md) and the original disagree, this follows the
contract, as lrplan does, and says how often it mattered: the step index is floor(t /
step_size) (the original's `t // step_size` is floor((t - fmod(t, step_size)) / step_size),
which can differ by one), and AdamW gets Adam's limits (the original tests for 'adam' only,
so AdamW would get SGD's).
"""
import collections
import functools
import importlib.util
import math
import os
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in scripts/ from loading the module below
_spec = importlib.util.spec_from_file_location("ref", os.path.join(HERE, "crmath-reference.py"))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

LIMITS = {"sgd": (5e-2, 5e-4), "adam": (1e-3, 3e-4), "adamw": (1e-3, 3e-4)}


class Ops:
    """The two transcendental operations the formulas use, and the arguments they were given."""

    def __init__(self, cos, pow_):
        self._cos, self._pow, self.calls = cos, pow_, []

    def cos(self, x):
        self.calls.append(("cos", (x,)))
        return self._cos(x)

    def pow(self, x, y):
        self.calls.append(("pow", (x, y)))
        return self._pow(x, y)


GLIBC = (math.cos, math.pow)
# Plans share many arguments (same lengths and ratios): each is rounded with mpmath once.
CORRECT = (functools.cache(ref.cr_cos), functools.cache(ref.cr_pow))


def get_lr_scheduler(ops, lr_decay_type, lr, min_lr, total_iters, warmup_iters_ratio,
                     warmup_lr_ratio, no_aug_iter_ratio, step_num):
    """The original's get_lr_scheduler, with cos and pow taken from `ops`."""

    def yolox_warm_cos_lr(lr, min_lr, total_iters, warmup_total_iters, warmup_lr_start,
                          no_aug_iter, iters):
        if iters <= warmup_total_iters:
            lr = (lr - warmup_lr_start) * ops.pow(iters / float(warmup_total_iters), 2) \
                + warmup_lr_start
        elif iters >= total_iters - no_aug_iter:
            lr = min_lr
        else:
            lr = min_lr + 0.5 * (lr - min_lr) * (
                1.0 + ops.cos(
                    math.pi * (iters - warmup_total_iters)
                    / (total_iters - warmup_total_iters - no_aug_iter))
            )
        return lr

    def step_lr(lr, decay_rate, step_size, iters):
        if step_size < 1:
            raise ValueError("step_size must above 1.")
        n = math.floor(iters / step_size)  # the contract; the original has iters // step_size
        return lr * ops.pow(decay_rate, n)

    if lr_decay_type == "cos":
        warmup_total_iters = min(max(warmup_iters_ratio * total_iters, 1), 3)
        warmup_lr_start = max(warmup_lr_ratio * lr, 1e-6)
        no_aug_iter = min(max(no_aug_iter_ratio * total_iters, 1), 15)
        return lambda iters: yolox_warm_cos_lr(lr, min_lr, total_iters, warmup_total_iters,
                                               warmup_lr_start, no_aug_iter, iters)
    decay_rate = ops.pow(min_lr / lr, 1 / (step_num - 1))
    step_size = total_iters / step_num
    return lambda iters: step_lr(lr, decay_rate, step_size, iters)


def epoch_rates(plan, impl):
    """{epoch: (lr, calls)} as the original's training loop sets the rates, one scheduler per
    phase; calls are the cos/pow calls the value depends on (its phase's scheduler
    construction and its own evaluation), with `impl` = (cos, pow)."""
    opt, lr, decay = plan["optimizer"], plan["lr"], plan["decay"]
    epochs, phases = plan["epochs"], plan["phases"]
    hi, lo = LIMITS[opt["kind"]]
    lr_limit_max = lr.get("limit_max", hi)
    lr_limit_min = lr.get("limit_min", lo)
    nbs, Init_lr, Min_lr = lr["nbs"], lr["init"], lr["min"]
    Freeze_Train, Freeze_Epoch = phases["freeze"], phases["freeze_epochs"]
    UnFreeze_Epoch, Init_Epoch = epochs["total"], epochs["start"]

    def scheduler(batch_size):
        ops = Ops(*impl)
        Init_lr_fit = min(max(batch_size / nbs * Init_lr, lr_limit_min), lr_limit_max)
        Min_lr_fit = min(max(batch_size / nbs * Min_lr, lr_limit_min * 1e-2), lr_limit_max * 1e-2)
        func = get_lr_scheduler(ops, decay["kind"], Init_lr_fit, Min_lr_fit, UnFreeze_Epoch,
                                decay["warmup_iters_ratio"], decay["warmup_lr_ratio"],
                                decay["no_aug_iter_ratio"], decay["step_num"])
        return func, ops

    batch_size = phases["freeze_batch_size"] if Freeze_Train else phases["unfreeze_batch_size"]
    lr_scheduler_func, ops = scheduler(batch_size)
    UnFreeze_flag = False
    out = {}
    for epoch in range(Init_Epoch, UnFreeze_Epoch):
        if epoch >= Freeze_Epoch and not UnFreeze_flag and Freeze_Train:
            lr_scheduler_func, ops = scheduler(phases["unfreeze_batch_size"])
            UnFreeze_flag = True
        built = len(ops.calls)
        value = lr_scheduler_func(epoch)
        out[epoch] = (value, list(ops.calls))
        del ops.calls[built:]
    return out


def bits(x):
    return ref.bits(x)


def correct(name, args):
    return CORRECT[0 if name == "cos" else 1](*args)


def main():
    d = sys.argv[1]
    lrplan = {}
    with open(os.path.join(d, "lrplan.txt")) as f:
        for line in f:
            i, epoch, lr = line.split()
            lrplan[(int(i), int(epoch))] = float(lr)
    plans = {}
    for name in sorted(os.listdir(d)):
        if name.startswith("plan-") and name.endswith(".toml"):
            with open(os.path.join(d, name), "rb") as f:
                plans[int(name[5:-5])] = tomllib.load(f)

    counts = collections.Counter(i for i, _ in lrplan)
    total = same = cr_same = 0
    explained, failures = [], []
    floordiv_differs = adamw_plans = 0
    for i, plan in plans.items():
        adamw_plans += plan["optimizer"]["kind"] == "adamw"
        glibc = epoch_rates(plan, GLIBC)
        exact = epoch_rates(plan, CORRECT)
        if len(glibc) != counts.get(i, 0):
            failures.append(f"plan {i}: lrplan has {counts.get(i, 0)} epochs, the original "
                            f"{len(glibc)}")
        for epoch, (lr, calls) in glibc.items():
            mine = lrplan.get((i, epoch))
            if mine is None:
                failures.append(f"plan {i}: lrplan has no rate for epoch {epoch}")
                continue
            total += 1
            same += bits(lr) == bits(mine)
            cr = exact[epoch][0]
            if bits(cr) == bits(mine):
                cr_same += 1
            else:
                failures.append(f"plan {i} epoch {epoch}: lrplan {mine!r}, the formulas with "
                                f"correctly rounded cos/pow {cr!r}")
            if bits(lr) != bits(mine):
                # One of glibc's cos/pow results for this value must be misrounded.
                wrong = [(n, a) for n, a in calls
                         if bits(getattr(math, n)(*a)) != bits(correct(n, a))]
                if wrong:
                    explained.append((i, epoch, lr, mine, wrong))
                else:
                    failures.append(f"plan {i} epoch {epoch}: glibc gives {lr!r}, lrplan "
                                    f"{mine!r}, yet glibc rounded each of its cos/pow correctly")
        if plan["decay"]["kind"] == "step":
            step_size = plan["epochs"]["total"] / plan["decay"]["step_num"]
            floordiv_differs += sum(e // step_size != math.floor(e / step_size) for e in glibc)

    share = same / total if total else 0.0
    print(f"{len(plans)} plans, {total} per-epoch rates: {same} bit-identical to the original's "
          f"Python with glibc ({100 * share:.3f}%), {total - same} differ, each where glibc "
          f"misrounds a cos or pow ({len(explained)}); {cr_same} identical to the original's "
          f"formulas with correctly rounded cos and pow")
    for i, epoch, lr, mine, mis in explained[:10]:
        calls = ", ".join(f"{n}{tuple(float.hex(a) for a in args)}" for n, args in mis)
        print(f"  plan {i} epoch {epoch}: glibc {lr!r}, lrplan {mine!r}; glibc misrounds {calls}")
    print(f"contract vs original: t // step_size and floor(t / step_size) differ in "
          f"{floordiv_differs} step values (the contract's floor is used); {adamw_plans} plans "
          f"use AdamW with Adam's limits (the contract's)")
    if share < 0.999:
        failures.append(f"only {100 * share:.3f}% bit-identical (at least 99.9% required)")
    if total == 0:
        failures.append("no rates compared")
    for f in failures[:20]:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
