"""Checks of the data a model is given, with errors that say what is wrong.

A regression fed a NaN, a label of 2 or a design matrix with a duplicated column does not
crash: it returns garbage. Every estimator in the book calls these checks first, so bad
input fails loudly and the message names the problem.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_matrix(X: object, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D float array with finite values.

    A 1-D input is read as one feature (a column).

    Raises:
        ValueError: if ``X`` is empty, has more than two dimensions, or holds NaN or infinity.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples x features), got shape {X.shape}")
    if X.size == 0:
        raise ValueError(f"{name} is empty (shape {X.shape})")
    check_finite(X, name)
    return X


def as_vector(y: object, name: str = "y") -> np.ndarray:
    """Return ``y`` as a 1-D float array with finite values.

    Raises:
        ValueError: if ``y`` is not one-dimensional (a column vector is accepted) or not finite.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    check_finite(y, name)
    return y


def check_finite(a: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` naming how many NaN or infinite entries ``a`` has."""
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} contains {int(np.isnan(a).sum())} NaN and {int(np.isinf(a).sum())} infinite values")


def check_same_length(X: np.ndarray, y: np.ndarray) -> None:
    """Raise ``ValueError`` if ``X`` and ``y`` describe different numbers of samples."""
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} values: they must describe the same samples")


def check_binary(y: np.ndarray, name: str = "y") -> None:
    """Raise ``ValueError`` unless every label is 0 or 1."""
    labels = np.unique(y)
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold binary labels 0 and 1, found {labels[:10].tolist()}")


def check_full_rank(X: np.ndarray, names: Sequence[str] | None = None) -> None:
    """Raise ``ValueError`` if the columns of ``X`` are linearly dependent (perfect collinearity).

    The message names a column that is a combination of the others, the usual culprits being a
    constant plus a full set of dummy variables (the dummy-variable trap) or a duplicated feature.
    """
    rank = np.linalg.matrix_rank(X)
    if rank == X.shape[1]:
        return
    names = list(names) if names is not None else [f"x{j}" for j in range(X.shape[1])]
    # the first column whose removal does not lower the rank depends on the others
    culprit = next(j for j in range(X.shape[1]) if np.linalg.matrix_rank(np.delete(X, j, axis=1)) == rank)
    raise ValueError(
        f"singular design matrix: rank {rank} < {X.shape[1]} columns (perfect collinearity); "
        f"column {names[culprit]!r} is a linear combination of the others "
        "(a constant plus every level's dummy is the dummy-variable trap)"
    )
