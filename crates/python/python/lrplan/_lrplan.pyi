# Types of the native module (crates/python/src). Docstrings are the Rust doc comments, and the
# block between the `fields` markers is generated from lrplan.FIELDS; both are checked by
# crates/python/tests/test_stub.py (`LRPLAN_BLESS=1` there rewrites the block).
import os
from collections.abc import Iterator, Mapping
from typing import Literal, Optional, TypedDict, Union

import numpy as np
import numpy.typing as npt
from typing_extensions import Unpack

__version__: str
FIELDS: tuple[Field, ...]
PHASES: tuple[Literal["freeze"], Literal["unfreeze"]]

FieldValue = Union[float, int, bool, str, None]
PhaseName = Literal["freeze", "unfreeze"]

# fields: begin
class PlanFields(TypedDict, total=False):
    optimizer_kind: Literal["sgd", "adam", "adamw"]
    optimizer_momentum: float
    optimizer_weight_decay: float
    lr_init: float
    lr_min: float
    lr_nbs: int
    lr_limit_max: Optional[float]
    lr_limit_min: Optional[float]
    decay_kind: Literal["cos", "step", "linear", "constant"]
    decay_warmup_iters_ratio: float
    decay_warmup_lr_ratio: float
    decay_no_aug_iter_ratio: float
    decay_step_num: int
    epochs_total: int
    epochs_start: int
    phases_freeze: bool
    phases_freeze_epochs: int
    phases_freeze_batch_size: int
    phases_unfreeze_batch_size: int
    updates_per: Literal["epoch", "iteration"]
    updates_iters_per_epoch: Optional[int]
    updates_dataset_size: Optional[int]
    updates_drop_last: bool

class _PlanAttributes:
    @property
    def optimizer_kind(self) -> Literal["sgd", "adam", "adamw"]:
        """sgd (Nesterov), adam or adamw; picks the default fit limits"""
    @property
    def optimizer_momentum(self) -> float:
        """SGD momentum, Adam's beta1 (beta2 is 0.999)"""
    @property
    def optimizer_weight_decay(self) -> float:
        """applied to group 1 (conv/linear weights) only"""
    @property
    def lr_init(self) -> float:
        """rate at batch size nbs; fit: min(max(bs / nbs * init, limit_min), limit_max)"""
    @property
    def lr_min(self) -> float:
        """final rate at batch size nbs; fit with limit_min and limit_max times 1e-2"""
    @property
    def lr_nbs(self) -> int:
        """the batch size init and min are given for"""
    @property
    def lr_limit_max(self) -> Optional[float]:
        """upper clamp of the fit; absent: sgd 5e-2, adam/adamw 1e-3"""
    @property
    def lr_limit_min(self) -> Optional[float]:
        """lower clamp of the fit; absent: sgd 5e-4, adam/adamw 3e-4"""
    @property
    def decay_kind(self) -> Literal["cos", "step", "linear", "constant"]:
        """cos, step, linear or constant (cos, linear: with warm-up and tail)"""
    @property
    def decay_warmup_iters_ratio(self) -> float:
        """warm-up epochs = min(max(ratio * total, 1), 3), quadratic"""
    @property
    def decay_warmup_lr_ratio(self) -> float:
        """warm-up starts at max(ratio * init_fit, 1e-6)"""
    @property
    def decay_no_aug_iter_ratio(self) -> float:
        """tail at min_fit for min(max(ratio * total, 1), 15) epochs"""
    @property
    def decay_step_num(self) -> int:
        """step decay: distinct values from init_fit down to min_fit"""
    @property
    def epochs_total(self) -> int:
        """run length; the schedule spans all epochs of both phases"""
    @property
    def epochs_start(self) -> int:
        """first epoch to train (resuming by hand)"""
    @property
    def phases_freeze(self) -> bool:
        """train a frozen-backbone phase first; the fit is redone at its end"""
    @property
    def phases_freeze_epochs(self) -> int:
        """length of the frozen phase"""
    @property
    def phases_freeze_batch_size(self) -> int:
        """batch size while frozen"""
    @property
    def phases_unfreeze_batch_size(self) -> int:
        """batch size once unfrozen (the whole run without a frozen phase)"""
    @property
    def updates_per(self) -> Literal["epoch", "iteration"]:
        """epoch: once before each epoch (the original); iteration: before every step"""
    @property
    def updates_iters_per_epoch(self) -> Optional[int]:
        """per-iteration: a fixed count for every epoch (or dataset_size)"""
    @property
    def updates_dataset_size(self) -> Optional[int]:
        """per-iteration: train-set size; iterations = size / the phase's batch size"""
    @property
    def updates_drop_last(self) -> bool:
        """with dataset_size: floor (true) or ceil (false)"""
# fields: end

class PlanError(ValueError):
    """A plan was refused: the text names every broken field and its rule, as the `lrplan` CLI
    prints it. `violations` lists them (empty for a plan file that does not parse)."""

    violations: tuple[Violation, ...]

class Violation:
    """One broken rule of a plan: the field's dotted path, the rule in words and the value given."""

    @property
    def field(self) -> str:
        """Dotted path of the field (`lr.init`)."""
    @property
    def rule(self) -> str:
        """The rule in words (`must be a finite number greater than 0`)."""
    @property
    def value(self) -> str:
        """The offending value as given."""

class Field:
    """A plan field: its dotted path, keyword, type, default and meaning, from the schedule crate's
    field table. `lrplan.FIELDS` holds them all, in plan-file order."""

    @property
    def path(self) -> str:
        """The dotted path in the plan file (`lr.init`); also the key of `Plan.to_dict()` and the
        field a violation names."""
    @property
    def name(self) -> str:
        """The keyword of `Plan(...)` and `Plan.replace(...)`, and the attribute (`lr_init`)."""
    @property
    def kind(self) -> Literal["float", "int", "bool", "choice"]:
        """The value's type: "float", "int", "bool" or "choice"."""
    @property
    def choices(self) -> tuple[str, ...]:
        """The names a choice field takes (empty for other kinds)."""
    @property
    def optional(self) -> bool:
        """Whether the field may be None (absent: the rule its doc states applies)."""
    @property
    def default(self) -> FieldValue:
        """The value of a plan that does not set the field."""
    @property
    def label(self) -> str:
        """A short label (the planner page's)."""
    @property
    def doc(self) -> str:
        """What the field means, in one line."""
    @property
    def only_when(self) -> Optional[tuple[str, str]]:
        """`(path, value)` of the field this one only matters for, e.g. `("decay.kind", "step")`;
        None when it always matters."""

class Plan(_PlanAttributes):
    """A learning-rate plan: the optimizer, fitted rates, decay, epochs, phases and update unit.

    Fields are set by keyword, a field's dotted path with `_` for `.` (`lr_init` for
    `lr.init`), or by a mapping of dotted paths; every other field keeps the original's
    default. `lrplan.FIELDS` lists them. A plan is immutable and always valid: an invalid one
    raises `lrplan.PlanError` (a ValueError) naming every broken field.

        Plan(optimizer_kind="adam", lr_init=1e-3, epochs_total=100)
        Plan({"lr.init": 1e-3, "updates.per": "iteration", "updates.iters_per_epoch": 500})"""

    def __init__(
        self, fields: Optional[Mapping[str, FieldValue]] = None, /, **changes: Unpack[PlanFields]
    ) -> None: ...
    def replace(
        self, fields: Optional[Mapping[str, FieldValue]] = None, /, **changes: Unpack[PlanFields]
    ) -> Plan:
        """A copy with the given fields changed (keywords or a mapping of dotted paths, as for
        `Plan(...)`); the changes are checked together, so related fields change in one call."""
    @staticmethod
    def default() -> Plan:
        """The original's settings: SGD at 1e-2, cosine over 300 epochs, a 50-epoch frozen phase
        at batch size 16, then batch size 8, the lr updated once per epoch."""
    @staticmethod
    def from_toml(text: str) -> Plan:
        """Reads a plan file's text (TOML), as the CLI, the page and the trainer do."""
    @staticmethod
    def from_bytes(data: bytes) -> Plan:
        """Reads a plan file's bytes (UTF-8, with or without a byte-order mark)."""
    @staticmethod
    def load(path: Union[str, os.PathLike[str]]) -> Plan:
        """Reads a plan file. A refused file raises PlanError with the text `lrplan PATH` prints
        after its `lrplan: ` prefix."""
    def to_toml(self) -> str:
        """The plan file's text: commented TOML that reads back to the same plan, bit for bit
        (what the page's "Download plan.toml" gives)."""
    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """Writes the plan file (`to_toml()`) to `path`."""
    def to_dict(self) -> dict[str, FieldValue]:
        """Every field by dotted path, in plan-file order; None for an absent optional field."""
    def schedule(self) -> Schedule:
        """Compiles the plan: its phases, fits and the lr of every step."""
    def __getitem__(self, name: str) -> FieldValue:
        """`plan["lr.init"]`: a field by dotted path (or keyword)."""
    def __eq__(self, other: object) -> bool: ...

class Schedule:
    """A compiled plan: what the lr is at each step. Build it with `Plan.schedule()`.

    Steps are numbered from 0 at the first iteration of `epochs.start`; a per-epoch plan has one
    step per epoch, a per-iteration plan one per iteration. Evaluating a step is a pure function
    of it, so any step can be asked for in any order."""

    @property
    def plan(self) -> Plan:
        """The plan this schedule was compiled from."""
    @property
    def per_iteration(self) -> bool:
        """True when the lr changes every iteration, False when once per epoch."""
    @property
    def total_steps(self) -> int:
        """Steps in the whole run, from `epochs.start`."""
    def __len__(self) -> int: ...
    def lr(self, epoch: int, iteration: int = 0) -> float:
        """The learning rate at iteration `iteration` of `epoch` (0 for per-epoch plans): the value
        the page shows, the CSV holds and the trainer applies. Raises ValueError outside the run."""
    def step(self, index: int) -> Step:
        """The step with run index `index` (negative counts from the end). Raises IndexError past
        either end."""
    def steps(self, start: int = 0) -> Steps:
        """The steps in order from run index `start`: the rows of `lrplan --format csv`, lazily."""
    def first_step_of_epoch(self, epoch: int) -> Optional[int]:
        """Run index of the first step of `epoch`, or None outside the run."""
    def csv(self) -> str:
        """The whole table as CSV, header included: byte for byte what `lrplan --format csv` prints
        and the page downloads."""
    def table(self) -> npt.NDArray[np.void]:
        """The whole table as a NumPy structured array, one row per step, filled in Rust: fields
        `step`, `epoch`, `iteration` (uint64/uint32), `phase` (uint8, an index into
        `lrplan.PHASES`), `batch_size` (uint32), `t` (the position on the curve in epochs) and
        `lr` (float64)."""
    def lrs(self) -> npt.NDArray[np.float64]:
        """Every step's lr as a float64 array (the `lr` column of `table()`, contiguous)."""
    @property
    def phases(self) -> list[Phase]:
        """The phases in order: one, or two when a frozen phase precedes the unfrozen one."""
    def phase_at(self, epoch: int) -> Phase:
        """The phase that trains `epoch`. Raises ValueError outside the run."""
    @property
    def warmup(self) -> Optional[Warmup]:
        """The quadratic warm-up (cos and linear decay), None for the others."""
    @property
    def tail(self) -> Optional[Tail]:
        """The constant tail at the fitted minimum (cos and linear decay), None for the others."""
    @property
    def boundary(self) -> Optional[Boundary]:
        """Where the backbone unfreezes and the lr jumps with the refit, None without a second
        phase in the run."""
    def summary(self) -> str:
        """The summary `lrplan PLAN` prints: fits and why, warm-up, tail, boundary, step count."""

class Step:
    """One step of the run: a row of the CSV, with `t`, its position on the curve in epochs."""

    @property
    def step(self) -> int:
        """Run index, 0 at the first iteration of `epochs.start` (the CSV's `step`)."""
    @property
    def epoch(self) -> int:
        """The epoch the step trains."""
    @property
    def iteration(self) -> int:
        """Iteration within the epoch; always 0 for per-epoch plans."""
    @property
    def phase(self) -> PhaseName:
        """"freeze" or "unfreeze"."""
    @property
    def batch_size(self) -> int:
        """The phase's batch size."""
    @property
    def t(self) -> float:
        """Position on the curve in epochs: `epoch + iteration / iters_per_epoch`."""
    @property
    def lr(self) -> float:
        """The learning rate of the step."""
    def __eq__(self, other: object) -> bool: ...

class Steps(Iterator[Step]):
    """Iterator over a schedule's steps (`Schedule.steps()`)."""

    def __iter__(self) -> Steps: ...
    def __next__(self) -> Step: ...

class Phase:
    """One phase of the run: its epochs, batch size, steps and the fit of its learning rates."""

    @property
    def name(self) -> PhaseName:
        """"freeze" (backbone frozen) or "unfreeze"."""
    @property
    def first_epoch(self) -> int:
        """First epoch of the phase."""
    @property
    def end_epoch(self) -> int:
        """One past the phase's last epoch."""
    @property
    def batch_size(self) -> int:
        """The batch size the phase trains at."""
    @property
    def iters_per_epoch(self) -> int:
        """Learning-rate updates per epoch: 1 for per-epoch plans, else the loader's batches."""
    @property
    def first_step(self) -> int:
        """Run index of the phase's first step."""
    @property
    def steps(self) -> int:
        """Steps in the phase."""
    @property
    def fit(self) -> Fit:
        """The learning rates fitted to this phase's batch size."""
    @property
    def step_decay(self) -> Optional[tuple[float, float]]:
        """Step decay only: `(decay_rate, step_size)`, the factor and its period in epochs."""

class Fit:
    """The learning rates fitted to a batch size: `min(max(bs / nbs * lr, limit_min), limit_max)`,
    with which bound, if any, decided. `str(fit)` explains it in one line."""

    @property
    def init(self) -> float:
        """The lr the schedule starts from (`Init_lr_fit`)."""
    @property
    def min(self) -> float:
        """The lr the schedule ends at (`Min_lr_fit`)."""
    @property
    def init_scaled(self) -> float:
        """`bs / nbs * lr.init`, before clamping."""
    @property
    def min_scaled(self) -> float:
        """`bs / nbs * lr.min`, before clamping."""
    @property
    def init_clamp(self) -> Literal["none", "up", "down"]:
        """How the clamp changed `init`: "none", "up" (to limit_min) or "down" (to limit_max)."""
    @property
    def min_clamp(self) -> Literal["none", "up", "down"]:
        """How the clamp changed `min`: "none", "up" or "down" (to the limits times 1e-2)."""
    @property
    def limit_max(self) -> float:
        """The upper clamp of `init` (`min` uses it times 1e-2)."""
    @property
    def limit_min(self) -> float:
        """The lower clamp of `init` (`min` uses it times 1e-2)."""
    @property
    def batch_size(self) -> int:
        """The batch size fitted to."""
    @property
    def nbs(self) -> int:
        """The nominal batch size `lr.init` and `lr.min` are given for."""

class Warmup:
    """The quadratic warm-up: its length in epochs and the lr it starts from."""

    @property
    def epochs(self) -> float:
        """Length in epochs: `min(max(warmup_iters_ratio * total, 1), 3)`."""
    @property
    def start_lr(self) -> float:
        """The lr at step 0: `max(warmup_lr_ratio * init, 1e-6)`."""

class Tail:
    """The constant tail at the fitted minimum: its length in epochs and where it starts."""

    @property
    def epochs(self) -> float:
        """Length in epochs: `min(max(no_aug_iter_ratio * total, 1), 15)`."""
    @property
    def start_epoch(self) -> float:
        """The epoch from which the lr is the fitted minimum: `total - epochs`."""

class Boundary:
    """The unfreeze epoch, with the lr of the last step before it and of the first at it (the
    refit's jump)."""

    @property
    def epoch(self) -> int:
        """The first epoch of the unfrozen phase."""
    @property
    def lr_before(self) -> float:
        """The lr of the frozen phase's last step (a per-iteration plan's last iteration)."""
    @property
    def lr_after(self) -> float:
        """The lr of the unfrozen phase's first step, from the refitted rates."""
