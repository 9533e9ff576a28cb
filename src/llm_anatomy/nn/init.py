"""Weight initialisation: Xavier (Glorot) and Kaiming (He), with torch.nn.init's conventions.

Both schemes pick the spread of the random weights so that the variance of the signal stays
the same from layer to layer. They differ in what they assume about the nonlinearity and in
which fan they count. The functions fill a tensor in place, draw their random numbers with
exactly the calls ``torch.nn.init`` makes, and so give the same numbers for the same seed.
"""

from __future__ import annotations

import math

import torch

LINEAR_NAMES = ("linear", "identity", "sigmoid")


# --8<-- [start:fans]
def fan_in_and_fan_out(weight: torch.Tensor) -> tuple[int, int]:
    """The number of inputs and outputs each weight of ``weight`` connects.

    A linear layer's weight has shape ``(out_features, in_features)``; a convolution's
    ``(out_channels, in_channels, *kernel)``, where every weight also spans the kernel's
    ``receptive field``.

    Raises:
        ValueError: for a tensor with fewer than two dimensions (a bias has no fans).
    """
    if weight.dim() < 2:
        raise ValueError(
            f"fans need a tensor with at least 2 dimensions, got shape {tuple(weight.shape)}"
        )
    receptive_field = math.prod(weight.shape[2:])  # 1 for a linear layer
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which a nonlinearity shrinks the standard deviation, inverted.

    ``relu`` zeroes half of its inputs and halves the second moment, hence ``sqrt(2)``;
    ``tanh`` is compressive, hence ``5/3``; ``leaky_relu`` with slope ``a`` keeps part of
    the negative half, hence ``sqrt(2 / (1 + a**2))`` (``a`` defaults to 0.01 as in torch).

    Raises:
        ValueError: for a nonlinearity without a known gain.
    """
    if nonlinearity in LINEAR_NAMES:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    known = (*LINEAR_NAMES, "tanh", "relu", "leaky_relu", "selu")
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}: expected one of {known}")


# --8<-- [end:fans]


# --8<-- [start:xavier]
def xavier_uniform_(
    weight: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill ``weight`` from ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``, in place."""
    fan_in, fan_out = fan_in_and_fan_out(weight)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # U(-a, a) has standard deviation a / sqrt(3)
    with torch.no_grad():
        return weight.uniform_(-bound, bound, generator=generator)


def xavier_normal_(
    weight: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill ``weight`` from ``N(0, std**2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(weight)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        return weight.normal_(0.0, std, generator=generator)


# --8<-- [end:xavier]


# --8<-- [start:kaiming]
def kaiming_std(
    weight: torch.Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> float:
    """The standard deviation of He initialisation: ``gain / sqrt(fan)``.

    Raises:
        ValueError: if ``mode`` is neither ``"fan_in"`` nor ``"fan_out"``.
    """
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(weight)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    weight: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill ``weight`` from ``U(-b, b)`` with ``b = sqrt(3) * kaiming_std(...)``, in place.

    Args:
        weight: The tensor to fill, shape ``(fan_out, fan_in, ...)``.
        a: The negative slope of a leaky ReLU (only used with ``"leaky_relu"``).
        mode: ``"fan_in"`` keeps the forward signal's variance, ``"fan_out"`` the gradient's.
        nonlinearity: The activation that follows this layer; torch's default is
            ``"leaky_relu"`` with ``a = 0``, which is the same gain as ``"relu"``.
        generator: The source of randomness (a CPU generator for a CPU tensor).
    """
    bound = math.sqrt(3.0) * kaiming_std(weight, a, mode, nonlinearity)
    with torch.no_grad():
        return weight.uniform_(-bound, bound, generator=generator)


def kaiming_normal_(
    weight: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill ``weight`` from ``N(0, kaiming_std(...)**2)``, in place (arguments as above)."""
    std = kaiming_std(weight, a, mode, nonlinearity)
    with torch.no_grad():
        return weight.normal_(0.0, std, generator=generator)


# --8<-- [end:kaiming]
