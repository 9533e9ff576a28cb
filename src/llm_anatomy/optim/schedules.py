"""Learning-rate schedules: the learning rate as a function of the step number.

Each function checks its arguments and returns a schedule, a function ``lr_at(step)`` for
``step = 0, 1, 2, ...``. A training loop sets ``optimizer.lr = schedule(step)`` before step
``step``. The values equal those of ``torch.optim.lr_scheduler`` after ``step`` calls of
``scheduler.step()``: ``StepLR``, ``ExponentialLR``, ``LinearLR``, ``CosineAnnealingLR``, and
``SequentialLR`` of the last two for warmup followed by cosine decay.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[int], float]


def _check_lr(lr: float) -> None:
    if not lr >= 0:
        raise ValueError(f"the learning rate must be >= 0, got {lr}")


def _check_count(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_step(step: int) -> None:
    _check_count("step", step, minimum=0)


# --8<-- [start:simple]
def constant(lr: float) -> Schedule:
    """The same learning rate at every step."""
    _check_lr(lr)

    def lr_at(step: int) -> float:
        _check_step(step)
        return lr

    return lr_at


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps (torch's ``StepLR``)."""
    _check_lr(lr)
    _check_count("step_size", step_size)
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")

    def lr_at(step: int) -> float:
        _check_step(step)
        return lr * gamma ** (step // step_size)

    return lr_at


def exponential(lr: float, gamma: float) -> Schedule:
    """Multiply the learning rate by ``gamma`` at every step (torch's ``ExponentialLR``)."""
    _check_lr(lr)
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")

    def lr_at(step: int) -> float:
        _check_step(step)
        return lr * gamma**step

    return lr_at


# --8<-- [end:simple]


# --8<-- [start:warmup_cosine]
def linear_warmup(lr: float, warmup_steps: int, start_factor: float = 0.1) -> Schedule:
    """Grow linearly from ``start_factor * lr`` to ``lr`` over ``warmup_steps``, then stay.

    This is torch's ``LinearLR(start_factor, end_factor=1.0, total_iters=warmup_steps)``.
    """
    _check_lr(lr)
    _check_count("warmup_steps", warmup_steps)
    if not 0 < start_factor <= 1:
        raise ValueError(f"start_factor must be in (0, 1], got {start_factor}")

    def lr_at(step: int) -> float:
        _check_step(step)
        progress = min(step, warmup_steps) / warmup_steps  # 0 -> 1, then stays at 1
        return lr * (start_factor + (1 - start_factor) * progress)

    return lr_at


def cosine(lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    """Fall from ``lr`` to ``min_lr`` along half a cosine wave over ``total_steps``, then stay.

    Up to ``total_steps`` this is torch's ``CosineAnnealingLR(T_max=total_steps, eta_min=min_lr)``
    (which afterwards climbs back up: it is periodic).
    """
    _check_lr(lr)
    _check_count("total_steps", total_steps)
    if not 0 <= min_lr <= lr:
        raise ValueError(f"min_lr must be in [0, lr], got {min_lr}")

    def lr_at(step: int) -> float:
        _check_step(step)
        progress = min(step, total_steps) / total_steps  # 0 -> 1, then stays at 1
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2

    return lr_at


def warmup_cosine(
    lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0, start_factor: float = 0.1
) -> Schedule:
    """Linear warmup for ``warmup_steps``, then cosine decay to ``min_lr`` at ``total_steps``.

    The schedule of most transformer training runs. It equals torch's ``SequentialLR`` of
    ``LinearLR(start_factor, total_iters=warmup_steps)`` and
    ``CosineAnnealingLR(T_max=total_steps - warmup_steps, eta_min=min_lr)`` with the milestone
    ``warmup_steps``. With ``warmup_steps = 0`` it is :func:`cosine`.
    """
    _check_count("warmup_steps", warmup_steps, minimum=0)
    if not isinstance(total_steps, int) or total_steps <= warmup_steps:
        raise ValueError(f"total_steps must be an integer > warmup_steps = {warmup_steps}, got {total_steps!r}")
    decay = cosine(lr, total_steps - warmup_steps, min_lr)
    if warmup_steps == 0:
        return decay
    warmup = linear_warmup(lr, warmup_steps, start_factor)

    def lr_at(step: int) -> float:
        return warmup(step) if step < warmup_steps else decay(step - warmup_steps)

    return lr_at


# --8<-- [end:warmup_cosine]
