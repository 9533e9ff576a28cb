"""Logistic and softmax regression of chapter 4, checked against statsmodels and scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.metrics import log_loss
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from llm_anatomy.logistic import (
    LogisticRegression,
    OneVsRestLogistic,
    SoftmaxRegression,
    add_intercept,
    find_separation,
    negative_log_likelihood,
    sigmoid,
    softmax,
)

# Relative tolerances, about two orders of magnitude above the largest relative difference
# measured (torch 2.13, statsmodels 0.15, scikit-learn 1.9, Linux x86-64):
# - statsmodels: 4.2e-11 on every table entry (coefficients, standard errors, z, p-values,
#   intervals, covariance) and 4.1e-10 on the pseudo R² (statsmodels fits the null model
#   iteratively: its log-likelihood differs from our closed form by 6e-11 relative).
STATSMODELS_RTOL = 1e-8
# - the likelihood-ratio p-value of the fair data is 5.8e-224 = exp(-LLR/2)-ish: the null
#   model's absolute log-likelihood difference (2.5e-7) becomes a relative one, measured 2.5e-7.
LLR_PVALUE_RTOL = 1e-5
# - gradient descent on standardized spector, after 1000 steps: 1.6e-15.
GD_RTOL = 1e-12
# - scikit-learn's Newton solver at tol=1e-12: 1.5e-9 (binary, C=5, probabilities), at most
#   6.3e-12 for softmax, 1e-12 one-vs-rest.
SKLEARN_RTOL = 1e-7


def sklearn_reference(C: float, **kwargs) -> SklearnLogisticRegression:
    """scikit-learn's model at penalty C, solved by Newton's method to convergence.

    Its default solver, lbfgs, stops 1e-5 (relative) away from the optimum even at tol=1e-12;
    newton-cholesky converges to rounding, like ours.
    """
    return SklearnLogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=10_000, **kwargs)


@pytest.fixture(scope="module")
def spector():
    data = sm.datasets.spector.load_pandas()
    return data.exog, data.endog


@pytest.fixture(scope="module")
def fair():
    data = sm.datasets.fair.load_pandas().data
    return data.drop(columns="affairs"), (data["affairs"] > 0).astype(float)


def _standardized(loader):
    data = loader()
    return StandardScaler().fit_transform(data.data), data.target


def assert_matches_statsmodels(model: LogisticRegression, reference) -> None:
    table = model.table_
    for ours, theirs in [
        (table.params, reference.params),
        (table.bse, reference.bse),
        (table.zvalues, reference.tvalues),  # statsmodels calls the z statistics tvalues
        (table.pvalues, reference.pvalues),
        (table.conf_int, reference.conf_int()),
        (table.cov_params, reference.cov_params()),
    ]:
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=STATSMODELS_RTOL, atol=0)
    for ours, theirs in [
        (table.llf, reference.llf),
        (table.llnull, reference.llnull),
        (table.pseudo_r2, reference.prsquared),
    ]:
        assert ours == pytest.approx(theirs, rel=STATSMODELS_RTOL, abs=0)
    assert table.llr_pvalue == pytest.approx(reference.llr_pvalue, rel=LLR_PVALUE_RTOL, abs=0)


def test_spector_matches_statsmodels_logit(spector):
    X, y = spector
    ours = LogisticRegression().fit(X, y, names=list(X.columns))
    reference = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    assert_matches_statsmodels(ours, reference)
    assert len(ours.history_) < 12  # Newton: a handful of iterations
    assert "PSI" in ours.summary()


def test_fair_affairs_matches_statsmodels_logit(fair):
    X, y = fair
    ours = LogisticRegression().fit(X, y)
    reference = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    assert_matches_statsmodels(ours, reference)


def test_gradient_descent_reaches_the_maximum_likelihood_estimate(spector):
    X, y = spector
    Z = (X - X.mean()) / X.std(ddof=0)  # standardized features: gradient descent converges
    ours = LogisticRegression(solver="gd", lr=1.0, n_steps=1000).fit(Z, y)
    reference = sm.Logit(y, sm.add_constant(Z)).fit(disp=0)
    np.testing.assert_allclose(ours.params_, reference.params, rtol=GD_RTOL, atol=0)
    assert ours.history_[-1] == pytest.approx(-reference.llf / len(y), abs=1e-10)


def test_gradient_descent_on_raw_features_is_far_from_the_optimum(spector):
    X, y = spector
    slow = LogisticRegression(solver="gd", lr=0.01, n_steps=2000).fit(X, y)
    reference = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    assert abs(slow.intercept_ - reference.params["const"]) > 5  # the point of the chapter's figure


@pytest.mark.parametrize("C", [0.05, 1.0, 5.0])
def test_penalized_binary_matches_sklearn(C):
    X, y = _standardized(load_breast_cancer)
    ours = LogisticRegression(C=C).fit(X, y)
    theirs = sklearn_reference(C).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_[0], rtol=SKLEARN_RTOL, atol=0)
    assert ours.intercept_ == pytest.approx(theirs.intercept_[0], rel=SKLEARN_RTOL, abs=0)
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X)[:, 1], rtol=SKLEARN_RTOL, atol=0
    )
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.table_ is None
    with pytest.raises(ValueError, match="fitted with a penalty"):
        ours.summary()


@pytest.mark.parametrize("loader", [load_iris, load_wine])
@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
def test_softmax_matches_sklearn_multinomial(loader, C):
    X, y = _standardized(loader)
    ours = SoftmaxRegression(C=C).fit(X, y)
    theirs = sklearn_reference(C).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=SKLEARN_RTOL, atol=0)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=SKLEARN_RTOL, atol=0)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=SKLEARN_RTOL, atol=0)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("loader", [load_iris, load_wine])
def test_one_vs_rest_matches_sklearn(loader):
    X, y = _standardized(loader)
    ours = OneVsRestLogistic(C=1.0).fit(X, y)
    theirs = OneVsRestClassifier(sklearn_reference(1.0)).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=SKLEARN_RTOL, atol=0)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_building_blocks_match_scipy_and_sklearn():
    z = np.array([-1000.0, -40.0, -1.5, 0.0, 2.0, 40.0, 1000.0])
    np.testing.assert_allclose(sigmoid(z), special.expit(z), rtol=1e-15, atol=0)
    Z = np.random.default_rng(0).normal(scale=30, size=(50, 4))
    np.testing.assert_allclose(softmax(Z), special.softmax(Z, axis=1), rtol=1e-12, atol=1e-300)
    X, y = _standardized(load_breast_cancer)
    beta = np.random.default_rng(1).normal(scale=0.3, size=X.shape[1] + 1)
    nll = negative_log_likelihood(beta, add_intercept(X), y)
    # the negative log-likelihood is the summed cross-entropy
    assert nll == pytest.approx(len(y) * log_loss(y, sigmoid(add_intercept(X) @ beta)), rel=1e-12)


def separated_data():
    """Class 1 exactly where x > 2.5: complete separation."""
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    return x, (x > 2.5).astype(float)


def test_complete_separation_is_detected_like_statsmodels():
    x, y = separated_data()
    with pytest.raises(ValueError, match="perfect separation"):
        LogisticRegression().fit(x, y)
    with pytest.warns(PerfectSeparationWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its Newton steps overflow too
        warnings.filterwarnings("ignore", message=".*converge")
        sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    direction = find_separation(add_intercept(x[:, None]), y)
    assert direction is not None
    signed = (2 * y - 1) * (add_intercept(x[:, None]) @ direction)
    assert signed.min() >= -1e-12 and signed.max() > 0


def test_quasi_complete_separation_is_detected():
    x = np.array([0.0, 1.0, 2.0, 3.0, 3.0, 4.0, 5.0])  # one tie at the boundary x = 3
    y = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="perfect separation"):
        LogisticRegression().fit(x, y)


def test_a_penalty_makes_separated_data_fit(spector):
    x, y = separated_data()
    ours = LogisticRegression(C=1.0).fit(x, y)
    theirs = sklearn_reference(1.0).fit(x[:, None], y)
    np.testing.assert_allclose(
        ours.predict_proba(x), theirs.predict_proba(x[:, None])[:, 1], rtol=SKLEARN_RTOL, atol=0
    )
    assert find_separation(add_intercept(np.asarray(spector[0])), np.asarray(spector[1])) is None


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ([[1.0], [2.0], [3.0], [4.0]], [0, 2, 0, 2], "binary labels"),
        ([[1.0], [2.0], [3.0], [4.0]], [0, 1, 0], "rows but y has"),
        ([[1.0], [np.nan], [3.0], [4.0]], [0, 1, 0, 1], "NaN"),
        ([[1.0], [2.0], [3.0], [4.0]], [0, 1, np.inf, 1], "infinite"),
        ([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [4.0, 8.0]], [0, 1, 1, 0], "singular design matrix"),
        ([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]], [0, 1, 1, 0], "singular design matrix"),
        ([[1.0], [2.0], [3.0], [4.0]], [1, 1, 1, 1], "only the class 1"),
    ],
)
def test_binary_bad_input_raises(X, y, message):
    with pytest.raises(ValueError, match=message):
        LogisticRegression().fit(X, y)


def test_bad_settings_and_use_raise():
    with pytest.raises(ValueError, match="C must be positive"):
        LogisticRegression(C=0.0)
    with pytest.raises(ValueError, match="C must be positive"):
        OneVsRestLogistic(C=-1.0)
    with pytest.raises(ValueError, match="solver must be"):
        LogisticRegression(solver="sgd")
    with pytest.raises(ValueError, match="finite C"):
        SoftmaxRegression(C=np.inf)
    with pytest.raises(ValueError, match="at least 2"):
        SoftmaxRegression().fit([[1.0], [2.0]], [3, 3])
    with pytest.raises(ValueError, match="rows but y has"):
        SoftmaxRegression().fit([[1.0], [2.0], [3.0]], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        SoftmaxRegression().fit([[1.0], [np.nan], [3.0]], [0, 1, 2])
    with pytest.raises(RuntimeError, match="call fit"):
        LogisticRegression().predict_proba([[1.0]])
    with pytest.raises(RuntimeError, match="call fit"):
        SoftmaxRegression().predict([[1.0]])
    with pytest.raises(ValueError, match="feature names"):
        LogisticRegression().fit([[1.0], [2.0], [3.0], [2.5]], [0, 1, 0, 1], names=["a", "b"])
    fitted = LogisticRegression().fit([[1.0], [2.0], [3.0], [2.5]], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="2 features, the model was fitted with 1"):
        fitted.predict([[1.0, 2.0]])
