"""Chapter 3: linear regression checked against statsmodels OLS and scikit-learn on the same data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, LinearRegression, Ridge
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from llm_anatomy.linear import (
    LinearModel,
    OLSResult,
    add_constant,
    fit_gradient_descent,
    fit_normal_equations,
    fit_ols,
    fit_qr,
    lasso,
    load_model,
    polynomial_features,
    ridge,
    save_model,
    soft_threshold,
    standardize,
)

TOL = 1e-6  # OLS statistics vs statsmodels
PENALTY_TOL = 1e-5  # ridge and lasso coefficients vs scikit-learn


@pytest.fixture(scope="module")
def diabetes():
    """The raw diabetes data (age in years, BMI in kg/m², ...): X (442, 10), y (442,), names."""
    data = load_diabetes(scaled=False)
    return data.data, data.target, list(data.feature_names)


@pytest.fixture(scope="module")
def fitted(diabetes):
    X, y, names = diabetes
    return fit_ols(X, y, names), sm.OLS(y, sm.add_constant(X)).fit()


@pytest.fixture(scope="module")
def new_points(diabetes):
    """Rows to predict: some patients, nudged, and one far outside the data."""
    X, _, _ = diabetes
    rng = np.random.default_rng(0)
    rows = X[rng.choice(len(X), 6, replace=False)] * rng.uniform(0.9, 1.1, size=(6, X.shape[1]))
    return np.vstack([rows, X.mean(axis=0), 2 * X.max(axis=0)])


def test_ols_matches_statsmodels(fitted):
    ours, ref = fitted
    for name in ("params", "bse", "tvalues", "pvalues"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=0, atol=TOL, err_msg=name)
    for name in ("rsquared", "rsquared_adj", "fvalue", "f_pvalue"):
        assert getattr(ours, name) == pytest.approx(getattr(ref, name), rel=0, abs=TOL), name
    assert ours.sigma2 == pytest.approx(ref.scale, rel=1e-10)
    assert (ours.nobs, ours.df_model, ours.df_resid) == (ref.nobs, ref.df_model, ref.df_resid)
    assert ours.f_pvalue > 0  # a real tail probability, not an underflow to 0


def test_ols_matches_statsmodels_on_scaled_diabetes():
    data = load_diabetes()  # the centered and scaled copy: different numbers, same model
    ours = fit_ols(data.data, data.target)
    ref = sm.OLS(data.target, sm.add_constant(data.data)).fit()
    for name in ("params", "bse", "tvalues", "pvalues"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=0, atol=TOL, err_msg=name)
    assert ours.rsquared == pytest.approx(ref.rsquared, abs=TOL)


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_conf_int_matches_statsmodels(fitted, alpha):
    ours, ref = fitted
    np.testing.assert_allclose(ours.conf_int(alpha), ref.conf_int(alpha), rtol=0, atol=TOL)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_prediction_intervals_match_summary_frame(fitted, new_points, alpha):
    ours, ref = fitted
    frame = ref.get_prediction(sm.add_constant(new_points, has_constant="add")).summary_frame(alpha=alpha)
    intervals = ours.prediction_intervals(new_points, alpha=alpha)
    assert list(intervals) == list(frame.columns)
    for column in frame.columns:
        np.testing.assert_allclose(intervals[column], frame[column].to_numpy(), rtol=0, atol=TOL, err_msg=column)
    np.testing.assert_allclose(ours.predict(new_points), ref.predict(sm.add_constant(new_points, has_constant="add")), atol=TOL)


@pytest.mark.parametrize("solver", [fit_normal_equations, fit_qr])
def test_exact_solvers_match_sklearn(diabetes, solver):
    X, y, _ = diabetes
    ref = LinearRegression().fit(X, y)
    coef = solver(add_constant(X), y)
    assert coef[0] == pytest.approx(ref.intercept_, abs=TOL)
    np.testing.assert_allclose(coef[1:], ref.coef_, rtol=0, atol=TOL)


def test_qr_stays_accurate_where_normal_equations_do_not():
    # A degree-12 polynomial design on [0, 1] has condition number ~7e8; X^T X has ~5e17.
    x = np.linspace(0, 1, 50)
    design = add_constant(polynomial_features(x, 12))
    true_coef = np.ones(13)
    y = design @ true_coef  # noise-free: the exact answer is known
    qr_error = np.abs(fit_qr(design, y) - true_coef).max()
    normal_error = np.abs(fit_normal_equations(design, y) - true_coef).max()
    assert qr_error < 1e-6
    assert normal_error > 1e3 * qr_error


def test_gradient_descent_converges_to_ols(diabetes, fitted):
    X, y, names = diabetes
    _, ref = fitted
    model, losses = fit_gradient_descent(X, y, lr=0.45, n_steps=5000, names=names)
    assert model.intercept == pytest.approx(ref.params[0], abs=1e-5)
    np.testing.assert_allclose(model.coef, ref.params[1:], rtol=0, atol=1e-5)
    assert model.names == tuple(names)
    # on a quadratic loss every step with 0 < lr < 2 / lambda_max lowers the loss (up to rounding)
    assert np.all(np.diff(losses) <= 1e-12 * losses[0])
    assert losses[-1] == pytest.approx(ref.ssr / (2 * len(y)), rel=1e-9)


def test_gradient_descent_diverges_above_the_stability_limit(diabetes):
    X, y, _ = diabetes
    _, losses = fit_gradient_descent(X, y, lr=0.55, n_steps=200)  # 2 / lambda_max is about 0.497
    assert losses[-1] > losses[0] * 1e3


@pytest.mark.parametrize("alpha", [0.1, 10.0, 1000.0])
@pytest.mark.parametrize("scaled", [False, True])
def test_ridge_matches_sklearn(alpha, scaled):
    data = load_diabetes(scaled=scaled)
    ours = ridge(data.data, data.target, alpha)
    ref = Ridge(alpha=alpha).fit(data.data, data.target)
    np.testing.assert_allclose(ours.coef, ref.coef_, rtol=0, atol=PENALTY_TOL)
    assert ours.intercept == pytest.approx(ref.intercept_, abs=PENALTY_TOL)


@pytest.mark.parametrize(
    ("standardized", "alpha"),
    [(True, 0.1), (True, 1.0), (True, 5.0), (False, 0.1), (False, 0.5)],
)
def test_lasso_matches_sklearn(standardized, alpha):
    data = load_diabetes(scaled=False)
    X = StandardScaler().fit_transform(data.data) if standardized else load_diabetes().data
    ours = lasso(X, data.target, alpha)
    ref = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(X, data.target)
    np.testing.assert_allclose(ours.coef, ref.coef_, rtol=0, atol=PENALTY_TOL)
    assert ours.intercept == pytest.approx(ref.intercept_, abs=PENALTY_TOL)
    assert np.array_equal(ours.coef == 0, ref.coef_ == 0)  # the same features are dropped


def test_lasso_zeroes_coefficients_at_these_alphas():
    data = load_diabetes(scaled=False)
    Z = StandardScaler().fit_transform(data.data)
    assert (lasso(Z, data.target, 1.0).coef == 0).sum() >= 2
    ref = Lasso(alpha=1.0, tol=1e-14, max_iter=1_000_000).fit(Z, data.target)
    assert (ref.coef_ == 0).sum() >= 2


def test_lasso_warm_start_reaches_the_same_solution():
    data = load_diabetes(scaled=False)
    Z = StandardScaler().fit_transform(data.data)
    ref = Lasso(alpha=0.5, tol=1e-14, max_iter=1_000_000).fit(Z, data.target)
    warm = lasso(Z, data.target, 0.5, init=lasso(Z, data.target, 2.0).coef)
    np.testing.assert_allclose(warm.coef, ref.coef_, rtol=0, atol=PENALTY_TOL)


def test_lasso_warns_when_it_runs_out_of_sweeps():
    data = load_diabetes()
    with pytest.warns(RuntimeWarning, match="did not converge"):
        lasso(data.data, data.target, 0.01, max_sweeps=2)


def test_soft_threshold_values():
    z = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(soft_threshold(z, 1.0), [-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])


def test_polynomial_features_match_sklearn():
    x = np.linspace(-2, 3, 17)
    ref = PolynomialFeatures(degree=5, include_bias=False).fit_transform(x[:, None])
    np.testing.assert_allclose(polynomial_features(x, 5), ref, rtol=1e-15, atol=0)


def test_standardize_matches_sklearn(diabetes):
    X, _, _ = diabetes
    Z, mean, scale = standardize(X)
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(Z, scaler.transform(X), atol=1e-12)
    np.testing.assert_allclose(mean, scaler.mean_, rtol=1e-14)
    np.testing.assert_allclose(scale, scaler.scale_, rtol=1e-12)


# Saving and loading


def test_ols_result_round_trip(tmp_path, fitted, new_points):
    ours, ref = fitted
    path = tmp_path / "ols.json"
    save_model(ours, path)
    loaded = load_model(path)
    assert isinstance(loaded, OLSResult)
    assert loaded.names == ours.names and loaded.nobs == ours.nobs
    np.testing.assert_array_equal(loaded.params, ours.params)  # bit for bit
    np.testing.assert_array_equal(loaded.normalized_cov, ours.normalized_cov)
    assert (loaded.sigma2, loaded.rsquared) == (ours.sigma2, ours.rsquared)
    np.testing.assert_array_equal(loaded.pvalues, ours.pvalues)
    frame = ref.get_prediction(sm.add_constant(new_points, has_constant="add")).summary_frame()
    np.testing.assert_allclose(loaded.prediction_intervals(new_points)["obs_ci_upper"], frame["obs_ci_upper"], atol=TOL)


def test_linear_model_round_trip(tmp_path, diabetes):
    X, y, names = diabetes
    model = ridge(X, y, 10.0, names=names)
    path = tmp_path / "ridge.json"
    save_model(model, path)
    loaded = load_model(path)
    assert isinstance(loaded, LinearModel)
    assert loaded.names == tuple(names) and loaded.intercept == model.intercept
    np.testing.assert_array_equal(loaded.coef, model.coef)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))  # the round trip is exact
    np.testing.assert_allclose(loaded.predict(X), Ridge(alpha=10.0).fit(X, y).predict(X), atol=PENALTY_TOL)


def test_load_rejects_files_that_are_not_models(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ValueError, match="not a model saved by llm_anatomy.linear"):
        load_model(other)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format": "llm_anatomy.linear", "version": 99, "type": "LinearModel"}))
    with pytest.raises(ValueError, match="unsupported format version"):
        load_model(future)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "llm_anatomy.linear", "version": 1, "type": "LinearModel", "coef": [1.0]}))
    with pytest.raises(ValueError, match="do not match LinearModel"):
        load_model(broken)
    wrong_shape = tmp_path / "shape.json"
    payload = {"format": "llm_anatomy.linear", "version": 1, "type": "LinearModel", "intercept": 0.0, "coef": [1.0, 2.0], "names": ["a"]}
    wrong_shape.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="got 1 names for 2 features"):
        load_model(wrong_shape)


def test_save_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot save a LinearRegression"):
        save_model(LinearRegression(), tmp_path / "x.json")


# Bad input


def test_duplicated_column_is_named_as_singular(diabetes):
    X, y, names = diabetes
    X_dup = np.column_stack([X, X[:, 2]])  # bmi twice
    with pytest.raises(ValueError, match=r"singular design matrix.*'bmi'"):
        fit_ols(X_dup, y, [*names, "bmi_again"])
    for solver in (fit_qr, fit_normal_equations):
        with pytest.raises(ValueError, match="singular design matrix"):
            solver(add_constant(X_dup), y)


def test_different_lengths_are_refused(diabetes):
    X, y, _ = diabetes
    for fit in (fit_ols, fit_qr, fit_normal_equations, fit_gradient_descent):
        with pytest.raises(ValueError, match="X has 442 rows but y has 441 values"):
            fit(X, y[:-1])
    for fit in (ridge, lasso):
        with pytest.raises(ValueError, match="X has 442 rows but y has 441 values"):
            fit(X, y[:-1], 1.0)


def test_nan_and_inf_are_refused(diabetes):
    X, y, _ = diabetes
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    y_inf = y.copy()
    y_inf[0] = np.inf
    with pytest.raises(ValueError, match="X contains 1 NaN and 0 infinite values"):
        fit_ols(X_nan, y)
    with pytest.raises(ValueError, match="y contains 0 NaN and 1 infinite values"):
        fit_ols(X, y_inf)
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        ridge(X_nan, y, 1.0)
    with pytest.raises(ValueError, match="y contains 0 NaN and 1 infinite"):
        lasso(X, y_inf, 1.0)
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        fit_ols(X, y).predict(X_nan)


def test_other_bad_input(diabetes):
    X, y, names = diabetes
    with pytest.raises(ValueError, match="need n > k"):
        fit_ols(X[:11], y[:11])
    with pytest.raises(ValueError, match="y is constant"):
        fit_ols(X, np.full(len(y), 3.0))
    with pytest.raises(ValueError, match="got 2 names for 10 features"):
        fit_ols(X, y, names[:2])
    with pytest.raises(ValueError, match="model was fitted on 10"):
        fit_ols(X, y).prediction_intervals(X[:, :3])
    with pytest.raises(ValueError, match="model was fitted on 10"):
        ridge(X, y, 1.0).predict(X[:, :3])
    with pytest.raises(ValueError, match="alpha must be positive"):
        ridge(X, y, 0.0)
    with pytest.raises(ValueError, match="alpha must be positive"):
        lasso(X, y, -1.0)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        fit_gradient_descent(X, y, lr=0.0)
    with pytest.raises(ValueError, match="column.*constant"):
        fit_gradient_descent(np.column_stack([X, np.ones(len(X))]), y)
    with pytest.raises(ValueError, match="degree must be an integer >= 1"):
        polynomial_features(X[:, 0], 0)
    with pytest.raises(ValueError, match="degree must be an integer >= 1"):
        polynomial_features(X[:, 0], 2.5)
