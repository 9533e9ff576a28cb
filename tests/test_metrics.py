"""Classification metrics of chapter 4, checked against scikit-learn for exact equality."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.preprocessing import StandardScaler

from llm_anatomy import metrics


def random_problems(seed: int, count: int = 40):
    """Labels and scores of random sizes, with many tied scores (rounded to 0-2 decimals)."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(3, 300))
        y = rng.integers(0, 2, n).astype(float)
        y[:2] = [0.0, 1.0]  # both classes present
        scores = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), int(rng.integers(0, 3)))
        yield y, scores


@pytest.fixture(scope="module")
def cancer_scores():
    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data[:, :5])  # five features: an imperfect model
    y = (data.target == 0).astype(float)  # malignant is the positive class
    return y, SklearnLogisticRegression().fit(X, y).predict_proba(X)[:, 1]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("drop_intermediate", [True, False])
def test_roc_curve_equals_sklearn(seed, drop_intermediate):
    for y, scores in random_problems(seed):
        ours = metrics.roc_curve(y, scores, drop_intermediate=drop_intermediate)
        theirs = skm.roc_curve(y, scores, drop_intermediate=drop_intermediate)
        for a, b in zip(ours, theirs, strict=True):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_precision_recall_equal_sklearn(seed):
    for y, scores in random_problems(seed):
        assert metrics.roc_auc_score(y, scores) == skm.roc_auc_score(y, scores)
        ours = metrics.precision_recall_curve(y, scores)
        theirs = skm.precision_recall_curve(y, scores)
        for a, b in zip(ours, theirs, strict=True):
            assert np.array_equal(a, b)
        assert metrics.average_precision(y, scores) == skm.average_precision_score(y, scores)


def test_curves_of_a_real_model_equal_sklearn(cancer_scores):
    y, scores = cancer_scores
    for ours, theirs in [
        (metrics.roc_curve(y, scores), skm.roc_curve(y, scores)),
        (metrics.precision_recall_curve(y, scores), skm.precision_recall_curve(y, scores)),
    ]:
        for a, b in zip(ours, theirs, strict=True):
            assert np.array_equal(a, b)
    assert metrics.roc_auc_score(y, scores) == skm.roc_auc_score(y, scores)
    assert metrics.auc(*metrics.roc_curve(y, scores)[:2]) == skm.auc(*skm.roc_curve(y, scores)[:2])


@pytest.mark.parametrize("seed", range(3))
def test_auc_is_the_mann_whitney_probability(seed):
    for y, scores in random_problems(seed, count=10):
        u = stats.mannwhitneyu(scores[y == 1], scores[y == 0]).statistic  # ties count one half
        assert metrics.roc_auc_score(y, scores) == pytest.approx(
            u / ((y == 1).sum() * (y == 0).sum()), abs=1e-12
        )


@pytest.mark.parametrize("seed", range(2))
def test_confusion_matrix_precision_recall_f1_equal_sklearn(seed):
    for y, scores in random_problems(seed, count=20):
        for threshold in (-np.inf, np.median(scores), np.inf):  # all, half, none positive
            predicted = (scores >= threshold).astype(float)
            assert np.array_equal(
                metrics.confusion_matrix(y, predicted), skm.confusion_matrix(y, predicted)
            )
            # zero_division=0: a score with an empty denominator is 0, as in our functions
            assert metrics.precision(y, predicted) == skm.precision_score(
                y, predicted, zero_division=0
            )
            assert metrics.recall(y, predicted) == skm.recall_score(y, predicted, zero_division=0)
            assert metrics.f1_score(y, predicted) == skm.f1_score(y, predicted, zero_division=0)
            assert metrics.accuracy(y, predicted) == skm.accuracy_score(y, predicted)


def test_multiclass_confusion_matrix_equals_sklearn():
    rng = np.random.default_rng(7)
    # label 0 appears only among the true labels, label 4 only among the predictions
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(1, 5, 200)
    assert np.array_equal(
        metrics.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred)
    )


def test_binary_counts_are_the_confusion_matrix_cells(cancer_scores):
    y, scores = cancer_scores
    predicted = (scores >= 0.5).astype(float)
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted).ravel()
    assert metrics.binary_counts(y, predicted) == (tp, fp, fn, tn)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.roc_curve([0, 2, 1], [0.1, 0.2, 0.3]), "binary labels"),
        (lambda: metrics.roc_auc_score([0, 1, 1], [0.1, 0.2]), "rows but y has"),
        (lambda: metrics.roc_auc_score([0, 1, 1], [0.1, np.nan, 0.3]), "NaN"),
        (lambda: metrics.roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3]), "only the class 1"),
        (lambda: metrics.precision_recall_curve([0, 0], [0.1, 0.2]), "only the class 0"),
        (lambda: metrics.precision([0, 1, 1], [0, 1, 3]), "y_pred must hold binary"),
        (lambda: metrics.f1_score([0, 1], [0, 1, 1]), "rows but y has"),
        (lambda: metrics.confusion_matrix([0, 1], [np.inf, 1]), "infinite"),
        (lambda: metrics.auc([0.0, 0.5, 0.2], [0.0, 0.5, 1.0]), "non-decreasing"),
        (lambda: metrics.auc([0.0], [1.0]), "at least two points"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
