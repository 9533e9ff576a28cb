"""Logistic regression for two classes and softmax regression for many, from scratch.

Binary logistic regression models ``P(y = 1 | x) = sigmoid(b + x . w)`` and is fitted by
maximum likelihood, with Newton's method (iteratively reweighted least squares) or with
plain gradient descent. Without a penalty, the inverse Fisher information gives standard
errors, z statistics and p-values, the same numbers statsmodels' ``Logit`` reports. With an
L2 penalty the objective is scikit-learn's: ``0.5 * ||w||^2 + C * sum of cross-entropies``,
the intercept not penalised.

:class:`SoftmaxRegression` extends the model to ``K`` classes with the objective of
scikit-learn's multinomial ``LogisticRegression(C=...)``, and :class:`OneVsRestLogistic`
builds a ``K``-class classifier from ``K`` binary models instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from llm_anatomy.validation import (
    as_matrix,
    as_vector,
    check_binary,
    check_full_rank,
    check_same_length,
)

LossAndGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]
Hessian = Callable[[np.ndarray], np.ndarray]


# --8<-- [start:sigmoid]
def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``, without overflow for any ``z``.

    Example:
        >>> sigmoid(np.array([-800.0, 0.0, 800.0])).tolist()
        [0.0, 0.5, 1.0]
    """
    z = np.asarray(z, dtype=float)
    small = np.exp(-np.abs(z))  # in (0, 1]: cannot overflow
    return np.where(z >= 0, 1 / (1 + small), small / (1 + small))


def add_intercept(X: np.ndarray) -> np.ndarray:
    """Prepend a column of ones, the feature whose coefficient is the intercept."""
    return np.column_stack([np.ones(len(X)), X])  # (n, p) -> (n, p + 1)


# --8<-- [end:sigmoid]


# --8<-- [start:likelihood]
def negative_log_likelihood(beta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """``-log L(beta) = sum_i [log(1 + exp(z_i)) - y_i z_i]`` with logits ``z = X beta``.

    This is the summed binary cross-entropy. ``np.logaddexp(0, z)`` computes
    ``log(1 + exp(z))`` without overflow.
    """
    z = X @ beta  # (n,)
    return float(np.sum(np.logaddexp(0.0, z) - y * z))


def binary_objective(
    beta: np.ndarray, X: np.ndarray, y: np.ndarray, l2: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy plus ``0.5 * sum_j l2_j beta_j^2 / n``, and its gradient.

    Args:
        beta: Coefficients, intercept first, shape ``(d,)``.
        X: Design matrix with a column of ones, shape ``(n, d)``.
        y: Labels 0 or 1, shape ``(n,)``.
        l2: Penalty weight of each coefficient, shape ``(d,)``: ``1 / C`` for weights,
            0 for the intercept, all zeros for maximum likelihood.
    """
    n = len(y)
    residual = sigmoid(X @ beta) - y  # (n,) p_i - y_i
    loss = (negative_log_likelihood(beta, X, y) + 0.5 * np.sum(l2 * beta**2)) / n
    gradient = (X.T @ residual + l2 * beta) / n  # (d,)
    return float(loss), gradient


def binary_hessian(beta: np.ndarray, X: np.ndarray, l2: np.ndarray) -> np.ndarray:
    """The Hessian of :func:`binary_objective`: ``(X^T W X + diag(l2)) / n``, ``W = p(1 - p)``.

    Without a penalty, ``X^T W X`` is also the Fisher information of the sample.
    """
    p = sigmoid(X @ beta)  # (n,)
    weighted = X * (p * (1 - p))[:, None]  # (n, d): row i scaled by w_i
    return (X.T @ weighted + np.diag(l2)) / len(X)  # (d, d)


# --8<-- [end:likelihood]


# --8<-- [start:newton]
def newton(
    loss_and_gradient: LossAndGradient,
    hessian: Hessian,
    beta: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> tuple[np.ndarray, list[float]]:
    """Minimise a convex function by Newton's method, halving any step that goes uphill.

    Each iteration solves ``H step = g``. ``lstsq`` returns the shortest solution, so a
    Hessian that is singular along a direction the loss ignores (softmax intercepts) does
    not move the parameters along it.

    Returns:
        The minimiser and the loss before each iteration and after the last one.
    """
    loss, gradient = loss_and_gradient(beta)
    history = [loss]
    for _ in range(max_iter):
        step = np.linalg.lstsq(hessian(beta), gradient, rcond=None)[0]
        shrink = 1.0
        while loss_and_gradient(beta - shrink * step)[0] > loss and shrink > 1e-6:
            shrink /= 2  # the quadratic model overshot: backtrack
        beta = beta - shrink * step
        loss, gradient = loss_and_gradient(beta)
        history.append(loss)
        if np.max(np.abs(shrink * step)) < tol:
            return beta, history
    warnings.warn(
        f"Newton's method did not converge in {max_iter} iterations", RuntimeWarning, stacklevel=2
    )
    return beta, history


# --8<-- [end:newton]


# --8<-- [start:gradient_descent]
def gradient_descent(
    loss_and_gradient: LossAndGradient, beta: np.ndarray, lr: float, n_steps: int
) -> tuple[np.ndarray, list[float]]:
    """Take ``n_steps`` steps ``beta <- beta - lr * gradient``.

    Returns:
        The final parameters and the loss before each step and after the last one.
    """
    history = []
    for _ in range(n_steps):
        loss, gradient = loss_and_gradient(beta)
        history.append(loss)
        beta = beta - lr * gradient
    history.append(loss_and_gradient(beta)[0])
    return beta, history


# --8<-- [end:gradient_descent]


# --8<-- [start:separation]
def find_separation(X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Look for a hyperplane with every sample on its own class's side (or on the plane).

    Such a direction ``beta`` exists when the classes are completely or quasi-completely
    separated. Moving the coefficients along it never lowers the likelihood and raises it
    without end, so the maximum likelihood estimate does not exist. The linear programme
    maximises ``sum_i s_i x_i . beta`` subject to ``s_i x_i . beta >= 0`` and
    ``|beta_j| <= 1``, with ``s_i = +1`` for class 1 and ``-1`` for class 0; its optimum is
    0 exactly when the classes overlap.

    Args:
        X: Design matrix of full column rank (with the column of ones), shape ``(n, d)``.
        y: Labels 0 or 1, shape ``(n,)``.

    Returns:
        The separating direction (in the units of ``X``), or ``None`` if the classes overlap.
    """
    scale = np.abs(X).max(axis=0)  # (d,) put every column on [-1, 1]
    signed = (2 * y - 1)[:, None] * X / scale  # (n, d) row i: s_i x_i
    result = optimize.linprog(
        -signed.sum(axis=0), A_ub=-signed, b_ub=np.zeros(len(y)), bounds=(-1, 1), method="highs"
    )
    if -result.fun < 1e-7:
        return None
    return result.x / scale


# --8<-- [end:separation]


@dataclass(frozen=True)
class WaldTable:
    """The statistics view of a maximum likelihood fit, as statsmodels' ``Logit`` reports it.

    Attributes:
        params: Coefficients, intercept first, shape ``(d,)``.
        cov_params: Inverse of the Fisher information ``X^T W X``, shape ``(d, d)``.
        bse: Standard errors, the square roots of the diagonal of ``cov_params``.
        zvalues: ``params / bse``, approximately standard normal when a coefficient is 0.
        pvalues: Two-sided p-values of the z tests.
        conf_int: 95% Wald confidence intervals, shape ``(d, 2)``.
        llf: Log-likelihood at the estimate.
        llnull: Log-likelihood of the model with an intercept only.
        pseudo_r2: McFadden's ``1 - llf / llnull``.
        llr_pvalue: p-value of the likelihood-ratio test that all slopes are 0.
    """

    params: np.ndarray
    cov_params: np.ndarray
    bse: np.ndarray
    zvalues: np.ndarray
    pvalues: np.ndarray
    conf_int: np.ndarray
    llf: float
    llnull: float
    pseudo_r2: float
    llr_pvalue: float


# --8<-- [start:inference]
def wald_table(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> WaldTable:
    """Standard errors, z tests and likelihood-ratio test of an unpenalised fit.

    The maximum likelihood estimate is approximately normal with covariance the inverse
    Fisher information ``(X^T W X)^{-1}``, evaluated at the estimate.

    Args:
        X: Design matrix with the column of ones first, shape ``(n, d)``.
        y: Labels 0 or 1, shape ``(n,)``.
        beta: The maximum likelihood estimate, shape ``(d,)``.
    """
    p = sigmoid(X @ beta)  # (n,)
    fisher = X.T @ (X * (p * (1 - p))[:, None])  # (d, d)
    cov = np.linalg.inv(fisher)
    bse = np.sqrt(np.diag(cov))
    z = beta / bse
    z_crit = stats.norm.ppf(0.975)  # 1.96
    llf = -negative_log_likelihood(beta, X, y)
    mean = y.mean()  # the intercept-only model predicts the base rate for everyone
    llnull = float(len(y) * (mean * np.log(mean) + (1 - mean) * np.log(1 - mean)))
    df_slopes = X.shape[1] - 1
    return WaldTable(
        params=beta,
        cov_params=cov,
        bse=bse,
        zvalues=z,
        pvalues=2 * stats.norm.sf(np.abs(z)),
        conf_int=np.column_stack([beta - z_crit * bse, beta + z_crit * bse]),
        llf=llf,
        llnull=llnull,
        pseudo_r2=1 - llf / llnull,
        llr_pvalue=float(stats.chi2.sf(2 * (llf - llnull), df_slopes)),
    )


# --8<-- [end:inference]


def _positive_c(C: float) -> float:
    if not C > 0:  # also catches NaN
        raise ValueError(f"C must be positive (np.inf for no penalty), got {C}")
    return float(C)


def _feature_names(names: Sequence[str] | None, n_features: int) -> list[str]:
    names = (
        [str(n) for n in names] if names is not None else [f"x{j + 1}" for j in range(n_features)]
    )
    if len(names) != n_features:
        raise ValueError(f"got {len(names)} feature names for {n_features} features")
    return ["const", *names]


# --8<-- [start:model]
class LogisticRegression:
    """Binary logistic regression ``P(y = 1 | x) = sigmoid(b + x . w)``, intercept included.

    It minimises ``0.5 * ||w||^2 + C * sum_i cross_entropy_i`` (scikit-learn's objective;
    the intercept ``b`` is not penalised). ``C = np.inf``, the default, is plain maximum
    likelihood, as in statsmodels' ``Logit``; then :meth:`summary` and :attr:`table_`
    give standard errors and tests, and classes that a hyperplane separates raise
    ``ValueError`` because no maximum likelihood estimate exists.

    Args:
        C: Inverse strength of the L2 penalty; ``np.inf`` for none.
        solver: ``"newton"`` (iteratively reweighted least squares) or ``"gd"``
            (gradient descent on the mean cross-entropy).
        lr: Learning rate of gradient descent.
        n_steps: Number of gradient-descent steps.
        tol: Newton stops when no coefficient moves by more than ``tol``.
        max_iter: Most Newton iterations.

    Attributes:
        params_: Coefficients, intercept first, shape ``(p + 1,)``.
        intercept_: The intercept ``b``.
        coef_: The weights ``w``, shape ``(p,)``.
        history_: The mean objective before each iteration and after the last.
        table_: The :class:`WaldTable` of an unpenalised fit, ``None`` with a penalty.
    """

    def __init__(
        self,
        C: float = np.inf,
        solver: str = "newton",
        lr: float = 0.1,
        n_steps: int = 1000,
        tol: float = 1e-10,
        max_iter: int = 100,
    ) -> None:
        if solver not in ("newton", "gd"):
            raise ValueError(f"solver must be 'newton' or 'gd', got {solver!r}")
        self.C = _positive_c(C)
        self.solver = solver
        self.lr, self.n_steps = lr, n_steps
        self.tol, self.max_iter = tol, max_iter

    def fit(self, X: object, y: object, names: Sequence[str] | None = None) -> LogisticRegression:
        """Fit to features ``X`` (n, p) and labels ``y`` (n,) of 0 and 1; returns ``self``.

        ``names`` label the coefficients in :meth:`summary` (default: a DataFrame's columns,
        else ``x1, x2, ...``).

        Raises:
            ValueError: for NaN or infinite values, lengths that differ, labels other than
                0 and 1, a single class, collinear features, or (without a penalty)
                separated classes.
        """
        names = names if names is not None else getattr(X, "columns", None)  # a DataFrame's
        X, y = as_matrix(X), as_vector(y)
        check_same_length(X, y)
        check_binary(y)
        if y.min() == y.max():
            raise ValueError(
                f"y holds only the class {y[0]:g}: logistic regression needs both 0 and 1"
            )
        design = add_intercept(X)  # (n, d) with d = p + 1
        self.names_ = _feature_names(names, X.shape[1])
        check_full_rank(design, self.names_)
        if self.C == np.inf and find_separation(design, y) is not None:
            raise ValueError(
                "perfect separation: a hyperplane puts every sample on its own class's side, so the "
                "likelihood keeps rising as coefficients grow and no maximum likelihood estimate exists; "
                "use a penalty (finite C) or drop the feature that separates the classes"
            )
        l2 = np.r_[0.0, np.full(X.shape[1], 1 / self.C)]  # (d,) intercept not penalised

        def loss_and_gradient(beta):
            return binary_objective(beta, design, y, l2)

        def hessian(beta):
            return binary_hessian(beta, design, l2)

        start = np.zeros(design.shape[1])
        if self.solver == "newton":
            beta, self.history_ = newton(loss_and_gradient, hessian, start, self.tol, self.max_iter)
        else:
            beta, self.history_ = gradient_descent(loss_and_gradient, start, self.lr, self.n_steps)
        self.params_, self.intercept_, self.coef_ = beta, beta[0], beta[1:]
        self.table_ = wald_table(design, y, beta) if self.C == np.inf else None
        return self

    def decision_function(self, X: object) -> np.ndarray:
        """The logits ``b + x . w``, shape ``(n,)``."""
        return add_intercept(self._check_X(X)) @ self.params_

    def predict_proba(self, X: object) -> np.ndarray:
        """``P(y = 1 | x)`` for each row, shape ``(n,)``."""
        return sigmoid(self.decision_function(X))

    def predict(self, X: object, threshold: float = 0.5) -> np.ndarray:
        """Class 1 where ``P(y = 1 | x) >= threshold``, else 0, as floats, shape ``(n,)``."""
        return (self.predict_proba(X) >= threshold).astype(float)

    # --8<-- [end:model]

    def summary(self) -> str:
        """A coefficient table like the one of statsmodels' ``Logit.fit().summary()``."""
        if self.table_ is None:
            raise ValueError(
                f"fitted with a penalty (C={self.C}): the Wald statistics of maximum likelihood "
                "do not apply; refit with C=np.inf"
            )
        t = self.table_
        lines = [
            f"{'':>8} {'coef':>10} {'std err':>10} {'z':>8} {'P>|z|':>8} {'[0.025':>10} {'0.975]':>10}"
        ]
        for j, name in enumerate(self.names_):
            lines.append(
                f"{name:>8} {t.params[j]:10.4f} {t.bse[j]:10.4f} {t.zvalues[j]:8.3f} "
                f"{t.pvalues[j]:8.3f} {t.conf_int[j, 0]:10.3f} {t.conf_int[j, 1]:10.3f}"
            )
        lines.append(
            f"log-likelihood {t.llf:.4f}, null {t.llnull:.4f}, pseudo R^2 {t.pseudo_r2:.4f}, "
            f"LR test p-value {t.llr_pvalue:.4g}"
        )
        return "\n".join(lines)

    def _check_X(self, X: object) -> np.ndarray:
        if not hasattr(self, "params_"):
            raise RuntimeError("call fit before predicting")
        X = as_matrix(X)
        if X.shape[1] != len(self.coef_):
            raise ValueError(
                f"X has {X.shape[1]} features, the model was fitted with {len(self.coef_)}"
            )
        return X


def _class_codes(y: object) -> tuple[np.ndarray, np.ndarray]:
    """Sorted class labels and each sample's index into them; at least two classes."""
    classes, codes = np.unique(as_vector(y), return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"y holds {len(classes)} class, a classifier needs at least 2")
    return classes, codes


# --8<-- [start:softmax]
def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise ``exp(z_k) / sum_j exp(z_j)``; subtracting the row maximum avoids overflow."""
    Z = Z - Z.max(axis=1, keepdims=True)  # (n, K), same probabilities
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def softmax_objective(
    theta: np.ndarray, X: np.ndarray, Y: np.ndarray, l2: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean multinomial cross-entropy plus ``0.5 * sum l2 * theta^2 / n``, and its gradient.

    Args:
        theta: Coefficients of all classes, flattened from shape ``(d, K)``.
        X: Design matrix with a column of ones, shape ``(n, d)``.
        Y: One-hot labels, shape ``(n, K)``.
        l2: Penalty weight of each coefficient, shape ``(d, K)``: 0 on the intercept row.
    """
    n, K = Y.shape
    Theta = theta.reshape(-1, K)  # (d, K)
    Z = X @ Theta  # (n, K) logits
    log_P = Z - np.logaddexp.reduce(Z, axis=1, keepdims=True)  # log-softmax, stable
    loss = (-np.sum(Y * log_P) + 0.5 * np.sum(l2 * Theta**2)) / n
    gradient = (X.T @ (np.exp(log_P) - Y) + l2 * Theta) / n  # (d, K)
    return float(loss), gradient.ravel()


def softmax_hessian(theta: np.ndarray, X: np.ndarray, K: int, l2: np.ndarray) -> np.ndarray:
    """Hessian of :func:`softmax_objective`, shape ``(d K, d K)``.

    Entry ``[(a, k), (b, l)]`` is ``sum_i x_ia x_ib (p_ik [k = l] - p_ik p_il) / n``: the
    binary ``X^T W X`` with each weight ``p(1 - p)`` replaced by a ``K x K`` block.
    """
    P = softmax(X @ theta.reshape(-1, K))  # (n, K)
    S = P[:, :, None] * np.eye(K) - P[:, :, None] * P[:, None, :]  # (n, K, K) diag(p) - p p^T
    H = np.einsum("ia,ikl,ib->akbl", X, S, X, optimize=True)  # (d, K, d, K)
    d = X.shape[1]
    return (H.reshape(d * K, d * K) + np.diag(l2.ravel())) / len(X)


class SoftmaxRegression:
    """Multinomial logistic regression ``P(y = k | x) = softmax(b + W x)_k``.

    Every class has its own weights and intercept, as in scikit-learn's
    ``LogisticRegression``, and the objective is the same: ``0.5 * ||W||^2 + C * sum_i
    cross_entropy_i`` with the intercepts not penalised. Adding one constant to every
    intercept changes no probability; Newton's minimum-norm steps keep the intercepts
    summing to 0, as scikit-learn's L-BFGS does.

    Args:
        C: Inverse strength of the L2 penalty, positive and finite.
        tol: Newton stops when no coefficient moves by more than ``tol``.
        max_iter: Most Newton iterations.

    Attributes:
        classes_: The sorted class labels, shape ``(K,)``.
        intercept_: Intercepts, shape ``(K,)``.
        coef_: Weights, shape ``(K, p)``.
        history_: The mean objective before each Newton iteration and after the last.
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-10, max_iter: int = 100) -> None:
        if _positive_c(C) == np.inf:
            raise ValueError(
                "SoftmaxRegression needs a finite C: without a penalty the weights are not unique"
            )
        self.C, self.tol, self.max_iter = float(C), tol, max_iter

    def fit(self, X: object, y: object) -> SoftmaxRegression:
        """Fit to features ``X`` (n, p) and class labels ``y`` (n,); returns ``self``."""
        X = as_matrix(X)
        self.classes_, codes = _class_codes(y)
        check_same_length(X, codes)
        design = add_intercept(X)  # (n, d)
        K = len(self.classes_)
        Y = np.eye(K)[codes]  # (n, K) one-hot
        l2 = np.full((design.shape[1], K), 1 / self.C)
        l2[0] = 0.0  # intercepts are not penalised
        theta, self.history_ = newton(
            lambda t: softmax_objective(t, design, Y, l2),
            lambda t: softmax_hessian(t, design, K, l2),
            np.zeros(design.shape[1] * K),
            self.tol,
            self.max_iter,
        )
        Theta = theta.reshape(-1, K)  # (d, K)
        self.intercept_, self.coef_ = Theta[0], Theta[1:].T
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities, shape ``(n, K)``, columns in the order of ``classes_``."""
        if not hasattr(self, "coef_"):
            raise RuntimeError("call fit before predicting")
        return softmax(as_matrix(X) @ self.coef_.T + self.intercept_)

    def predict(self, X: object) -> np.ndarray:
        """The most probable class of each row, shape ``(n,)``."""
        most_probable = np.argmax(self.predict_proba(X), axis=1)  # (n,)
        return self.classes_[most_probable]


# --8<-- [end:softmax]


# --8<-- [start:one_vs_rest]
class OneVsRestLogistic:
    """``K`` binary logistic regressions, class ``k`` against all others.

    The ``K`` probabilities ``P(y = k | x)`` come from separate models and need not sum to
    1; :meth:`predict_proba` divides them by their sum, as scikit-learn's
    ``OneVsRestClassifier`` does.

    Args:
        C: Inverse strength of the L2 penalty of every binary model; ``np.inf`` for none.

    Attributes:
        classes_: The sorted class labels, shape ``(K,)``.
        models_: One fitted :class:`LogisticRegression` per class.
    """

    def __init__(self, C: float = 1.0) -> None:
        self.C = _positive_c(C)

    def fit(self, X: object, y: object) -> OneVsRestLogistic:
        """Fit one binary model per class; returns ``self``."""
        self.classes_, codes = _class_codes(y)
        self.models_ = [
            LogisticRegression(C=self.C).fit(X, codes == k) for k in range(len(self.classes_))
        ]
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """Normalised one-vs-rest probabilities, shape ``(n, K)``."""
        if not hasattr(self, "models_"):
            raise RuntimeError("call fit before predicting")
        P = np.column_stack([model.predict_proba(X) for model in self.models_])  # (n, K)
        return P / P.sum(axis=1, keepdims=True)

    def predict(self, X: object) -> np.ndarray:
        """The class whose binary model is most confident, shape ``(n,)``."""
        most_probable = np.argmax(self.predict_proba(X), axis=1)  # (n,)
        return self.classes_[most_probable]


# --8<-- [end:one_vs_rest]
