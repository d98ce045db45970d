"""lrplan.torch in real PyTorch training loops: the learning rate every parameter group holds at
every optimizer step equals `lrplan --format csv`'s, bit for bit; a loop stopped, saved and
resumed continues with identical rates; the parameter groups are the original's."""

import functools
import io
import logging

import pytest
import torch
from torch import nn

import lrplan
from lrplan.torch import PlanScheduler, make_optimizer, param_groups
from support import PLANS, Net, bits, cli_rows, loader, random_plans, write_plan


class Run:
    """A training run driven by PlanScheduler, recording what the optimizer holds each step."""

    def __init__(self, plan: lrplan.Plan):
        torch.manual_seed(0)
        self.plan = plan
        self.model = Net()
        self.optimizer = make_optimizer(self.model, plan)
        self.changes = []
        self.scheduler = PlanScheduler(
            self.optimizer, plan, on_phase_change=lambda s: self.changes.append(s.current)
        )
        self.seen = []  # (epoch, loader batch size, every group's lr) per optimizer step
        self.criterion = nn.CrossEntropyLoss()

    def state(self) -> bytes:
        buf = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict()}, buf)
        return buf.getvalue()

    def restore(self, saved: bytes, scheduler_first: bool) -> None:
        state = torch.load(io.BytesIO(saved), weights_only=True)
        self.model.load_state_dict(state["model"])
        if scheduler_first:
            self.scheduler.load_state_dict(state["scheduler"])
            self.optimizer.load_state_dict(state["optimizer"])
        else:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])

    def train(self, stop_at=None) -> None:
        """Trains to the end of the plan, or until the scheduler reaches plan step `stop_at`
        (for a per-iteration plan possibly at an epoch's last iteration, before after_epoch)."""
        s = self.scheduler
        self.model.backbone.requires_grad_(s.phase == "unfreeze")
        data = loader(self.plan, s.batch_size, seed=s.epoch)
        for epoch in s.epochs():
            if s.phase_changed:
                self.model.backbone.requires_grad_(True)
                data = loader(self.plan, s.batch_size, seed=epoch)
            # A resumed per-iteration epoch continues where it stopped.
            skip = s.iteration
            for i, (x, y) in enumerate(data):
                if i < skip:
                    continue
                self.seen.append((epoch, data.batch_size,
                                  [g["lr"] for g in self.optimizer.param_groups]))
                loss = self.criterion(self.model(x), y)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                s.after_iteration()
                if s.last_epoch == stop_at:
                    return
            s.after_epoch()
            if s.last_epoch == stop_at:
                return
        assert s.finished


def check_against_cli(run: Run, rows: list[dict]) -> None:
    """Every optimizer step's group lrs are the CLI's value for that step, as IEEE-754 bits."""
    per_iteration = run.plan.updates_per == "iteration"
    by_epoch = {r["epoch"]: r for r in rows}
    if per_iteration:
        assert len(run.seen) == len(rows)
    for n, (epoch, batch_size, lrs) in enumerate(run.seen):
        row = rows[n] if per_iteration else by_epoch[epoch]
        assert (epoch, batch_size) == (row["epoch"], row["batch_size"]), n
        assert all(type(lr) is float for lr in lrs)
        assert [bits(lr) for lr in lrs] == [bits(row["lr"])] * 3, (n, lrs, row)
    assert sorted({e for e, _, _ in run.seen}) == sorted(by_epoch)


LOOPS = dict(PLANS, **random_plans(24, seed=17))


@pytest.mark.parametrize("name", LOOPS)
def test_optimizer_lrs_equal_the_cli_bit_for_bit(name, cli, tmp_path):
    fields = LOOPS[name]
    plan_file = write_plan(tmp_path, name, fields)
    plan = lrplan.Plan(fields)
    assert plan == lrplan.Plan.load(plan_file)
    rows = cli_rows(cli, plan_file)
    run = Run(plan)
    run.train()
    check_against_cli(run, rows)
    # The scheduler announced the frozen phase's end exactly where the CLI's batch size changes.
    changes = [r for prev, r in zip(rows, rows[1:]) if r["phase"] != prev["phase"]]
    assert [(c.step, c.batch_size) for c in run.changes] == [
        (r["step"], r["batch_size"]) for r in changes
    ]


RESUMES = [
    ("epoch-cos-freeze-sgd", 3),   # inside the frozen phase
    ("epoch-cos-freeze-sgd", 6),   # stopped at the boundary: the next epoch is unfrozen
    ("iter-cos-freeze-adam", 7),   # mid-epoch, frozen
    ("iter-cos-freeze-adam", 20),  # the boundary
    ("iter-step-dataset-adamw", 31),
    ("iter-linear-dataset-ceil", 13),
    ("epoch-linear-start-in-freeze", 4),
]


@functools.cache
def uninterrupted(name: str) -> Run:
    run = Run(lrplan.Plan(PLANS[name]))
    run.train()
    return run


@pytest.mark.parametrize("scheduler_first", [False, True])
@pytest.mark.parametrize("name,k", RESUMES)
def test_resume_continues_with_identical_lrs(name, k, scheduler_first):
    plan = lrplan.Plan(PLANS[name])
    whole = uninterrupted(name)
    first = Run(plan)
    first.train(stop_at=k)
    saved = first.state()
    again = Run(plan)
    again.restore(saved, scheduler_first)
    assert [bits(g["lr"]) for g in again.optimizer.param_groups] == [
        bits(lr) for lr in whole.seen[len(first.seen)][2]
    ]
    again.train()
    resumed = first.seen + again.seen
    assert [(e, b, [bits(x) for x in lrs]) for e, b, lrs in resumed] == [
        (e, b, [bits(x) for x in lrs]) for e, b, lrs in whole.seen
    ]


def test_a_state_from_another_plan_is_refused():
    plan = lrplan.Plan(PLANS["epoch-cos-freeze-sgd"])
    run = Run(plan)
    run.train(stop_at=2)
    changed = plan.replace(lr_init=0.02)
    other = PlanScheduler(make_optimizer(Net(), changed), changed)
    with pytest.raises(ValueError, match="saved for another plan"):
        other.load_state_dict(run.scheduler.state_dict())


def test_an_epoch_of_another_length_than_the_plans_is_refused():
    plan = lrplan.Plan(PLANS["iter-cos-freeze-adam"])  # 5 iterations per epoch
    model = Net()
    optimizer = make_optimizer(model, plan)
    scheduler = PlanScheduler(optimizer, plan)
    for _ in range(4):
        optimizer.step()
        scheduler.after_iteration()
    with pytest.raises(RuntimeError, match="ended at iteration 4 of epoch 0 of the plan, which "
                       "has 5 iterations per epoch at batch size 16"):
        scheduler.after_epoch()
    for _ in range(5):  # the next epoch runs past the plan's end of it
        scheduler.after_iteration()
    with pytest.raises(RuntimeError, match="iteration 4 of epoch 1"):
        scheduler.after_epoch()


def test_an_epoch_that_does_not_move_the_scheduler_one_epoch_on_is_refused():
    plan = lrplan.Plan(PLANS["iter-cos-freeze-adam"])  # 5 iterations per epoch
    optimizer = make_optimizer(Net(), plan)
    scheduler = PlanScheduler(optimizer, plan)
    with pytest.raises(RuntimeError, match="epoch 0 ended at epoch 0 of the plan"):
        for _ in scheduler.epochs():
            scheduler.after_epoch()
    with pytest.raises(RuntimeError, match="epoch 0 ended at epoch 2 of the plan"):
        for _ in scheduler.epochs():
            for _ in range(10):
                optimizer.step()
                scheduler.after_iteration()
            scheduler.after_epoch()


def test_the_phase_change_is_logged_and_past_the_end_the_lr_stays(caplog):
    plan = lrplan.Plan(PLANS["epoch-constant-freeze"])
    optimizer = make_optimizer(Net(), plan)
    scheduler = PlanScheduler(optimizer, plan)
    with caplog.at_level(logging.INFO, logger="lrplan"):
        for _ in range(len(plan.schedule()) + 2):
            optimizer.step()
            scheduler.step()
    assert [r.getMessage() for r in caplog.records] == [
        "lrplan: step 3 (epoch 3) starts the unfreeze phase: batch size 8, "
        f"lr {plan.schedule().lr(3)!r}"
    ]
    assert scheduler.finished
    assert bits(optimizer.param_groups[0]["lr"]) == bits(plan.schedule().step(-1).lr)
    with pytest.raises(TypeError, match="takes no epoch"):
        scheduler.step(3)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.inner = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Sequential(nn.BatchNorm2d(4), nn.ReLU()))


class GroupsNet(nn.Module):
    """BatchNorm1d/2d under names with and without "bn", a Linear named bn_proj (not a batch
    norm: its weight still goes to group 0, by name), bias-free convs, nested Sequentials."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.blocks = nn.Sequential(Block(), Block())
        self.bn_proj = nn.Linear(4, 8)
        self.norm = nn.BatchNorm1d(8)
        self.head = nn.Sequential(nn.Linear(8, 8, bias=False), nn.Linear(8, 3))


def original_groups(model):
    """The original's loop (shared/seed), its BatchNorm2d test widened to every BatchNorm*d."""
    pg0, pg1, pg2 = [], [], []
    for k, v in model.named_modules():
        if hasattr(v, "bias") and isinstance(v.bias, nn.Parameter):
            pg2.append(v.bias)
        if isinstance(v, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) or "bn" in k:
            pg0.append(v.weight)
        elif hasattr(v, "weight") and isinstance(v.weight, nn.Parameter):
            pg1.append(v.weight)
    return pg0, pg1, pg2


def ids(params):
    return [id(p) for p in params]


def test_groups_are_the_originals():
    model = GroupsNet()
    mine = param_groups(model)
    theirs = original_groups(model)
    assert [ids(g) for g in mine] == [ids(g) for g in theirs]
    names = {id(p): n for n, p in model.named_parameters()}
    assert names[id(model.bn_proj.weight)] in [names[id(p)] for p in mine[0]]
    assert id(model.norm.weight) in ids(mine[0])  # a BatchNorm1d, though not named bn
    assert sum(len(g) for g in mine) == len(list(model.parameters()))


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_the_optimizer_is_the_plans(kind):
    plan = lrplan.Plan(optimizer_kind=kind, optimizer_momentum=0.9, optimizer_weight_decay=1e-3)
    model = GroupsNet()
    optimizer = make_optimizer(model, plan)
    expected = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    assert type(optimizer) is expected[kind]
    groups = optimizer.param_groups
    assert [ids(g["params"]) for g in groups] == [ids(g) for g in original_groups(model)]
    assert [g["weight_decay"] for g in groups] == [0.0, 1e-3, 0.0]
    assert {g["lr"] for g in groups} == {plan.schedule().phases[0].fit.init}
    if kind == "sgd":
        assert all(g["nesterov"] and g["momentum"] == 0.9 for g in groups)
    else:
        assert all(g["betas"] == (0.9, 0.999) for g in groups)


def test_parameters_the_original_leaves_out_train_in_group_1_and_are_named():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.scale = nn.Parameter(torch.ones(2))

    model = Scaled()
    with pytest.warns(UserWarning, match=r"1 parameter.* train with weight decay \(group 1\): "
                                         r"scale$"):
        groups = param_groups(model)
    assert [ids(g) for g in groups] == [[], ids([model.fc.weight, model.scale]),
                                        ids([model.fc.bias])]
