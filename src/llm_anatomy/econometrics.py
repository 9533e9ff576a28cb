"""Lessons from econometrics: dummy variables, binning, the chi-square test and the VIF.

Econometricians fit the same linear models as machine-learning practitioners, but they read
the coefficients, so they learned early how categorical features, binned features and
correlated features change what a coefficient means. This module holds the tools of
chapter 5: dummy (one-hot) encoding with a base level, a design matrix that refuses the
dummy-variable trap, equal-width and quantile bins, contingency tables with Pearson's
chi-square test of independence, and variance inflation factors.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from llm_anatomy.validation import as_matrix, as_vector, check_full_rank, check_same_length


def _as_categories(values: object, name: str) -> np.ndarray:
    """Return a categorical column as a 1-D array, refusing missing values."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a 1-D column of categories, got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{name} is empty")
    if values.dtype.kind == "f":
        missing = np.isnan(values)
    elif values.dtype.kind == "O":
        missing = np.array([v is None or v != v for v in values])  # NaN is the value unequal to itself
    else:
        missing = np.zeros(len(values), dtype=bool)  # integers, strings and booleans cannot be missing
    if missing.any():
        raise ValueError(
            f"{name} has {int(missing.sum())} missing values (NaN or None): "
            "drop those rows or give missingness a level of its own"
        )
    return values


# --8<-- [start:levels]
def category_levels(values: object, name: str = "x") -> np.ndarray:
    """The distinct levels of a categorical column, sorted.

    Args:
        values: one category per sample, numbers or strings, shape ``(n,)``.
        name: the column's name, used in error messages.

    Raises:
        ValueError: if the column has missing values or a single level.
    """
    levels = np.unique(_as_categories(values, name))
    if len(levels) < 2:
        raise ValueError(
            f"{name} has a single level {levels[0]!r}: a column that never varies carries no "
            "information, and its only dummy would duplicate the constant"
        )
    return levels


def one_hot(values: object, levels: object = None, name: str = "x") -> tuple[np.ndarray, list[str]]:
    """The full encoding: one 0/1 column per level.

    Args:
        values: one category per sample, shape ``(n,)``.
        levels: the levels to encode, in column order; by default the sorted distinct values.
            Pass the training data's levels to encode new data with the same columns.
        name: the column's name; the dummies are called ``f"{name}_{level}"``.

    Returns:
        The ``(n, k)`` matrix of indicators (every row sums to 1) and the ``k`` column names.

    Raises:
        ValueError: on missing values, fewer than two levels, repeated levels, or a value
            that is not among ``levels``.
    """
    values = _as_categories(values, name)
    levels = category_levels(values, name) if levels is None else np.asarray(levels)
    if len(np.unique(levels)) != len(levels) or len(levels) < 2:
        raise ValueError(f"levels of {name} must be at least two distinct values, got {levels.tolist()}")
    indicators = values[:, None] == levels[None, :]  # (n, k)
    unseen = ~indicators.any(axis=1)
    if unseen.any():
        raise ValueError(
            f"{name} has values that are not among its levels {levels.tolist()}: "
            f"{np.unique(values[unseen])[:5].tolist()} (an encoder fixes its levels on the training data)"
        )
    return indicators.astype(float), [f"{name}_{level}" for level in levels]


def dummy_encode(
    values: object, base: object = None, levels: object = None, name: str = "x"
) -> tuple[np.ndarray, list[str]]:
    """Dummy variables: the full encoding without the column of the base (reference) level.

    With a constant in the model, the coefficient of each dummy is the difference between
    its level and the base level, other features held fixed.

    Args:
        values: one category per sample, shape ``(n,)``.
        base: the level whose column is dropped; by default the first level, as in
            ``pandas.get_dummies(drop_first=True)``.
        levels: the levels to encode (see :func:`one_hot`).
        name: the column's name.

    Returns:
        The ``(n, k - 1)`` matrix of dummies and their names.

    Raises:
        ValueError: if ``base`` is not one of the levels, and in the cases of :func:`one_hot`.
    """
    levels = category_levels(values, name) if levels is None else np.asarray(levels)
    full, names = one_hot(values, levels, name)  # (n, k)
    base = levels[0] if base is None else base
    is_base = levels == base
    if not is_base.any():
        raise ValueError(f"unknown base level {base!r} for {name}: its levels are {levels.tolist()}")
    keep = ~is_base
    return full[:, keep], [column for column, kept in zip(names, keep, strict=True) if kept]


# --8<-- [end:levels]


def _check_columns(columns: Mapping[str, object], categorical: Collection[str], bases: Mapping[str, object]) -> None:
    """Raise ``ValueError`` unless the columns share one length and every name refers to one."""
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"design_matrix needs at least one column and all of one length, got lengths {lengths}")
    missing = (set(categorical) | set(bases)) - set(lengths)
    if missing:
        raise ValueError(f"no column named {sorted(missing)}; the columns are {list(lengths)}")
    not_categorical = set(bases) - set(categorical)
    if not_categorical:
        raise ValueError(f"base levels given for columns that are not categorical: {sorted(not_categorical)}")


# --8<-- [start:design]
def design_matrix(
    columns: Mapping[str, object],
    categorical: Collection[str] = (),
    bases: Mapping[str, object] | None = None,
    full_encoding: bool = False,
    constant: bool = True,
) -> tuple[np.ndarray, list[str]]:
    """Build a regression design matrix from named columns, dummy-encoding the categorical ones.

    Args:
        columns: name -> column of ``n`` values (a dict, or a pandas DataFrame).
        categorical: the names of the columns to encode as dummies.
        bases: name -> base level, for categorical columns whose base is not their first level.
        full_encoding: keep every level's column (the dummy-variable trap if ``constant``).
        constant: start with a column of ones (the intercept).

    Returns:
        The ``(n, p)`` design matrix and the names of its ``p`` columns.

    Raises:
        ValueError: if a named column is missing, the columns differ in length, a base is
            given for a column that is not categorical, or the design matrix is singular
            (perfect collinearity, such as the dummy-variable trap).
    """
    bases = dict(bases or {})
    _check_columns(columns, categorical, bases)
    blocks, names = [], []
    for name, column in columns.items():
        if name in categorical and full_encoding:
            block, block_names = one_hot(column, name=name)
        elif name in categorical:
            block, block_names = dummy_encode(column, bases.get(name), name=name)
        else:
            block, block_names = as_vector(column, name)[:, None], [name]
        blocks.append(block)
        names.extend(block_names)
    if constant:
        blocks.insert(0, np.ones((len(blocks[0]), 1)))
        names.insert(0, "const")
    X = np.hstack(blocks)  # (n, p)
    check_full_rank(X, names)
    return X, names


def least_squares(X: object, y: object) -> np.ndarray:
    """Ordinary least squares coefficients, ``argmin ||y - X b||``, shape ``(p,)``.

    ``numpy.linalg.lstsq`` solves through the singular value decomposition; when ``X`` is
    rank-deficient it silently returns the solution of minimum norm, which is why callers
    that want interpretable coefficients check the rank first (see :func:`design_matrix`).
    """
    X, y = as_matrix(X), as_vector(y)
    check_same_length(X, y)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return coef


# --8<-- [end:design]


# --8<-- [start:bins]
def _check_bins(bins: int) -> None:
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")


def equal_width_edges(x: object, bins: int) -> np.ndarray:
    """Edges of ``bins`` intervals of equal width from ``min(x)`` to ``max(x)``, shape ``(bins + 1,)``.

    Raises:
        ValueError: if ``bins < 2``, ``x`` holds NaN, or ``x`` is constant.
    """
    _check_bins(bins)
    x = as_vector(x, "x")
    if x.min() == x.max():
        raise ValueError(f"x is constant ({x[0]}): there is nothing to bin")
    return np.linspace(x.min(), x.max(), bins + 1)


def quantile_edges(x: object, bins: int) -> np.ndarray:
    """Edges at the quantiles ``0, 1/bins, ..., 1`` of ``x``: bins of (nearly) equal counts.

    Raises:
        ValueError: if ``bins < 2``, ``x`` holds NaN, or ties make two edges equal (a value
            that fills more than one bin, such as a mass of zeros).
    """
    _check_bins(bins)
    x = as_vector(x, "x")
    edges = np.quantile(x, np.linspace(0.0, 1.0, bins + 1))  # (bins + 1,)
    if (np.diff(edges) <= 0).any():
        raise ValueError(
            f"{bins} quantile bins of x are not distinct: the edges are {edges.tolist()}; "
            "tied values fill more than one bin, so use fewer bins or choose the edges yourself"
        )
    return edges


def bin_index(x: object, edges: object) -> np.ndarray:
    """The bin of every value: ``i`` when ``edges[i] <= x < edges[i + 1]``, shape ``(n,)``.

    As in ``numpy.histogram``, the last bin also holds its right edge.

    Raises:
        ValueError: if the edges are fewer than 3 or not increasing, or a value lies outside them.
    """
    x = as_vector(x, "x")
    edges = as_vector(edges, "edges")
    if len(edges) < 3 or (np.diff(edges) <= 0).any():
        raise ValueError(f"edges must be at least 3 increasing values (2 bins), got {edges.tolist()}")
    outside = (x < edges[0]) | (x > edges[-1])
    if outside.any():
        raise ValueError(f"{int(outside.sum())} values of x lie outside the edges [{edges[0]}, {edges[-1]}]")
    return np.minimum(np.searchsorted(edges, x, side="right") - 1, len(edges) - 2)


# --8<-- [end:bins]


# --8<-- [start:table]
def contingency_table(
    rows: object, columns: object, row_name: str = "rows", column_name: str = "columns"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count how often each pair of levels occurs together.

    Args:
        rows: the first categorical variable, shape ``(n,)``.
        columns: the second categorical variable, shape ``(n,)``.
        row_name: name of ``rows`` in error messages.
        column_name: name of ``columns`` in error messages.

    Returns:
        The ``(r, c)`` table of counts, the ``r`` row levels and the ``c`` column levels.
    """
    row_levels, row_codes = np.unique(_as_categories(rows, row_name), return_inverse=True)
    column_levels, column_codes = np.unique(_as_categories(columns, column_name), return_inverse=True)
    if len(row_codes) != len(column_codes):
        raise ValueError(f"{row_name} has {len(row_codes)} values but {column_name} has {len(column_codes)}")
    table = np.zeros((len(row_levels), len(column_levels)), dtype=np.int64)
    np.add.at(table, (row_codes, column_codes), 1)
    return table, row_levels, column_levels


def expected_counts(table: object) -> np.ndarray:
    """Counts expected under independence, ``row total * column total / n``, shape ``(r, c)``.

    Raises:
        ValueError: if the table is not at least 2 x 2, has negative or non-finite counts, or
            has a row or column of zeros (its expected counts would be 0, and the test
            divides by them).
    """
    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or min(table.shape) < 2:
        raise ValueError(f"a contingency table needs at least 2 rows and 2 columns, got shape {table.shape}")
    if not np.isfinite(table).all() or (table < 0).any():
        raise ValueError("a contingency table holds counts: finite, non-negative numbers")
    row_totals, column_totals = table.sum(axis=1), table.sum(axis=0)  # (r,), (c,)
    empty_rows, empty_columns = np.flatnonzero(row_totals == 0), np.flatnonzero(column_totals == 0)
    if empty_rows.size or empty_columns.size:
        raise ValueError(
            f"rows {empty_rows.tolist()} and columns {empty_columns.tolist()} of the table are all zero: "
            "their expected counts are 0; drop them (a level nobody has says nothing about association)"
        )
    return np.outer(row_totals, column_totals) / table.sum()


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson's chi-square test of independence.

    Attributes:
        statistic: ``sum((observed - expected)**2 / expected)``.
        dof: degrees of freedom, ``(r - 1) * (c - 1)``.
        pvalue: the probability of a statistic at least this large if the variables are independent.
        expected: the expected counts under independence, shape ``(r, c)``.
    """

    statistic: float
    dof: int
    pvalue: float
    expected: np.ndarray


def chi_square_test(table: object, yates: bool = False) -> ChiSquareResult:
    """Pearson's chi-square test of independence of the rows and columns of a contingency table.

    Args:
        table: observed counts, shape ``(r, c)``.
        yates: apply Yates' continuity correction, which moves every observed count up to 0.5
            towards its expected count. It exists only for 2 x 2 tables (one degree of
            freedom); ``scipy.stats.chi2_contingency`` applies it there by default.

    Raises:
        ValueError: as :func:`expected_counts`, or if ``yates`` is asked for a larger table.
    """
    expected = expected_counts(table)  # (r, c)
    observed = np.asarray(table, dtype=float)
    dof = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    if yates:
        if dof != 1:
            raise ValueError(f"Yates' correction is defined for 2 x 2 tables, got shape {observed.shape}")
        gap = expected - observed
        observed = observed + np.sign(gap) * np.minimum(0.5, np.abs(gap))
    statistic = float(((observed - expected) ** 2 / expected).sum())
    return ChiSquareResult(statistic, dof, float(stats.chi2.sf(statistic, dof)), expected)


def cramers_v(table: object) -> float:
    """Cramér's V, the strength of association in ``[0, 1]``: ``sqrt(chi2 / (n * (min(r, c) - 1)))``."""
    table = np.asarray(table, dtype=float)
    statistic = chi_square_test(table).statistic
    return float(np.sqrt(statistic / (table.sum() * (min(table.shape) - 1))))


# --8<-- [end:table]


# --8<-- [start:vif]
def variance_inflation_factors(X: object, names: list[str] | None = None) -> np.ndarray:
    """The variance inflation factor of every feature, shape ``(p,)``.

    Feature ``j`` is regressed on all the other features and a constant; with ``R_j^2`` the
    coefficient of determination of that regression, ``VIF_j = 1 / (1 - R_j^2)``. Columns
    are standardized first: this changes no ``R_j^2`` (the constant absorbs shifts, the
    coefficients absorb scales) and keeps the fits well conditioned.

    Args:
        X: the features **without** a constant column, shape ``(n, p)``.
        names: the features' names, for error messages.

    Raises:
        ValueError: if there are fewer than two features, a feature is constant, or the
            features are perfectly collinear (an infinite VIF).
    """
    X = as_matrix(X)
    n, p = X.shape
    names = list(names) if names is not None else [f"x{j}" for j in range(p)]
    if p < 2:
        raise ValueError("a VIF compares a feature with the others: X needs at least two columns")
    spread = X.std(axis=0)  # (p,)
    if (spread == 0).any():
        constant = names[int(np.flatnonzero(spread == 0)[0])]
        raise ValueError(f"column {constant!r} is constant: pass the features without a constant, the VIF adds its own")
    Z = (X - X.mean(axis=0)) / spread  # (n, p), every column mean 0 and variance 1
    design = np.column_stack([np.ones(n), Z])  # (n, p + 1)
    check_full_rank(design, ["const", *names])
    vif = np.empty(p)
    for j in range(p):
        others = np.delete(design, j + 1, axis=1)  # (n, p): the constant and the other features
        residual = Z[:, j] - others @ least_squares(others, Z[:, j])
        r_squared = 1.0 - residual @ residual / n  # the total sum of squares of Z[:, j] is n
        vif[j] = 1.0 / (1.0 - r_squared)
    return vif


# --8<-- [end:vif]
