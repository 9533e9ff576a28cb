"""Measures of a classifier: confusion matrix, precision, recall, F1, ROC and precision-recall curves.

The functions take labels as arrays of numbers. The binary ones expect 0 and 1, with 1 the
positive class, and scores where a larger number means "more likely positive"
(probabilities, logits or any other ranking). Each returns the same numbers as its
scikit-learn namesake, computed in the same order, so the two agree exactly. Where
scikit-learn warns and returns ``nan`` (a curve for a single class), these functions raise
``ValueError``.
"""

from __future__ import annotations

import numpy as np

from llm_anatomy.validation import as_vector, check_binary, check_same_length


def _binary_pair(y_true: object, other: object, other_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``y_true`` (0 and 1) and a second vector of the same length."""
    y_true, other = as_vector(y_true, "y_true"), as_vector(other, other_name)
    check_same_length(y_true, other)
    check_binary(y_true, "y_true")
    return y_true, other


# --8<-- [start:confusion]
def confusion_matrix(y_true: object, y_pred: object) -> np.ndarray:
    """Counts ``M[i, j]`` of samples of true class ``labels[i]`` predicted as ``labels[j]``.

    ``labels`` are the sorted values found in either array. For labels 0 and 1 the matrix
    is ``[[TN, FP], [FN, TP]]``.

    Example:
        >>> confusion_matrix([0, 1, 1, 0], [0, 1, 0, 0]).tolist()
        [[2, 0], [1, 1]]
    """
    y_true, y_pred = as_vector(y_true, "y_true"), as_vector(y_pred, "y_pred")
    check_same_length(y_true, y_pred)
    labels, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    k, n = len(labels), len(y_true)
    pairs = codes[:n] * k + codes[n:]  # one number per (true, predicted) pair
    return np.bincount(pairs, minlength=k * k).reshape(k, k)


def binary_counts(y_true: object, y_pred: object) -> tuple[int, int, int, int]:
    """``(TP, FP, FN, TN)`` for labels 0 and 1, 1 being the positive class."""
    y_true, y_pred = _binary_pair(y_true, y_pred, "y_pred")
    check_binary(y_pred, "y_pred")
    tp = int(np.sum((y_pred == 1) & (y_true == 1)))
    fp = int(np.sum((y_pred == 1) & (y_true == 0)))
    fn = int(np.sum((y_pred == 0) & (y_true == 1)))
    return tp, fp, fn, len(y_true) - tp - fp - fn


def precision(y_true: object, y_pred: object) -> float:
    """``TP / (TP + FP)``: the share of predicted positives that are positive (0 if none)."""
    tp, fp, _, _ = binary_counts(y_true, y_pred)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y_true: object, y_pred: object) -> float:
    """``TP / (TP + FN)``: the share of positives that are found (0 if there are none)."""
    tp, _, fn, _ = binary_counts(y_true, y_pred)
    return tp / (tp + fn) if tp + fn else 0.0


def f1_score(y_true: object, y_pred: object) -> float:
    """The harmonic mean of precision and recall, ``2 TP / (2 TP + FP + FN)`` (0 if undefined)."""
    tp, fp, fn, _ = binary_counts(y_true, y_pred)
    return 2 * tp / ((tp + fn) + (tp + fp)) if tp + fp + fn else 0.0


# --8<-- [end:confusion]


def accuracy(y_true: object, y_pred: object) -> float:
    """The share of samples whose predicted label equals the true one (any labels)."""
    y_true, y_pred = as_vector(y_true, "y_true"), as_vector(y_pred, "y_pred")
    check_same_length(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


# --8<-- [start:thresholds]
def counts_at_thresholds(
    y_true: object, scores: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positives when every distinct score in turn is the threshold.

    Predicting "positive" for ``score >= t`` and lowering ``t`` from the highest score to
    the lowest turns samples positive one group of tied scores at a time.

    Returns:
        ``fps``, ``tps`` and the decreasing ``thresholds``, each of shape ``(m,)`` for ``m``
        distinct scores: ``tps[i]`` positives and ``fps[i]`` negatives score ``>= thresholds[i]``.
    """
    y_true, scores = _binary_pair(y_true, scores, "scores")
    if y_true.min() == y_true.max():
        raise ValueError(
            f"y_true holds only the class {y_true[0]:g}: the curve needs positives and negatives"
        )
    order = np.argsort(-scores, kind="stable")  # highest score first
    scores, y_true = scores[order], y_true[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]  # (m,)
    tps = np.cumsum(y_true)[last_of_tie]  # positives among the top i + 1 samples
    fps = 1 + last_of_tie - tps  # the rest of them are negatives
    return fps, tps, scores[last_of_tie]


# --8<-- [end:thresholds]


# --8<-- [start:roc]
def roc_curve(
    y_true: object, scores: object, drop_intermediate: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The receiver operating characteristic: false and true positive rates per threshold.

    The first point, for threshold ``inf``, is (0, 0): nothing predicted positive.

    Args:
        y_true: Labels 0 and 1, both present.
        scores: Larger means more likely class 1.
        drop_intermediate: Drop thresholds whose point lies on the straight segment between
            its neighbours (as scikit-learn does by default); the drawn curve and its area
            do not change.

    Returns:
        ``fpr``, ``tpr`` (increasing) and ``thresholds`` (decreasing, ``inf`` first).
    """
    fps, tps, thresholds = counts_at_thresholds(y_true, scores)
    if drop_intermediate and len(fps) > 2:
        corner = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fps, tps, thresholds = np.r_[0.0, fps], np.r_[0.0, tps], np.r_[np.inf, thresholds]
    return fps / fps[-1], tps / tps[-1], thresholds


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """The area under the curve through the points ``(x, y)``, by the trapezoid rule.

    Raises:
        ValueError: if ``x`` decreases anywhere or there are fewer than two points.
    """
    x, y = as_vector(x, "x"), as_vector(y, "y")
    check_same_length(x, y)
    if len(x) < 2 or np.any(np.diff(x) < 0):
        raise ValueError("auc needs at least two points with non-decreasing x")
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def roc_auc_score(y_true: object, scores: object) -> float:
    """The area under the ROC curve: 1 for a perfect ranking, 0.5 for a random one."""
    fpr, tpr, _ = roc_curve(y_true, scores)
    return auc(fpr, tpr)


# --8<-- [end:roc]


# --8<-- [start:precision_recall]
def precision_recall_curve(
    y_true: object, scores: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall for every threshold, in scikit-learn's order.

    Returns:
        ``precision`` and ``recall``, each ending with the point (recall 0, precision 1)
        that has no threshold, and the increasing ``thresholds``.
    """
    fps, tps, thresholds = counts_at_thresholds(y_true, scores)
    precision_at = tps / (tps + fps)  # every threshold predicts at least one positive
    recall_at = tps / tps[-1]
    return np.r_[precision_at[::-1], 1.0], np.r_[recall_at[::-1], 0.0], thresholds[::-1]


def average_precision(y_true: object, scores: object) -> float:
    """``sum_k (R_k - R_{k-1}) P_k``: precision averaged over the recall gained at each threshold.

    A step-wise area under the precision-recall curve; a random ranking scores about the
    share of positives, a perfect one 1.
    """
    precision_at, recall_at, _ = precision_recall_curve(y_true, scores)
    return float(max(0.0, -np.sum(np.diff(recall_at) * precision_at[:-1])))


# --8<-- [end:precision_recall]
