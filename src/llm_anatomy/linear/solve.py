"""Three ways to find the least-squares coefficients: normal equations, QR, gradient descent.

All three minimize the same loss, the sum of squared residuals ``||y - X b||**2``. The first
two solve the minimization exactly (up to rounding), the third walks downhill to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import solve_triangular

from llm_anatomy.linear.features import standardize
from llm_anatomy.linear.model import LinearModel, check_xy, feature_names
from llm_anatomy.validation import check_full_rank


# --8<-- [start:normal_equations]
def fit_normal_equations(X: object, y: object) -> np.ndarray:
    """Least squares by solving the normal equations ``(X^T X) b = X^T y``.

    Short and fast, but it squares the condition number of ``X``: avoid it when columns are
    nearly collinear. Use :func:`fit_qr` instead.

    Args:
        X: The design matrix, shape (n, k), including a column of ones if an intercept is
            wanted (see :func:`~llm_anatomy.linear.add_constant`).
        y: The targets, shape (n,).

    Returns:
        The coefficients ``b``, shape (k,).

    Raises:
        ValueError: on NaN/inf, mismatched lengths or a singular design matrix.
    """
    X, y = check_xy(X, y)  # (n, k), (n,)
    check_full_rank(X)
    gram = X.T @ X  # (k, k)
    return np.linalg.solve(gram, X.T @ y)


# --8<-- [end:normal_equations]


# --8<-- [start:qr]
def fit_qr(X: object, y: object) -> np.ndarray:
    """Least squares through the QR decomposition ``X = Q R``: solve ``R b = Q^T y``.

    ``Q`` (n, k) has orthonormal columns and ``R`` (k, k) is upper triangular. Multiplying by
    ``Q^T`` does not change lengths, so the rounding errors stay proportional to the condition
    number of ``X``, not to its square as with the normal equations.

    Args:
        X: The design matrix, shape (n, k).
        y: The targets, shape (n,).

    Returns:
        The coefficients ``b``, shape (k,).

    Raises:
        ValueError: on NaN/inf, mismatched lengths or a singular design matrix.
    """
    X, y = check_xy(X, y)  # (n, k), (n,)
    check_full_rank(X)
    Q, R = np.linalg.qr(X)  # (n, k), (k, k)
    return solve_triangular(R, Q.T @ y)  # back substitution, R is upper triangular


# --8<-- [end:qr]


# --8<-- [start:gradient_descent]
def fit_gradient_descent(
    X: object,
    y: object,
    lr: float = 0.1,
    n_steps: int = 1000,
    names: Sequence[str] | None = None,
) -> tuple[LinearModel, np.ndarray]:
    """Least squares by full-batch gradient descent on standardized features.

    The loss is half the mean squared error, ``L = ||y - b0 - Z b||**2 / (2n)``, where ``Z`` is
    ``X`` standardized column by column. The fitted coefficients are converted back to the
    units of ``X``, so the returned model takes raw features.

    Args:
        X: Features, shape (n, p), without a column of ones.
        y: Targets, shape (n,).
        lr: The learning rate (step size). Gradient descent converges for
            ``0 < lr < 2 / lambda_max``, where ``lambda_max`` is the largest eigenvalue of
            ``[1, Z]^T [1, Z] / n``.
        n_steps: The number of gradient steps.
        names: Feature names (default ``x0, x1, ...``).

    Returns:
        ``(model, losses)``: the model in raw units and the loss before every step, shape
        (n_steps,).

    Raises:
        ValueError: on bad data, a constant feature, a learning rate that is not positive
            or fewer than one step.
    """
    X, y = check_xy(X, y)
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")
    Z, mean, scale = standardize(X)  # (n, p), (p,), (p,)
    n, p = Z.shape
    intercept, coef = 0.0, np.zeros(p)
    losses = np.empty(n_steps)
    for step in range(n_steps):
        resid = y - intercept - Z @ coef  # (n,)
        losses[step] = resid @ resid / (2 * n)
        intercept -= lr * -resid.mean()  # dL/db0 = -mean(resid)
        coef -= lr * -(Z.T @ resid) / n  # dL/db = -Z^T resid / n, shape (p,)
    # b0 + sum_j b_j (x_j - mean_j) / scale_j  ==  [b0 - sum_j b_j mean_j / scale_j] + sum_j (b_j / scale_j) x_j
    raw_coef = coef / scale
    model = LinearModel(intercept - raw_coef @ mean, raw_coef, feature_names(names, p))
    return model, losses


# --8<-- [end:gradient_descent]
