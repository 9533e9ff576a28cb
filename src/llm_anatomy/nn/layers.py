"""The fully connected (linear) layer, with its backward pass written out."""

from __future__ import annotations

import math

import torch

from llm_anatomy.nn.init import kaiming_uniform_
from llm_anatomy.nn.module import Module, check_tensor


# --8<-- [start:linear]
class Linear(Module):
    """``y = x W^T + b``: every output is a weighted sum of all the inputs.

    The weights are initialised exactly as ``torch.nn.Linear`` does: ``W`` and ``b`` both
    from ``U(-1/sqrt(in_features), 1/sqrt(in_features))`` (torch writes the weight's
    bound as Kaiming uniform with ``a = sqrt(5)``). With the same seed the two layers start
    with the same numbers.

    Args:
        in_features: The width of the input.
        out_features: The width of the output.
        bias: Whether to add a learnable bias.
        generator: The source of the initial values, a CPU ``torch.Generator``; the
            numbers are drawn on the CPU and then moved, so every device gets the same ones.
        dtype: The floating-point type of the parameters.
        device: Where the parameters live.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear needs positive sizes, got {in_features} -> {out_features}")
        self.in_features, self.out_features = in_features, out_features
        weight = torch.empty(out_features, in_features, dtype=dtype)
        kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        self.params["weight"] = weight.to(device)  # (out, in)
        if bias:
            bound = 1 / math.sqrt(in_features)
            b = torch.empty(out_features, dtype=dtype).uniform_(-bound, bound, generator=generator)
            self.params["bias"] = b.to(device)  # (out,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in_features) -> (..., out_features)."""
        check_tensor(x, "Linear", width=self.in_features)
        self.cache = x
        out = x @ self.params["weight"].T
        if "bias" in self.params:
            out = out + self.params["bias"]
        return out

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        """dL/dW = g^T x, dL/db = sum of g over the examples, dL/dx = g W."""
        x = self.saved()
        x_2d = x.reshape(-1, self.in_features)  # (N, in), N = all leading dims
        g_2d = grad_out.reshape(-1, self.out_features)  # (N, out)
        self.grads["weight"] = g_2d.T @ x_2d  # (out, in)
        if "bias" in self.params:
            self.grads["bias"] = g_2d.sum(dim=0)  # (out,)
        return grad_out @ self.params["weight"]  # (..., in)


# --8<-- [end:linear]
