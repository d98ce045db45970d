"""Learning-rate plans for PyTorch, computed by lrplan's Rust schedule crate.

The plan you make on the lrplan page (or in a plan file, or here) gives the same learning rate
at every step, to the last bit, in the page, the ``lrplan`` CLI, the native trainer and a
PyTorch loop driven by :class:`lrplan.torch.PlanScheduler`: all of them call the same Rust code.

    >>> import lrplan
    >>> plan = lrplan.Plan(optimizer_kind="adam", lr_init=1e-3, epochs_total=100)
    >>> s = plan.schedule()
    >>> print(s.phases[0].fit)  # batch 16 of 64: 2.5e-4, raised to Adam's lower limit
    bs 16 / nbs 64: init_lr -> 2.5e-4, clamped up to lr_limit_min 3e-4; min_lr -> 2.5e-5, ...
    >>> s.lr(0), s.boundary.epoch, s.boundary.lr_after
    (2.9999999999999997e-05, 50, 0.00015004953902303462)

``lrplan.torch`` (imported on its own, it needs torch) holds the scheduler and the parameter
groups of the original training scripts.
"""

from ._lrplan import (
    FIELDS,
    PHASES,
    Boundary,
    Field,
    Fit,
    Phase,
    Plan,
    PlanError,
    Schedule,
    Step,
    Steps,
    Tail,
    Violation,
    Warmup,
    __version__,
)

__all__ = [
    "FIELDS",
    "PHASES",
    "Boundary",
    "Field",
    "Fit",
    "Phase",
    "Plan",
    "PlanError",
    "Schedule",
    "Step",
    "Steps",
    "Tail",
    "Violation",
    "Warmup",
    "__version__",
]
