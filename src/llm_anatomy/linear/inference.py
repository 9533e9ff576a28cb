"""Ordinary least squares with the statistics: standard errors, tests and intervals.

The formulas assume the classical linear model: ``y = X b + e`` with independent errors of
mean 0 and one common variance ``sigma**2``; the t and F distributions are exact when the
errors are also normal, and good approximations for large samples otherwise. Names follow
statsmodels (``params``, ``bse``, ``tvalues``, ...), whose numbers the tests reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.linalg import solve_triangular

from llm_anatomy.linear.features import add_constant
from llm_anatomy.linear.model import check_xy, feature_names
from llm_anatomy.linear.solve import fit_qr
from llm_anatomy.validation import as_matrix, as_vector, check_full_rank


# --8<-- [start:result]
@dataclass
class OLSResult:
    """A fitted OLS model with an intercept, and what can be inferred from it.

    Attributes:
        names: Parameter names, ``"const"`` first, shape (k,).
        params: The estimated coefficients, intercept first, shape (k,).
        normalized_cov: ``(X^T X)^{-1}`` of the design matrix, shape (k, k). Times
            ``sigma2`` it is the estimated covariance matrix of ``params``.
        sigma2: The residual variance ``RSS / (n - k)``, an unbiased estimate of the
            error variance (statsmodels calls it ``scale``).
        nobs: The number of observations ``n``.
        rsquared: The share of the variance of ``y`` the model explains, ``1 - RSS / TSS``.
    """

    names: tuple[str, ...]
    params: np.ndarray
    normalized_cov: np.ndarray
    sigma2: float
    nobs: int
    rsquared: float

    def __post_init__(self) -> None:  # also validates a result read from a file
        self.params = as_vector(self.params, "params")
        k = len(self.params)
        self.normalized_cov = as_matrix(self.normalized_cov, "normalized_cov")
        if self.normalized_cov.shape != (k, k):
            raise ValueError(f"normalized_cov must have shape ({k}, {k}), got {self.normalized_cov.shape}")
        self.names = feature_names(self.names, k)
        self.sigma2, self.nobs, self.rsquared = float(self.sigma2), int(self.nobs), float(self.rsquared)

    @property
    def df_model(self) -> int:
        """Degrees of freedom of the model: the number of slopes, ``k - 1``."""
        return len(self.params) - 1

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom, ``n - k``."""
        return self.nobs - len(self.params)

    @property
    def bse(self) -> np.ndarray:
        """Standard errors of the coefficients, shape (k,)."""
        return np.sqrt(self.sigma2 * np.diag(self.normalized_cov))

    @property
    def tvalues(self) -> np.ndarray:
        """t statistics for the hypotheses ``b_j = 0``, shape (k,)."""
        return self.params / self.bse

    @property
    def pvalues(self) -> np.ndarray:
        """Two-sided p-values of the t tests, shape (k,)."""
        return 2 * stats.t.sf(np.abs(self.tvalues), self.df_resid)

    @property
    def rsquared_adj(self) -> float:
        """R² penalized for the number of parameters: ``1 - (1 - R²)(n - 1) / (n - k)``."""
        return 1 - (1 - self.rsquared) * (self.nobs - 1) / self.df_resid

    @property
    def fvalue(self) -> float:
        """F statistic for the hypothesis that every slope is 0."""
        return (self.rsquared / self.df_model) / ((1 - self.rsquared) / self.df_resid)

    @property
    def f_pvalue(self) -> float:
        """p-value of the F test."""
        return float(stats.f.sf(self.fvalue, self.df_model, self.df_resid))

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """Confidence intervals ``params ± t_{1-alpha/2} · bse``, shape (k, 2)."""
        t_crit = stats.t.ppf(1 - alpha / 2, self.df_resid)
        return np.column_stack([self.params - t_crit * self.bse, self.params + t_crit * self.bse])

    # --8<-- [end:result]

    # --8<-- [start:prediction]
    def predict(self, X: object) -> np.ndarray:
        """Predicted means for new rows of features (without the constant), shape (m,)."""
        return self._design(X) @ self.params

    def prediction_intervals(self, X: object, alpha: float = 0.05) -> dict[str, np.ndarray]:
        """Confidence intervals for the mean and prediction intervals for new observations.

        Args:
            X: New rows of features, shape (m, k - 1), without the constant.
            alpha: One minus the coverage: 0.05 gives 95% intervals.

        Returns:
            Arrays of shape (m,) under the names of statsmodels' ``summary_frame``:
            ``mean``, ``mean_se``, ``mean_ci_lower``, ``mean_ci_upper``, ``obs_ci_lower``,
            ``obs_ci_upper``.
        """
        design = self._design(X)  # (m, k)
        mean = design @ self.params  # (m,)
        # Var(x0 · b_hat) = sigma2 · x0^T (X^T X)^{-1} x0, one quadratic form per row
        mean_se = np.sqrt(self.sigma2 * np.einsum("ij,jk,ik->i", design, self.normalized_cov, design))
        obs_se = np.sqrt(mean_se**2 + self.sigma2)  # a new y adds its own error e
        t_crit = stats.t.ppf(1 - alpha / 2, self.df_resid)
        return {
            "mean": mean,
            "mean_se": mean_se,
            "mean_ci_lower": mean - t_crit * mean_se,
            "mean_ci_upper": mean + t_crit * mean_se,
            "obs_ci_lower": mean - t_crit * obs_se,
            "obs_ci_upper": mean + t_crit * obs_se,
        }

    def _design(self, X: object) -> np.ndarray:
        X = as_matrix(X)
        if X.shape[1] != self.df_model:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {self.df_model}")
        return add_constant(X)

    # --8<-- [end:prediction]

    def summary(self) -> str:
        """A coefficient table in the style of statsmodels' ``summary()``."""
        lower, upper = self.conf_int().T
        lines = [
            f"{'':>8} {'coef':>10} {'std err':>9} {'t':>7} {'P>|t|':>7} {'[0.025':>10} {'0.975]':>10}",
        ]
        for row in zip(self.names, self.params, self.bse, self.tvalues, self.pvalues, lower, upper, strict=True):
            name, coef, se, t, p, lo, hi = row
            lines.append(f"{name:>8} {coef:10.3f} {se:9.3f} {t:7.3f} {p:7.3f} {lo:10.3f} {hi:10.3f}")
        lines.append(
            f"n = {self.nobs}, R² = {self.rsquared:.4f}, adjusted R² = {self.rsquared_adj:.4f}, "
            f"F = {self.fvalue:.2f} (p = {self.f_pvalue:.3g}), residual variance = {self.sigma2:.2f}"
        )
        return "\n".join(lines)


# --8<-- [start:fit_ols]
def fit_ols(X: object, y: object, names: Sequence[str] | None = None) -> OLSResult:
    """Fit ``y = b0 + X b + e`` by least squares (QR) and estimate the sampling variability.

    Args:
        X: Features, shape (n, p), without a column of ones: the intercept is added here.
        y: Targets, shape (n,).
        names: Feature names (default ``x0, x1, ...``).

    Returns:
        An :class:`OLSResult`.

    Raises:
        ValueError: on NaN/inf, mismatched lengths, a singular design matrix (for example a
            duplicated column), no more observations than parameters, or a constant ``y``.
    """
    X, y = check_xy(X, y)
    names = ("const", *feature_names(names, X.shape[1]))
    design = add_constant(X)  # (n, k)
    check_full_rank(design, names)
    n, k = design.shape
    if n <= k:
        raise ValueError(f"{n} observations cannot estimate {k} parameters and their variance: need n > k")
    tss = np.sum((y - y.mean()) ** 2)
    if tss == 0:
        raise ValueError("y is constant: there is no variation to explain")
    params = fit_qr(design, y)  # (k,)
    resid = y - design @ params  # (n,)
    rss = resid @ resid
    R = np.linalg.qr(design, mode="r")  # (k, k), X^T X = R^T R
    R_inv = solve_triangular(R, np.eye(k))
    return OLSResult(
        names=names,
        params=params,
        normalized_cov=R_inv @ R_inv.T,  # (X^T X)^{-1} = R^{-1} R^{-T}
        sigma2=rss / (n - k),
        nobs=n,
        rsquared=1 - rss / tss,
    )


# --8<-- [end:fit_ols]
