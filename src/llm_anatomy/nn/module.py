"""The contract every layer of chapter 8 follows: a forward pass and a hand-written backward pass.

No autograd is involved. ``forward`` computes the output and keeps in ``cache`` exactly what
the derivative will need; ``backward(grad_out)`` receives ``dL/d output``, stores
``dL/d parameter`` in ``grads`` and returns ``dL/d input``, which the previous layer receives
as its own ``grad_out``. This is the design of Stanford's CS231n assignments, and it makes
every derivative of the chapter a few lines of readable code.
"""

from __future__ import annotations

from typing import Any

import torch


# --8<-- [start:module]
class Module:
    """Base class of the layers: parameters, their gradients, a cache, and a mode.

    Attributes:
        params: Name -> parameter tensor (``"weight"``, ``"bias"``), the names torch uses.
        grads: Name -> gradient of the loss, filled by :meth:`backward`. Unlike torch,
            a backward pass *overwrites* the gradients instead of adding to them.
        cache: What :meth:`forward` saved for :meth:`backward`; ``None`` before it runs.
        training: ``True`` in training mode (the default), ``False`` in evaluation mode.
    """

    def __init__(self) -> None:
        self.params: dict[str, torch.Tensor] = {}
        self.grads: dict[str, torch.Tensor] = {}
        self.cache: Any = None
        self.training = True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the output and cache what :meth:`backward` needs."""
        raise NotImplementedError

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        """Take ``dL/d output``, store ``dL/d params`` in ``grads``, return ``dL/d input``."""
        raise NotImplementedError

    def parameters(self) -> dict[str, torch.Tensor]:
        """The tensors an optimizer updates, by name."""
        return self.params

    def gradients(self) -> dict[str, torch.Tensor]:
        """The gradients of the last backward pass, with the same names as :meth:`parameters`."""
        return self.grads

    def train(self, mode: bool = True) -> Module:
        """Switch to training mode (or, with ``mode=False``, evaluation mode)."""
        self.training = mode
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def saved(self) -> Any:
        """The cache of the last forward pass; a clear error if there was none."""
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward")
        return self.cache


# --8<-- [end:module]


def check_tensor(x: object, layer: str, width: int | None = None, ndim: int | None = None) -> None:
    """Raise a clear error unless ``x`` is a tensor of the shape ``layer`` expects.

    Args:
        x: The input given to the layer.
        layer: The layer's name, for the message.
        width: The required size of the last dimension (the features), if any.
        ndim: The required number of dimensions, if any.

    Raises:
        TypeError: if ``x`` is not a ``torch.Tensor``.
        ValueError: if its number of dimensions or its last dimension is wrong.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{layer} expects a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{layer} expects a {ndim}-D input, got shape {tuple(x.shape)}")
    if x.dim() == 0:
        raise ValueError(f"{layer} expects at least one dimension (the features), got a scalar")
    if width is not None and x.shape[-1] != width:
        raise ValueError(
            f"{layer} expects {width} features in the last dimension, "
            f"got input of shape {tuple(x.shape)}"
        )
