"""Penalized least squares: ridge (an L2 penalty) and lasso (an L1 penalty).

Both leave the intercept unpenalized and use the objectives of scikit-learn, so that
``ridge(X, y, alpha)`` equals ``sklearn.linear_model.Ridge(alpha)`` and ``lasso(X, y, alpha)``
equals ``sklearn.linear_model.Lasso(alpha)``. Penalties compare coefficients across
features, so the features should be on one scale (standardize them first).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from llm_anatomy.linear.model import LinearModel, check_xy, feature_names


def _center(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Centered copies of ``X`` and ``y``, and the means that were subtracted."""
    x_mean, y_mean = X.mean(axis=0), y.mean()
    return X - x_mean, y - y_mean, x_mean, y_mean


def _check_alpha(alpha: float) -> float:
    if not alpha > 0:
        raise ValueError(f"alpha must be positive (alpha = 0 is ordinary least squares), got {alpha}")
    return float(alpha)


# --8<-- [start:ridge]
def ridge(X: object, y: object, alpha: float, names: Sequence[str] | None = None) -> LinearModel:
    """Ridge regression: minimize ``||y - b0 - X b||**2 + alpha * ||b||**2``.

    The intercept ``b0`` is not penalized. For any ``b`` the best intercept is
    ``mean(y) - mean(X) @ b``; substituting it leaves a problem on centered data, whose
    minimum solves ``(Xc^T Xc + alpha I) b = Xc^T yc``.

    Args:
        X: Features, shape (n, p), without a column of ones.
        y: Targets, shape (n,).
        alpha: The penalty strength, positive.
        names: Feature names (default ``x0, x1, ...``).

    Returns:
        The fitted :class:`~llm_anatomy.linear.LinearModel`.
    """
    X, y = check_xy(X, y)
    alpha = _check_alpha(alpha)
    Xc, yc, x_mean, y_mean = _center(X, y)  # (n, p), (n,), (p,), scalar
    p = X.shape[1]
    coef = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(p), Xc.T @ yc)  # (p,); the matrix is invertible
    return LinearModel(y_mean - x_mean @ coef, coef, feature_names(names, p))


# --8<-- [end:ridge]


# --8<-- [start:soft_threshold]
def soft_threshold(z: np.ndarray | float, threshold: float) -> np.ndarray:
    """Move ``z`` towards 0 by ``threshold``, stopping at 0: ``sign(z) * max(|z| - t, 0)``."""
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


# --8<-- [end:soft_threshold]


# --8<-- [start:lasso]
def lasso(
    X: object,
    y: object,
    alpha: float,
    names: Sequence[str] | None = None,
    tol: float = 1e-10,
    max_sweeps: int = 100_000,
    init: np.ndarray | None = None,
) -> LinearModel:
    """Lasso by cyclic coordinate descent: minimize ``||y - b0 - X b||**2 / (2n) + alpha * ||b||_1``.

    Each step minimizes the objective over one coefficient with the others fixed, which
    has a closed form: soft-thresholding the coefficient's least-squares update.

    Args:
        X: Features, shape (n, p), without a column of ones.
        y: Targets, shape (n,).
        alpha: The penalty strength, positive.
        names: Feature names (default ``x0, x1, ...``).
        tol: Stop when no coefficient moved by more than ``tol`` in a full sweep.
        max_sweeps: The most sweeps over all coefficients; a warning says if it was reached.
        init: Starting coefficients, shape (p,) (default zeros); the solution for a nearby
            ``alpha`` makes a good start (a warm start).

    Returns:
        The fitted :class:`~llm_anatomy.linear.LinearModel`.
    """
    X, y = check_xy(X, y)
    alpha = _check_alpha(alpha)
    Xc, yc, x_mean, y_mean = _center(X, y)
    n, p = Xc.shape
    col_sq = np.sum(Xc**2, axis=0) / n  # (p,); a constant column has 0 and keeps coefficient 0
    coef = np.zeros(p) if init is None else np.array(init, dtype=float)
    resid = yc - Xc @ coef  # (n,)
    for _ in range(max_sweeps):
        largest_step = 0.0
        for j in np.flatnonzero(col_sq):
            # the least-squares coefficient of x_j on the residual without x_j's contribution
            rho = Xc[:, j] @ resid / n + col_sq[j] * coef[j]
            new = soft_threshold(rho, alpha) / col_sq[j]
            if new != coef[j]:
                resid -= Xc[:, j] * (new - coef[j])  # keep resid = yc - Xc @ coef
                largest_step = max(largest_step, abs(new - coef[j]))
                coef[j] = new
        if largest_step <= tol:
            break
    else:
        warnings.warn(f"lasso did not converge in {max_sweeps} sweeps; raise max_sweeps or tol", RuntimeWarning, stacklevel=2)
    return LinearModel(y_mean - x_mean @ coef, coef, feature_names(names, p))


# --8<-- [end:lasso]
