"""Mini-batches: one epoch of a data set, shuffled with a seeded generator."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from llm_anatomy.validation import check_same_length


# --8<-- [start:minibatches]
def minibatches(
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Split one epoch of ``(X, y)`` into mini-batches, in a shuffled order.

    The order is ``torch.randperm(len(X), generator=generator)``, the permutation that torch's
    ``RandomSampler`` draws, so a ``DataLoader`` with that sampler gives the same batches.

    Args:
        X: The inputs, one row per example, shape ``(n, ...)``.
        y: The targets, shape ``(n, ...)``.
        batch_size: Examples per batch; the last batch may be smaller.
        shuffle: Visit the examples in a random order (else in the stored order).
        generator: The random generator (seeded for reproducible batches); on the CPU.
        drop_last: Leave out the last batch if it is smaller than ``batch_size``.

    Returns:
        An iterator over ``(X_batch, y_batch)`` pairs.

    Raises:
        ValueError: if ``X`` and ``y`` have different lengths or ``batch_size`` is not a positive integer.
    """
    check_same_length(X, y)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(X)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)  # (n,)
    order = order.to(X.device)
    stop = n - n % batch_size if drop_last else n

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, stop, batch_size):
            rows = order[start : start + batch_size]  # (batch_size,) indices
            yield X[rows], y[rows]

    return batches()


# --8<-- [end:minibatches]
