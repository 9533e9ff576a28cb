"""Turning raw inputs into the columns a linear model is fitted on.

A linear model is linear in its *coefficients*, not in its inputs: a column of ones gives it
an intercept, powers of ``x`` let it bend, and standardizing puts every column on the same
scale so that gradient descent and penalties treat them alike.
"""

from __future__ import annotations

import numpy as np

from llm_anatomy.validation import as_matrix, as_vector


# --8<-- [start:add_constant]
def add_constant(X: object) -> np.ndarray:
    """Prepend a column of ones to ``X``: the design matrix of a model with an intercept.

    Args:
        X: Features, shape (n, p); a 1-D array is one feature.

    Returns:
        The design matrix ``[1, X]``, shape (n, p + 1).
    """
    X = as_matrix(X)  # (n, p)
    return np.column_stack([np.ones(len(X)), X])  # (n, p + 1)


# --8<-- [end:add_constant]


# --8<-- [start:polynomial]
def polynomial_features(x: object, degree: int) -> np.ndarray:
    """The powers ``x, x**2, ..., x**degree`` of one input, as columns.

    Fitting a linear model on these columns fits a polynomial of the given degree; the
    intercept (the power 0) is added by the fitting function.

    Args:
        x: One input variable, shape (n,).
        degree: The highest power, at least 1.

    Returns:
        The features, shape (n, degree).

    Raises:
        ValueError: if ``degree`` is not a positive integer or ``x`` is not finite.
    """
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 1:
        raise ValueError(f"degree must be an integer >= 1, got {degree!r}")
    x = as_vector(x, "x")  # (n,)
    return x[:, None] ** np.arange(1, degree + 1)  # (n, degree)


# --8<-- [end:polynomial]


# --8<-- [start:standardize]
def standardize(X: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Center every column of ``X`` at 0 and scale it to standard deviation 1.

    Args:
        X: Features, shape (n, p).

    Returns:
        ``(Z, mean, scale)`` with ``Z = (X - mean) / scale``; ``mean`` and ``scale`` have
        shape (p,) and are what a model needs to apply the same transformation to new data.

    Raises:
        ValueError: if a column is constant (it cannot be scaled to unit variance).
    """
    X = as_matrix(X)  # (n, p)
    mean = X.mean(axis=0)  # (p,)
    scale = X.std(axis=0)  # (p,) population standard deviation, ddof=0
    constant = np.flatnonzero(scale == 0)
    if constant.size:
        raise ValueError(f"cannot standardize: column(s) {constant.tolist()} are constant")
    return (X - mean) / scale, mean, scale


# --8<-- [end:standardize]
