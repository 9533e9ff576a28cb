"""Bad input is named, never turned into garbage."""

from __future__ import annotations

import numpy as np
import pytest

from llm_anatomy.validation import (
    as_matrix,
    as_vector,
    check_binary,
    check_full_rank,
    check_same_length,
)


def test_shapes_are_normalised() -> None:
    assert as_matrix([1.0, 2.0, 3.0]).shape == (3, 1)
    assert as_vector([[1.0], [2.0]]).shape == (2,)
    with pytest.raises(ValueError, match="2-D array"):
        as_matrix(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="must be 1-D"):
        as_vector(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="empty"):
        as_matrix(np.zeros((0, 3)))


def test_nan_and_infinity_are_counted() -> None:
    with pytest.raises(ValueError, match="1 NaN and 2 infinite"):
        as_matrix([[np.nan, np.inf], [-np.inf, 1.0]])


def test_length_and_label_checks() -> None:
    with pytest.raises(ValueError, match="X has 3 rows but y has 2 values"):
        check_same_length(np.zeros((3, 1)), np.zeros(2))
    check_binary(np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary labels 0 and 1, found \[0.0, 1.0, 2.0\]"):
        check_binary(np.array([0.0, 1.0, 2.0]))


def test_dummy_trap_is_named() -> None:
    level = np.array([0, 1, 2, 0, 1, 2])
    dummies = np.eye(3)[level]  # one column per level
    X = np.column_stack([np.ones(6), dummies])
    with pytest.raises(ValueError, match=r"singular design matrix.*'const' is a linear combination.*dummy-variable trap"):
        check_full_rank(X, ["const", "a", "b", "c"])
    check_full_rank(X[:, :3], ["const", "a", "b"])  # dropping one level fixes it
