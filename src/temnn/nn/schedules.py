"""Learning-rate schedules of ``temnn train --schedule``: torch's schedulers, stepped every batch.

- ``constant``: the optimizer's learning rate throughout (the thesis recipe).
- ``onecycle``: :class:`torch.optim.lr_scheduler.OneCycleLR` with the optimizer's learning
  rate as the peak: a cosine rise from lr/25 over the warm-up, then a cosine fall to
  lr/(25·10⁴) at the last step (torch's defaults, including β₁/momentum cycling).
- ``cosine``: :class:`torch.optim.lr_scheduler.LambdaLR` with a linear warm-up from 0 to the
  learning rate, then half a cosine period down to 0 at the last step.

The schedulers' ``state_dict`` is plain numbers and strings; it is stored in the
checkpoint's JSON card so that a resumed run continues the same curve.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from ..errors import TemnnError

__all__ = ["SCHEDULES", "make_scheduler", "scheduler_state", "warmup_steps"]

SCHEDULES = ("constant", "onecycle", "cosine")

_ONECYCLE_WARMUP = 0.3
"""Fraction of the run that one-cycle rises over when no warm-up is given (torch's ``pct_start``)."""


def warmup_steps(schedule: str, warmup: float | None, epochs: int, steps_per_epoch: int) -> int:
    """Optimizer steps of the warm-up.

    Parameters
    ----------
    schedule : str
        One of :data:`SCHEDULES`.
    warmup : float, optional
        Warm-up length [epochs]; ``None``: 30 % of the run for one-cycle, none for cosine.
    epochs, steps_per_epoch : int
        Length of the whole run.
    """
    total = epochs * steps_per_epoch
    if warmup is None:
        return round(_ONECYCLE_WARMUP * total) if schedule == "onecycle" else 0
    if not (math.isfinite(warmup) and 0 <= warmup < epochs):
        raise TemnnError(f"--warmup must be a number of epochs ≥ 0 and below EPOCHS ({epochs}), got {warmup}")
    return round(warmup * steps_per_epoch)


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    *,
    epochs: int,
    steps_per_epoch: int,
    warmup: float | None = None,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The scheduler of ``--schedule`` (``None`` for ``constant``), to be stepped after every batch.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer; its learning rate is the peak of the schedule.
    schedule : str
        ``"constant"``, ``"onecycle"`` or ``"cosine"``.
    epochs : int
        Training epochs of the whole run (the schedule ends with the last one).
    steps_per_epoch : int
        Optimizer steps (batches) per epoch.
    warmup : float, optional
        Warm-up length [epochs] (see :func:`warmup_steps`).
    """
    if schedule not in SCHEDULES:
        raise TemnnError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if schedule == "constant":
        if warmup:
            raise TemnnError("--warmup needs --schedule onecycle or cosine")
        return None
    total = epochs * steps_per_epoch
    rise = warmup_steps(schedule, warmup, epochs, steps_per_epoch)
    if schedule == "onecycle":
        if total < 3:
            raise TemnnError(f"--schedule onecycle needs at least 3 optimizer steps in the run, got {total} "
                             f"({epochs} epochs × {steps_per_epoch} batches); train longer or use a smaller batch")
        lrs = [group["lr"] for group in optimizer.param_groups]
        # torch's phases need the peak strictly inside the run: two steps up at least, one down
        fraction = min(max(rise, 2), total - 1) / total
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lrs, total_steps=total, pct_start=fraction)

    def cosine(step: int) -> float:
        if step < rise:
            return (step + 1) / rise
        return 0.5 * (1 + math.cos(math.pi * (step - rise) / max(total - rise, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)


def scheduler_state(scheduler: torch.optim.lr_scheduler.LRScheduler | None) -> dict[str, Any] | None:
    """The scheduler's ``state_dict`` as JSON-ready data (``None`` without a scheduler)."""
    if scheduler is None:
        return None
    state = scheduler.state_dict()
    try:
        return json.loads(json.dumps(state))
    except TypeError as err:  # a torch version whose state holds functions: refuse rather than pickle
        raise TemnnError(f"cannot store the {type(scheduler).__name__} state as JSON: {err}") from None
