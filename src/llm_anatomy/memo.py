"""Keep the result of a long computation for the rest of the process.

The book's site is built by one Python process that runs every page once per language.
A chapter that trains a model in an executed block would train it three times;
:func:`once` trains it the first time and hands the same result to the other two
languages (and to any later chapter that asks for it under the same name). The memory
lasts as long as the process: nothing is written to disk, and a new build computes again.

Example:
    >>> from llm_anatomy.memo import once
    >>> calls = []
    >>> once("doc-example", lambda: calls.append(1) or len(calls))
    1
    >>> once("doc-example", lambda: calls.append(1) or len(calls))  # not called again
    1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["forget", "once"]

T = TypeVar("T")
_results: dict[str, object] = {}


# --8<-- [start:once]
def once(key: str, compute: Callable[[], T]) -> T:
    """``compute()`` the first time ``key`` is asked for; the same result every later time.

    The key must name everything the result depends on (model size, steps, precision...):
    two computations under one key share one result.

    Args:
        key: A name for the result, e.g. ``"ch14/precision/tiny-60-steps"``.
        compute: Called without arguments, at most once per key and process.

    Raises:
        TypeError: if ``key`` is not a non-empty string or ``compute`` is not callable.
    """
    if not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty string, got {key!r}")
    if not callable(compute):
        raise TypeError(f"compute must be callable, got {type(compute).__name__}")
    if key not in _results:
        _results[key] = compute()  # an exception stores nothing: the next call tries again
    return _results[key]
# --8<-- [end:once]


def forget(key: str | None = None) -> None:
    """Drop the result kept under ``key`` (all of them when ``key`` is ``None``)."""
    if key is None:
        _results.clear()
    else:
        _results.pop(key, None)
