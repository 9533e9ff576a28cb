"""The data checks every fitting function starts with, and the fitted model they return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llm_anatomy.validation import as_matrix, as_vector, check_finite, check_same_length


def check_xy(X: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    """Return ``X`` as a finite (n, p) matrix and ``y`` as a finite (n,) vector.

    Raises:
        ValueError: if either holds NaN or infinity, or they have different lengths.
    """
    X, y = as_matrix(X), as_vector(y)
    check_same_length(X, y)
    return X, y


def feature_names(names: Sequence[str] | None, n_features: int) -> tuple[str, ...]:
    """The given feature names, or ``x0, x1, ...``; checks there is one per column."""
    if names is None:
        return tuple(f"x{j}" for j in range(n_features))
    names = tuple(str(name) for name in names)
    if len(names) != n_features:
        raise ValueError(f"got {len(names)} names for {n_features} features")
    return names


# --8<-- [start:linear_model]
@dataclass
class LinearModel:
    """A fitted linear model ``y ≈ intercept + X @ coef``.

    Attributes:
        intercept: The prediction when every feature is 0.
        coef: One coefficient per feature, shape (p,).
        names: The features' names, in the order of the columns of ``X``.
    """

    intercept: float
    coef: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:  # also validates a model read from a file
        self.coef = as_vector(self.coef, "coef")
        self.intercept = float(self.intercept)
        check_finite(np.array(self.intercept), "intercept")
        self.names = feature_names(self.names, len(self.coef))

    def predict(self, X: object) -> np.ndarray:
        """Predictions for the rows of ``X``, shape (n, p) -> (n,)."""
        X = as_matrix(X)
        if X.shape[1] != len(self.coef):
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {len(self.coef)}")
        return self.intercept + X @ self.coef


# --8<-- [end:linear_model]
