"""Softmax, and the cross-entropy loss fused with it.

Softmax turns a vector of scores (logits) into probabilities. On its own its backward pass
needs a Jacobian-vector product; followed by the cross-entropy loss, the two derivatives
collapse into ``probabilities - one_hot(target)``, which is why libraries fuse them.
"""

from __future__ import annotations

import torch

from llm_anatomy.nn.module import Module, check_tensor


# --8<-- [start:softmax]
def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log(softmax(logits))`` computed as ``z - max - log(sum(exp(z - max)))``.

    Subtracting the maximum changes nothing mathematically and keeps every exponent
    ``<= 0``: no overflow, and the largest term is exactly 1, so the sum is never 0.
    """
    shifted = logits - logits.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``exp(z_i) / sum_j exp(z_j)`` along ``dim``, shifted by the maximum for stability."""
    e = (logits - logits.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)


class Softmax(Module):
    """The softmax layer; its backward pass is ``p * (g - sum(g * p))`` along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "Softmax")
        p = softmax(x, self.dim)
        self.cache = p
        return p

    def backward(self, grad_out: torch.Tensor) -> torch.Tensor:
        p = self.saved()
        return p * (grad_out - (grad_out * p).sum(dim=self.dim, keepdim=True))


# --8<-- [end:softmax]


# --8<-- [start:cross_entropy]
class CrossEntropyLoss(Module):
    """The mean of ``-log softmax(logits)[target]`` over a batch, with a fused backward pass.

    Call it as ``loss = criterion(logits, targets)`` and then ``criterion.backward()``,
    which returns ``dL/d logits = (softmax(logits) - one_hot(targets)) / N``.
    """

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.forward(logits, targets)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """logits (N, C), targets (N,) integer class indices -> the scalar mean loss."""
        check_tensor(logits, "CrossEntropyLoss", ndim=2)
        _check_targets(targets, *logits.shape)
        targets = targets.long()
        log_probs = log_softmax(logits)  # (N, C)
        self.cache = (log_probs, targets)
        picked = log_probs.gather(1, targets[:, None])  # (N, 1): log p of the true class
        return -picked.mean()

    def backward(self, grad_out: torch.Tensor | float = 1.0) -> torch.Tensor:
        """``dL/d logits``, (N, C); ``grad_out`` scales it (1 when the loss is the output)."""
        log_probs, targets = self.saved()
        n = log_probs.shape[0]
        grad = log_probs.exp()  # softmax probabilities
        grad[torch.arange(n, device=grad.device), targets] -= 1  # minus the one-hot targets
        return grad * (grad_out / n)


# --8<-- [end:cross_entropy]


def _check_targets(targets: object, n: int, n_classes: int) -> None:
    if not isinstance(targets, torch.Tensor) or targets.dtype not in (torch.int32, torch.int64):
        raise TypeError("targets must be an integer tensor of class indices (torch.long)")
    if n == 0:
        raise ValueError("CrossEntropyLoss got an empty batch: the mean of no losses is undefined")
    if targets.shape != (n,):
        raise ValueError(
            f"targets must have shape ({n},) to match the logits, got {tuple(targets.shape)}"
        )
    if targets.min() < 0 or targets.max() >= n_classes:
        raise ValueError(f"targets must be class indices in [0, {n_classes}), got values outside")
