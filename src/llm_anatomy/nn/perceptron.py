"""Rosenblatt's perceptron: a linear threshold unit and its mistake-driven learning rule."""

from __future__ import annotations

import numpy as np

from llm_anatomy.validation import as_matrix, as_vector, check_binary, check_same_length


# --8<-- [start:perceptron]
class Perceptron:
    """Predict 1 when ``w . x + b > 0``; learn by adding each misclassified example.

    The learning rule visits the examples in order and, whenever one is on the wrong side
    (or on the boundary), moves the boundary towards it: ``w += s x``, ``b += s``, with
    ``s = +1`` for label 1 and ``-1`` for label 0. If the classes can be separated by a
    straight line (a hyperplane), the rule stops making mistakes after finitely many
    updates; otherwise it never settles.

    Args:
        max_epochs: The largest number of passes over the data.

    Attributes:
        weights: ``(d,)`` after :meth:`fit`.
        bias: The threshold, as a number added to ``w . x``.
        mistakes: The number of updates in each epoch; the last one is 0 if it converged.
    """

    def __init__(self, max_epochs: int = 100) -> None:
        if max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {max_epochs}")
        self.max_epochs = max_epochs

    def fit(self, X: object, y: object) -> Perceptron:
        """Run the learning rule on ``X`` (n, d) and labels ``y`` (n,) in {0, 1}."""
        X, y = as_matrix(X), as_vector(y)
        check_same_length(X, y)
        check_binary(y)
        signs = 2 * y - 1  # labels {0, 1} -> {-1, +1}
        self.weights, self.bias, self.mistakes = np.zeros(X.shape[1]), 0.0, []
        for _ in range(self.max_epochs):
            updates = 0
            for x_i, s_i in zip(X, signs, strict=True):
                if s_i * (x_i @ self.weights + self.bias) <= 0:  # wrong side or on the line
                    self.weights += s_i * x_i
                    self.bias += s_i
                    updates += 1
            self.mistakes.append(updates)
            if updates == 0:
                break
        return self

    def predict(self, X: object) -> np.ndarray:
        """Labels in {0, 1} for the rows of ``X``."""
        X = as_matrix(X)
        if X.shape[1] != len(self.weights):
            raise ValueError(
                f"X has {X.shape[1]} features, the perceptron was fitted on {len(self.weights)}"
            )
        return (X @ self.weights + self.bias > 0).astype(int)


# --8<-- [end:perceptron]
