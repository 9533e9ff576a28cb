"""Chapter 5's tools against pandas, numpy, scipy and statsmodels, on the same inputs."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.outliers_influence import variance_inflation_factor

from llm_anatomy.econometrics import (
    bin_index,
    category_levels,
    chi_square_test,
    contingency_table,
    cramers_v,
    design_matrix,
    dummy_encode,
    equal_width_edges,
    expected_counts,
    least_squares,
    one_hot,
    quantile_edges,
    variance_inflation_factors,
)


@pytest.fixture(scope="module")
def fair() -> pd.DataFrame:
    data = sm.datasets.fair.load_pandas().data
    return data.assign(had_affair=(data["affairs"] > 0).astype(float))


@pytest.fixture(scope="module")
def longley() -> pd.DataFrame:
    return sm.datasets.longley.load_pandas().exog


def same_columns(ours: np.ndarray, names: list[str], reference: pd.DataFrame) -> None:
    """Our encoding equals pandas' up to the order of the columns."""
    assert sorted(names) == sorted(reference.columns)
    reordered = reference[names].to_numpy(dtype=float)
    np.testing.assert_array_equal(ours, reordered)


# ---------------------------------------------------------------- dummy encoding


@pytest.mark.parametrize("column", ["rate_marriage", "occupation", "religious", "yrs_married"])
def test_dummies_match_pandas_with_the_first_level_as_base(fair, column):
    ours, names = dummy_encode(fair[column], name=column)
    same_columns(ours, names, pd.get_dummies(fair[column], prefix=column, drop_first=True))


@pytest.mark.parametrize("base", [1.0, 3.0, 5.0])
def test_dummies_match_pandas_for_any_base(fair, base):
    ours, names = dummy_encode(fair["rate_marriage"], base=base, name="rate_marriage")
    full = pd.get_dummies(fair["rate_marriage"], prefix="rate_marriage")
    same_columns(ours, names, full.drop(columns=f"rate_marriage_{base}"))


def test_full_encoding_matches_pandas_for_strings():
    colours = np.array(["red", "green", "blue", "green", "red", "red"])
    ours, names = one_hot(colours, name="colour")
    same_columns(ours, names, pd.get_dummies(pd.Series(colours), prefix="colour"))
    ours, names = dummy_encode(colours, base="red", name="colour")
    same_columns(ours, names, pd.get_dummies(pd.Series(colours), prefix="colour").drop(columns="colour_red"))


def test_fixed_levels_give_the_training_columns_on_new_data(fair):
    levels = category_levels(fair["rate_marriage"])
    new = fair["rate_marriage"].to_numpy()[:5]  # holds only some of the levels
    ours, names = dummy_encode(new, levels=levels, name="rate_marriage")
    reference = pd.get_dummies(
        pd.Categorical(new, categories=levels), prefix="rate_marriage", drop_first=True
    )
    same_columns(ours, names, reference)


def test_dummy_coefficients_are_differences_from_the_base_group(fair):
    X, names = design_matrix({"rate_marriage": fair["rate_marriage"]}, ["rate_marriage"], bases={"rate_marriage": 5})
    coef = least_squares(X, fair["had_affair"])
    means = fair.groupby("rate_marriage")["had_affair"].mean()
    assert coef[0] == pytest.approx(means[5.0], abs=1e-12)
    for name, value in zip(names[1:], coef[1:], strict=True):
        level = float(name.removeprefix("rate_marriage_"))
        assert value == pytest.approx(means[level] - means[5.0], abs=1e-12)


def test_design_matrix_and_least_squares_match_statsmodels_formula(fair):
    columns = {c: fair[c] for c in ("rate_marriage", "age", "religious", "educ")}
    X, names = design_matrix(columns, ["rate_marriage", "religious"], bases={"rate_marriage": 5})
    ours = least_squares(X, fair["had_affair"])
    formula = "had_affair ~ C(rate_marriage, Treatment(5)) + age + C(religious) + educ"
    reference = smf.ols(formula, data=fair).fit()
    # statsmodels' names: Intercept, C(rate_marriage, Treatment(5))[T.1.0], C(religious)[T.2.0], age
    renamed = {
        re.sub(r"C\((\w+).*\)\[T\.(.+)\]", r"\1_\2", name).replace("Intercept", "const"): value
        for name, value in reference.params.items()
    }
    assert sorted(renamed) == sorted(names)
    np.testing.assert_allclose(ours, [renamed[name] for name in names], atol=1e-10)
    np.testing.assert_allclose(X @ ours, reference.fittedvalues, atol=1e-10)


def test_changing_the_base_changes_coefficients_not_predictions(fair):
    fits = []
    for base in (1.0, 5.0):
        X, _ = design_matrix({"r": fair["rate_marriage"], "age": fair["age"]}, ["r"], bases={"r": base})
        fits.append(X @ least_squares(X, fair["had_affair"]))
    reference = smf.ols("had_affair ~ C(rate_marriage) + age", data=fair).fit().fittedvalues
    np.testing.assert_allclose(fits[0], reference, atol=1e-10)
    np.testing.assert_allclose(fits[1], reference, atol=1e-10)


def test_the_dummy_trap_is_named(fair):
    with pytest.raises(ValueError, match="dummy-variable trap"):
        design_matrix({"rate_marriage": fair["rate_marriage"]}, ["rate_marriage"], full_encoding=True)
    X, _ = design_matrix({"rate_marriage": fair["rate_marriage"]}, ["rate_marriage"], full_encoding=True, constant=False)
    assert np.linalg.matrix_rank(X) == X.shape[1] == 5


def test_unknown_base_level():
    with pytest.raises(ValueError, match="unknown base level 7"):
        dummy_encode([1, 2, 3, 2], base=7)
    with pytest.raises(ValueError, match="unknown base level 'x'"):
        dummy_encode(["a", "b"], base="x")


def test_a_single_level_is_refused():
    with pytest.raises(ValueError, match="single level"):
        dummy_encode(["a", "a", "a"])
    with pytest.raises(ValueError, match="single level"):
        design_matrix({"g": [3, 3, 3], "z": [1.0, 2.0, 4.0]}, ["g"])


@pytest.mark.parametrize("values", [[1.0, np.nan, 2.0], np.array(["a", None, "b"], dtype=object), [1.0, 2.0, float("nan")]])
def test_missing_categories_are_refused(values):
    with pytest.raises(ValueError, match="missing values"):
        one_hot(values)
    with pytest.raises(ValueError, match="missing values"):
        contingency_table(values, [0, 1, 0])


def test_values_outside_the_fixed_levels_are_refused():
    with pytest.raises(ValueError, match="not among its levels"):
        one_hot(["a", "b", "c"], levels=["a", "b"])
    with pytest.raises(ValueError, match="distinct"):
        one_hot(["a", "b"], levels=["a", "a", "b"])


def test_design_matrix_bad_columns():
    with pytest.raises(ValueError, match="one length"):
        design_matrix({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0]})
    with pytest.raises(ValueError, match="no column named"):
        design_matrix({"a": [1.0, 2.0, 3.0]}, ["colour"])
    with pytest.raises(ValueError, match="not categorical"):
        design_matrix({"a": [1.0, 2.0, 3.0], "g": ["x", "y", "x"]}, ["g"], bases={"a": 1.0})
    with pytest.raises(ValueError, match="NaN"):
        design_matrix({"a": [1.0, np.nan, 3.0], "b": [1.0, 0.0, 2.0]})
    with pytest.raises(ValueError, match="'a' is a linear combination"):
        design_matrix({"a": [1.0, 2.0, 3.0], "b": [2.0, 4.0, 6.0]}, constant=False)


# ---------------------------------------------------------------- binning


@pytest.mark.parametrize("bins", [2, 3, 7])
def test_equal_width_bins_match_numpy_histogram(fair, bins):
    x = fair["affairs"].to_numpy()
    edges = equal_width_edges(x, bins)
    np.testing.assert_allclose(edges, np.histogram_bin_edges(x, bins), rtol=1e-15)
    index = bin_index(x, edges)
    np.testing.assert_array_equal(np.bincount(index, minlength=bins), np.histogram(x, edges)[0])
    np.testing.assert_array_equal(index, np.digitize(x, edges[1:-1]))


@pytest.mark.parametrize("bins", [2, 4, 10])
def test_quantile_bins_match_pandas_qcut(bins):
    x = np.random.default_rng(0).lognormal(size=1001)
    edges = quantile_edges(x, bins)
    np.testing.assert_allclose(edges, pd.qcut(x, bins, retbins=True)[1], rtol=1e-15)
    counts = np.bincount(bin_index(x, edges), minlength=bins)
    np.testing.assert_array_equal(counts, np.histogram(x, edges)[0])
    assert np.abs(counts - len(x) / bins).max() <= 2  # equal counts, up to ties at the edges


@pytest.mark.parametrize("bins", [1, 0, -3, 2.5, True])
def test_fewer_than_two_bins_are_refused(bins):
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        equal_width_edges([1.0, 2.0, 3.0], bins)
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        quantile_edges([1.0, 2.0, 3.0], bins)


def test_bad_binning_input(fair):
    with pytest.raises(ValueError, match="NaN"):
        equal_width_edges([1.0, np.nan, 3.0], 2)
    with pytest.raises(ValueError, match="constant"):
        equal_width_edges([2.0, 2.0], 2)
    with pytest.raises(ValueError, match="not distinct"):
        quantile_edges(fair["affairs"], 3)  # two thirds of the values are 0
    with pytest.raises(ValueError, match="outside the edges"):
        bin_index([0.5, 5.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="increasing"):
        bin_index([0.5], [0.0, 2.0, 1.0])


# ---------------------------------------------------------------- contingency tables and chi-square


def test_contingency_table_matches_pandas_crosstab(fair):
    table, rows, columns = contingency_table(fair["rate_marriage"], fair["religious"])
    reference = pd.crosstab(fair["rate_marriage"], fair["religious"])
    np.testing.assert_array_equal(table, reference.to_numpy())
    np.testing.assert_array_equal(rows, reference.index)
    np.testing.assert_array_equal(columns, reference.columns)


def tables(fair) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [
        contingency_table(fair["rate_marriage"], fair["had_affair"])[0],
        contingency_table(fair["occupation"], fair["religious"])[0],
        contingency_table(fair["children"] > 0, fair["had_affair"])[0],
        np.array([[3, 1], [1, 3]]),
        rng.integers(1, 30, size=(4, 6)),
        rng.integers(1, 5, size=(2, 3)).astype(float),
    ]


def test_chi_square_matches_scipy(fair):
    for table in tables(fair):
        ours = chi_square_test(table)
        ref = stats.chi2_contingency(table, correction=False)
        assert ours.dof == ref.dof
        assert ours.statistic == pytest.approx(ref.statistic, rel=1e-10, abs=1e-10)
        assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-10)
        np.testing.assert_allclose(ours.expected, ref.expected_freq, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(expected_counts(table), stats.contingency.expected_freq(table), rtol=1e-10)


def test_yates_correction_matches_scipy_default_on_2x2(fair):
    for table in ([[3, 1], [1, 3]], [[10, 10], [10, 10.2]], contingency_table(fair["children"] > 0, fair["had_affair"])[0]):
        ours = chi_square_test(table, yates=True)
        ref = stats.chi2_contingency(table)  # scipy corrects 2 x 2 tables by default
        assert ours.statistic == pytest.approx(ref.statistic, rel=1e-10, abs=1e-10)
        assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-10)
        assert chi_square_test(table).statistic >= ours.statistic


def test_cramers_v_matches_scipy(fair):
    for table in tables(fair)[:-1]:  # scipy's association() accepts integer counts only
        reference = stats.contingency.association(table, method="cramer")
        assert cramers_v(table) == pytest.approx(reference, rel=1e-10)


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="expected counts are 0"):
        chi_square_test([[3, 0, 4], [2, 0, 5]])  # an empty column
    with pytest.raises(ValueError, match="expected counts are 0"):
        expected_counts([[0, 0], [2, 5]])  # an empty row
    with pytest.raises(ValueError, match="at least 2 rows and 2 columns"):
        chi_square_test([[3, 4, 5]])
    with pytest.raises(ValueError, match="non-negative"):
        chi_square_test([[3, -1], [2, 5]])
    with pytest.raises(ValueError, match="non-negative"):
        chi_square_test([[3, np.nan], [2, 5]])
    with pytest.raises(ValueError, match="2 x 2"):
        chi_square_test([[3, 1, 2], [2, 5, 1]], yates=True)
    with pytest.raises(ValueError, match="has 3 values but"):
        contingency_table([1, 2, 1], [0, 1])


# ---------------------------------------------------------------- variance inflation factors


def statsmodels_vif(X: pd.DataFrame) -> np.ndarray:
    """statsmodels' VIFs of the features, with the constant added as its documentation does."""
    exog = sm.add_constant(X).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns that Longley is badly conditioned
        return np.array([variance_inflation_factor(exog, j) for j in range(1, exog.shape[1])])


def test_vif_matches_statsmodels_on_longley(longley):
    ours = variance_inflation_factors(longley.to_numpy(), list(longley.columns))
    reference = statsmodels_vif(longley)
    np.testing.assert_allclose(ours, reference, rtol=1e-8, atol=1e-8)
    assert reference.max() > 1000  # GNP: the data set is famous for this


def test_vif_matches_statsmodels_on_fair(fair):
    features = fair[["age", "yrs_married", "children", "religious", "educ", "occupation"]]
    np.testing.assert_allclose(variance_inflation_factors(features), statsmodels_vif(features), rtol=1e-8, atol=1e-8)


def test_vif_is_one_for_uncorrelated_features():
    X = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # orthogonal, centred columns
    np.testing.assert_allclose(variance_inflation_factors(X), statsmodels_vif(pd.DataFrame(X)), atol=1e-12)
    np.testing.assert_allclose(variance_inflation_factors(X), [1.0, 1.0], atol=1e-12)


def test_bad_vif_input(longley):
    with pytest.raises(ValueError, match="'const' is constant"):
        variance_inflation_factors(sm.add_constant(longley).to_numpy(), ["const", *longley.columns])
    X = longley[["GNP", "POP"]].to_numpy()
    with pytest.raises(ValueError, match="perfect collinearity"):
        variance_inflation_factors(np.column_stack([X, X.sum(axis=1)]))
    with pytest.raises(ValueError, match="at least two columns"):
        variance_inflation_factors(X[:, :1])
    with pytest.raises(ValueError, match="NaN"):
        variance_inflation_factors(np.where(X > X.max() - 1, np.nan, X))
