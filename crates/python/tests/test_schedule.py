"""lrplan.Schedule against the `lrplan` CLI: the table (CSV text, rows, NumPy arrays), single
steps, the summary and the facts it states."""

import doctest

import numpy as np
import pytest

import lrplan
from conftest import run_cli
from support import PLANS, bits, cli_rows, write_plan


@pytest.fixture(params=list(PLANS))
def case(request, cli, tmp_path):
    """(schedule, the CLI's rows, the plan file) for each plan."""
    path = write_plan(tmp_path, request.param, PLANS[request.param])
    return lrplan.Plan(PLANS[request.param]).schedule(), cli_rows(cli, path), path


def test_csv_is_the_clis_byte_for_byte(case, cli):
    schedule, _, path = case
    out = run_cli(cli, str(path), "--format", "csv")
    assert schedule.csv() == out.stdout


def test_steps_are_the_clis_rows(case):
    schedule, rows, _ = case
    steps = list(schedule.steps())
    assert len(steps) == len(schedule) == schedule.total_steps == len(rows)
    for s, r in zip(steps, rows):
        assert (s.step, s.epoch, s.iteration, s.phase, s.batch_size) == (
            r["step"], r["epoch"], r["iteration"], r["phase"], r["batch_size"])
        assert bits(s.lr) == bits(r["lr"])
        assert schedule.step(s.step) == s
        assert bits(schedule.lr(s.epoch, s.iteration)) == bits(r["lr"])
    assert schedule.step(-1) == steps[-1]
    assert list(schedule.steps(len(steps) - 2)) == steps[-2:]
    assert list(schedule.steps(len(steps) + 5)) == []
    with pytest.raises(IndexError, match=f"step {len(steps)} is outside the run"):
        schedule.step(len(steps))
    with pytest.raises(IndexError):
        schedule.step(-len(steps) - 1)


def test_the_table_is_the_clis_rows_as_numpy_arrays(case):
    schedule, rows, _ = case
    table = schedule.table()
    assert table.dtype.names == ("step", "epoch", "iteration", "phase", "batch_size", "t", "lr")
    assert table.shape == (len(rows),)
    assert table["step"].tolist() == [r["step"] for r in rows]
    assert table["epoch"].tolist() == [r["epoch"] for r in rows]
    assert table["iteration"].tolist() == [r["iteration"] for r in rows]
    assert [lrplan.PHASES[p] for p in table["phase"]] == [r["phase"] for r in rows]
    assert table["batch_size"].tolist() == [r["batch_size"] for r in rows]
    expected = np.array([r["lr"] for r in rows], dtype="<f8")
    assert table["lr"].tobytes() == expected.tobytes()
    assert schedule.lrs().tobytes() == expected.tobytes()
    assert schedule.lrs().flags["C_CONTIGUOUS"] and schedule.lrs().dtype == np.float64
    assert table["t"].tobytes() == np.array([s.t for s in schedule.steps()]).tobytes()


def test_the_summary_and_its_facts_are_the_clis(case, cli):
    schedule, rows, path = case
    out = run_cli(cli, str(path))
    assert out.stdout == f"plan: {path}\n{schedule.summary()}\n"
    phases = schedule.phases
    assert [p.name for p in phases] == sorted({r["phase"] for r in rows}, key=["freeze",
                                                                           "unfreeze"].index)
    for p in phases:
        mine = [r for r in rows if r["phase"] == p.name]
        assert (p.first_step, p.steps) == (mine[0]["step"], len(mine))
        assert (p.first_epoch, p.end_epoch - 1) == (mine[0]["epoch"], mine[-1]["epoch"])
        assert p.batch_size == p.fit.batch_size == mine[0]["batch_size"]
        assert p.steps == (p.end_epoch - p.first_epoch) * p.iters_per_epoch
        assert f"         {p.fit}\n" in out.stdout
        assert p.fit.init_clamp in ("none", "up", "down")
        assert (p.step_decay is None) == (schedule.plan.decay_kind != "step")
        assert schedule.phase_at(p.first_epoch).first_step == p.first_step
        assert schedule.first_step_of_epoch(p.first_epoch) == p.first_step
    plan = schedule.plan
    boundary = schedule.boundary
    if boundary is None:
        assert "phase boundary: none" in out.stdout and len(phases) == 1
    else:
        assert boundary.epoch == phases[1].first_epoch
        first = phases[1].first_step
        assert bits(boundary.lr_before) == bits(rows[first - 1]["lr"])
        assert bits(boundary.lr_after) == bits(rows[first]["lr"])
    if plan.decay_kind in ("cos", "linear"):
        assert schedule.warmup.epochs == min(max(plan.decay_warmup_iters_ratio
                                                 * plan.epochs_total, 1), 3)
        if plan.epochs_start == 0:
            assert bits(schedule.warmup.start_lr) == bits(rows[0]["lr"])
        assert schedule.tail.start_epoch == plan.epochs_total - schedule.tail.epochs
        tail = [r for r in rows if r["epoch"] >= schedule.tail.start_epoch]
        assert all(bits(r["lr"]) == bits(schedule.phase_at(r["epoch"]).fit.min) for r in tail)
    else:
        assert schedule.warmup is None and schedule.tail is None


def test_steps_outside_the_run_are_refused():
    schedule = lrplan.Plan(PLANS["iter-cos-freeze-adam"]).schedule()  # 12 epochs of 5
    assert schedule.lr(11, 4) == schedule.step(-1).lr
    with pytest.raises(ValueError, match=r"epoch 12 is outside the run: epochs 0\.\.11"):
        schedule.lr(12)
    with pytest.raises(ValueError, match="iteration 5 is outside epoch 3: it has 5"):
        schedule.lr(3, 5)
    per_epoch = lrplan.Plan.default().schedule()
    with pytest.raises(ValueError, match="a per-epoch plan: iteration 0 only"):
        per_epoch.lr(3, 1)
    with pytest.raises(OverflowError):
        per_epoch.lr(-1)


def test_a_table_too_large_for_memory_raises_memory_error():
    plan = lrplan.Plan(updates_per="iteration", updates_iters_per_epoch=100_000_000,
                       epochs_total=10_000, phases_freeze=False)
    with pytest.raises(MemoryError, match="the table has 1000000000000 steps"):
        plan.schedule().lrs()


def test_the_package_docstring_examples_run():
    failed, tried = doctest.testmod(lrplan, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0
