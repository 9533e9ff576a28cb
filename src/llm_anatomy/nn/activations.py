"""Activation functions with their derivatives: sigmoid, tanh, ReLU, GELU and SiLU.

Each class caches one tensor in the forward pass, whichever makes the derivative cheapest:
the output for sigmoid and tanh (``s(1 - s)``, ``1 - t**2``), the input for the others.
``exp``, ``tanh`` and ``erf`` are the elementary functions we build on; everything else is
written out.
"""

from __future__ import annotations

import math

import torch

from llm_anatomy.nn.module import Module, check_tensor

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
GELU_CUBIC = 0.044715  # the coefficient of the tanh approximation of GELU


# --8<-- [start:sigmoid]
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-x))`` without overflow: exp is only ever taken of ``-|x|``."""
    e = torch.exp(-x.abs())  # in (0, 1]
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Module):
    """``s = sigmoid(x)``; ``ds/dx = s (1 - s)``, at most 1/4."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "Sigmoid")
        s = sigmoid(x)
        self.cache = s
        return s

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        s = self.saved()
        return grad_out * s * (1 - s)


class Tanh(Module):
    """``t = tanh(x) = 2 sigmoid(2x) - 1``; ``dt/dx = 1 - t**2``, at most 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "Tanh")
        t = torch.tanh(x)
        self.cache = t
        return t

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        t = self.saved()
        return grad_out * (1 - t * t)


# --8<-- [end:sigmoid]


# --8<-- [start:relu]
class ReLU(Module):
    """``max(0, x)``; the derivative is 1 where ``x > 0`` and 0 elsewhere (also at 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "ReLU")
        self.cache = x > 0  # all the backward pass needs: a mask
        return x.clamp_min(0)

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        return grad_out * self.saved()


# --8<-- [end:relu]


# --8<-- [start:gelu]
class GELU(Module):
    """``x * Phi(x)``, Phi the standard normal CDF: ReLU's smooth cousin, used by GPT-2.

    Args:
        approximate: ``"none"`` for the exact form ``0.5 x (1 + erf(x / sqrt 2))``;
            ``"tanh"`` for ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``, the
            approximation GPT-2 was trained with (torch's ``approximate="tanh"``).
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "GELU")
        self.cache = x
        if self.approximate == "tanh":
            inner = SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3)
            return 0.5 * x * (1 + torch.tanh(inner))
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        x = self.saved()
        if self.approximate == "tanh":
            t = torch.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3))
            d_inner = SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * x**2)
            return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))  # Phi(x)
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # phi(x)
        return grad_out * (cdf + x * pdf)  # product rule on x * Phi(x)


class SiLU(Module):
    """``x * sigmoid(x)`` (also called swish), used by LLaMA-style models.

    Its derivative is ``s + x s (1 - s)`` with ``s = sigmoid(x)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "SiLU")
        self.cache = x
        return x * sigmoid(x)

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        x = self.saved()
        s = sigmoid(x)
        return grad_out * (s + x * s * (1 - s))


# --8<-- [end:gelu]


class Identity(Module):
    """``x`` unchanged: the "activation" of a linear model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "Identity")
        self.cache = True
        return x

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        self.saved()
        return grad_out


# --8<-- [start:registry]
ACTIVATIONS = {
    "identity": Identity,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "gelu": GELU,
    "gelu_tanh": lambda: GELU(approximate="tanh"),
    "silu": SiLU,
}


def make_activation(name: str) -> Module:
    """A new activation layer by name, for example ``make_activation("relu")``.

    Raises:
        ValueError: for a name that is not in ``ACTIVATIONS``.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


# --8<-- [end:registry]
