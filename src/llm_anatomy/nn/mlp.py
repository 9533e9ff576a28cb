"""A multilayer perceptron assembled from the layers of this package, and an SGD step."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from llm_anatomy.nn.activations import make_activation
from llm_anatomy.nn.layers import Linear
from llm_anatomy.nn.module import Module
from llm_anatomy.nn.norm import BatchNorm1d, LayerNorm
from llm_anatomy.nn.softmax import CrossEntropyLoss

NORMS = {"batch": BatchNorm1d, "layer": LayerNorm}


# --8<-- [start:mlp]
class MLP(Module):
    """``Linear -> [norm] -> activation`` repeated, and a final ``Linear`` that gives logits.

    The layers sit in a list in the order ``torch.nn.Sequential`` would hold them, and
    :meth:`parameters` names them as Sequential does (``"0.weight"``, ``"1.bias"``, ...),
    so a torch model with the same layers can load our weights by name.

    Args:
        sizes: The widths, input first: ``[2, 16, 16, 2]`` is two hidden layers of 16.
        activation: A name from ``ACTIVATIONS``, used after every hidden layer.
        norm: ``None``, ``"batch"`` (BatchNorm1d) or ``"layer"`` (LayerNorm), placed
            between each hidden ``Linear`` and its activation.
        generator: The source of the initial weights (a CPU ``torch.Generator``).
        dtype: The floating-point type of the parameters.
        device: Where they live.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        norm: str | None = None,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(
                f"an MLP needs at least an input and an output size, got {list(sizes)}"
            )
        if norm is not None and norm not in NORMS:
            raise ValueError(f"norm must be None, 'batch' or 'layer', got {norm!r}")
        self.layers: list[Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            self.layers.append(Linear(n_in, n_out, generator=generator, dtype=dtype, device=device))
            if i < len(sizes) - 2:  # a hidden layer
                if norm is not None:
                    self.layers.append(NORMS[norm](n_out, dtype=dtype, device=device))
                self.layers.append(make_activation(activation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, sizes[0]) -> (N, sizes[-1]): every layer in turn."""
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        """Every layer's backward pass, last layer first: the chain rule, layer by layer."""
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out

    def parameters(self) -> dict[str, torch.Tensor]:
        return {
            f"{i}.{name}": p
            for i, layer in enumerate(self.layers)
            for name, p in layer.params.items()
        }

    def gradients(self) -> dict[str, torch.Tensor]:
        return {
            f"{i}.{name}": g
            for i, layer in enumerate(self.layers)
            for name, g in layer.grads.items()
        }

    def train(self, mode: bool = True) -> MLP:
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self


def sgd_step(model: Module, lr: float) -> None:
    """Move every parameter against its gradient: ``p -= lr * dL/dp``, in place."""
    grads = model.gradients()
    for name, param in model.parameters().items():
        param -= lr * grads[name]


# --8<-- [end:mlp]


# --8<-- [start:fit]
def fit(
    model: Module,
    X: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    lr: float,
    threads: int | None = 1,
) -> list[float]:
    """Train a classifier with full-batch gradient descent on the cross-entropy loss.

    Args:
        model: A module whose output is one logit per class, ``(N, C)``.
        X: The inputs, ``(N, d)``.
        y: The class indices, ``(N,)``.
        steps: The number of gradient steps.
        lr: The learning rate.
        threads: How many CPU threads torch may use meanwhile (restored afterwards).
            Networks this small train fastest on one: each matrix product is shorter than
            the time it takes to wake a second thread. ``None`` leaves the setting alone.

    Returns:
        The loss before each step.
    """
    criterion, losses = CrossEntropyLoss(), []
    saved_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        model.train()
        for _ in range(steps):
            loss = criterion(model(X), y)  # forward
            model.backward(criterion.backward())  # backward: fills every layer's grads
            sgd_step(model, lr)  # update
            losses.append(loss.item())
    finally:
        torch.set_num_threads(saved_threads)
    return losses


# --8<-- [end:fit]
