"""PyTorch glue: a learning-rate scheduler that runs a plan, and the original's optimizer.

:class:`PlanScheduler` writes the plan's learning rate into every parameter group before each
step; the value comes from lrplan's Rust schedule crate (``Schedule.step``), never from Python
arithmetic, so it equals the page's, the CSV's and the trainer's to the last bit.
:func:`make_optimizer` builds the optimizer of the original YOLO training scripts from a plan:
three parameter groups (batch-norm weights, other weights with weight decay, biases) and SGD
with Nesterov momentum, Adam or AdamW.

A plain loop, the frozen phase included::

    plan = lrplan.Plan.load("plan.toml")
    optimizer = make_optimizer(model, plan)
    scheduler = PlanScheduler(optimizer, plan)
    model.backbone.requires_grad_(scheduler.phase == "unfreeze")   # frozen first, if planned
    loader = DataLoader(train_set, batch_size=scheduler.batch_size, shuffle=True, drop_last=True)
    for epoch in scheduler.epochs():
        if scheduler.phase_changed:        # the first step of the unfrozen phase
            model.backbone.requires_grad_(True)
            loader = DataLoader(train_set, batch_size=scheduler.batch_size, shuffle=True,
                                drop_last=True)
        for x, y in loader:
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.after_iteration()    # steps when the plan updates per iteration
        scheduler.after_epoch()            # steps when it updates per epoch
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Iterator, Optional, Union

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from ._lrplan import Plan, Schedule, Step

__all__ = ["PlanScheduler", "make_optimizer", "param_groups"]

log = logging.getLogger("lrplan")

#: What the original's ``isinstance(v, nn.BatchNorm2d)`` means for any dimension.
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)

Groups = tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]


def param_groups(model: nn.Module) -> Groups:
    """The original's three parameter groups: ``(bn_weights, weights, biases)``.

    For each module of ``model.named_modules()``, in order: its bias goes to ``biases``; if
    the module is a batch norm (any ``BatchNorm*d``) or its name contains ``"bn"``, its weight
    goes to ``bn_weights`` (no weight decay), else to ``weights`` (weight decay). Only
    ``weight`` and ``bias`` attributes that are parameters count, so a module named ``bn_*``
    without a weight, or a batch norm without affine parameters, is skipped where the original
    would fail; a parameter shared by two modules is taken once. A parameter that is no
    module's ``weight`` or ``bias`` (a class token, a layer scale), which the original's loop
    never reaches and so never trains, goes to ``weights`` with a warning naming it, as the
    trainer does with such parameters.
    """
    groups: Groups = ([], [], [])
    bn_weights, weights, biases = groups
    taken: set[int] = set()

    def take(group: list[nn.Parameter], p: Any) -> None:
        if isinstance(p, nn.Parameter) and id(p) not in taken:
            taken.add(id(p))
            group.append(p)

    for name, module in model.named_modules():
        take(biases, getattr(module, "bias", None))
        if isinstance(module, BATCH_NORMS) or "bn" in name:
            take(bn_weights, getattr(module, "weight", None))
        else:
            take(weights, getattr(module, "weight", None))
    left = [(n, p) for n, p in model.named_parameters() if id(p) not in taken]
    if left:
        warnings.warn(
            f"{len(left)} parameter(s) are no module's weight or bias, which the original's "
            f"loop leaves out; they train with weight decay (group 1): "
            f"{', '.join(n for n, _ in left)}",
            stacklevel=2,
        )
        weights.extend(p for _, p in left)
    return groups


def make_optimizer(model: nn.Module, plan: Plan) -> Optimizer:
    """The plan's optimizer over :func:`param_groups`: group 0 batch-norm weights, group 1
    other weights with ``optimizer.weight_decay``, group 2 biases (groups 0 and 2 without
    weight decay). SGD has Nesterov momentum ``optimizer.momentum``; Adam and AdamW have betas
    ``(optimizer.momentum, 0.999)``. The starting lr is the first phase's fitted ``init``;
    :class:`PlanScheduler` sets the step's value.
    """
    bn_weights, weights, biases = param_groups(model)
    groups = [
        {"params": bn_weights},
        {"params": weights, "weight_decay": plan.optimizer_weight_decay},
        {"params": biases},
    ]
    lr = plan.schedule().phases[0].fit.init
    momentum = plan.optimizer_momentum
    kind = plan.optimizer_kind
    if kind == "sgd":
        # torch refuses Nesterov without momentum; with momentum 0 both are plain SGD.
        return torch.optim.SGD(
            groups, lr=lr, momentum=momentum, nesterov=momentum > 0, weight_decay=0.0
        )
    adam = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    return adam(groups, lr=lr, betas=(momentum, 0.999), weight_decay=0.0)


class PlanScheduler(LRScheduler):
    """Sets every parameter group's lr to the plan's value for the current step.

    A step is an epoch or an iteration, as the plan's ``updates.per`` says; steps are numbered
    from 0 at the first iteration of ``epochs.start`` (``last_epoch`` holds the current one,
    as for every PyTorch scheduler). Construction applies step 0. Then either call
    :meth:`step` once per plan step, or call :meth:`after_iteration` after every optimizer
    step and :meth:`after_epoch` after every epoch, which step when the plan says so (and
    check that an epoch had the iterations the plan counts). Past the last step the lr stays
    at the last step's value.

    When a step starts a new phase (the backbone unfreezes and the batch size changes),
    :attr:`phase_changed` is True until the next step, ``on_phase_change(scheduler)`` is
    called if given, and the ``lrplan`` logger says so at INFO level: rebuild the data loader
    with :attr:`batch_size` and unfreeze the backbone there.

    ``state_dict()`` holds the step and the plan (plain values: ``torch.load`` with
    ``weights_only=True`` reads it); ``load_state_dict`` refuses another plan's state and
    writes the restored step's lr into the optimizer, so a resumed loop continues with
    identical learning rates whether the optimizer's state is loaded before or after.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        plan: Union[Plan, Schedule],
        last_epoch: int = -1,
        on_phase_change: Optional[Callable[[PlanScheduler], None]] = None,
    ) -> None:
        self.schedule: Schedule = plan if isinstance(plan, Schedule) else plan.schedule()
        self.plan: Plan = self.schedule.plan
        self.on_phase_change = on_phase_change
        self.phase_changed = False
        super().__init__(optimizer, last_epoch)

    @property
    def current(self) -> Step:
        """The current step (the last one once the run is over)."""
        return self.schedule.step(min(max(self.last_epoch, 0), len(self.schedule) - 1))

    @property
    def finished(self) -> bool:
        """True once every step of the plan has been applied and stepped past."""
        return self.last_epoch >= len(self.schedule)

    @property
    def epoch(self) -> int:
        """The current step's epoch."""
        return self.current.epoch

    @property
    def iteration(self) -> int:
        """The current step's iteration within its epoch (0 for per-epoch plans)."""
        return self.current.iteration

    @property
    def phase(self) -> str:
        """The current step's phase: "freeze" or "unfreeze"."""
        return self.current.phase

    @property
    def batch_size(self) -> int:
        """The current phase's batch size: build the data loader with it."""
        return self.current.batch_size

    def epochs(self) -> Iterator[int]:
        """The epochs left to train, from the current step's: ``for epoch in
        scheduler.epochs():``. It follows the scheduler, so it also fits a resumed run. Raises
        RuntimeError when an epoch ends without moving the scheduler to the next one (a missing
        ``after_epoch()`` or ``after_iteration()``) or moves it past it (a loader with more
        batches than the plan counts)."""
        last = None
        while not self.finished:
            epoch = self.epoch
            if last is not None and epoch != last + 1:
                raise RuntimeError(
                    f"epoch {last} ended at epoch {epoch} of the plan: call after_iteration() "
                    f"after every optimizer step and after_epoch() after every epoch, with "
                    f"a loader that has the plan's batches per epoch"
                )
            last = epoch
            yield epoch

    def get_lr(self) -> list[float]:
        """The current step's lr for every group (the schedule crate's value)."""
        lr = self.current.lr
        return [lr for _ in self.optimizer.param_groups]

    def step(self, epoch: Optional[int] = None) -> None:
        """Moves to the next plan step and applies its lr."""
        if epoch is not None:
            raise TypeError(
                "PlanScheduler.step() takes no epoch: call it once per plan step "
                "(or after_iteration() / after_epoch())"
            )
        before = self.current.phase if self.last_epoch >= 0 else None
        super().step()
        self.phase_changed = (
            before is not None and not self.finished and self.current.phase != before
        )
        if self.phase_changed:
            self._announce()

    def _announce(self) -> None:
        now = self.current
        log.info(
            "lrplan: step %d (epoch %d) starts the %s phase: batch size %d, lr %r",
            now.step,
            now.epoch,
            now.phase,
            now.batch_size,
            now.lr,
        )
        if self.on_phase_change is not None:
            self.on_phase_change(self)

    def after_iteration(self) -> None:
        """Call after every optimizer step: steps when the plan updates per iteration."""
        if self.schedule.per_iteration:
            self.step()

    def after_epoch(self) -> None:
        """Call after every epoch: steps when the plan updates per epoch. For a per-iteration
        plan, raises RuntimeError when the epoch had another number of iterations than the
        plan counts (its learning rates would no longer be the planned ones)."""
        if not self.schedule.per_iteration:
            self.step()
        elif not self.finished and self.iteration != 0:
            now = self.current
            phase = self.schedule.phase_at(now.epoch)
            raise RuntimeError(
                f"an epoch ended at iteration {now.iteration} of epoch {now.epoch} of the plan, "
                f"which has {phase.iters_per_epoch} iterations per epoch at batch size "
                f"{phase.batch_size}: make the loader's batches per epoch match the plan "
                f"(updates.iters_per_epoch, or updates.dataset_size / batch size with "
                f"updates.drop_last), or the plan match the loader"
            )

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state: PyTorch's fields, the plan file's text under ``"plan"``."""
        skip = ("optimizer", "plan", "schedule", "on_phase_change")
        state = {k: v for k, v in self.__dict__.items() if k not in skip}
        state["plan"] = self.plan.to_toml()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores a state from :meth:`state_dict` and applies its step's lr. Raises
        ValueError when the state was saved for another plan."""
        state = dict(state_dict)
        saved = Plan.from_toml(state.pop("plan"))
        if saved != self.plan:
            raise ValueError(
                f"the scheduler state was saved for another plan: {saved!r}, this scheduler "
                f"runs {self.plan!r}; build it with Plan.from_toml(state['plan']) to resume"
            )
        self.__dict__.update(state)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
