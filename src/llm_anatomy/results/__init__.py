"""Measured results that the book's pages show, shipped with the package.

The scripts in the repository's ``bench/`` folder write their results here as JSON files
(``gpt_throughput.json``, ``python_gpt.json``...), and the pages read them back with
:func:`load`. They are package data, so an installed ``llm_anatomy`` (not only a checkout of
the repository) has them::

    from llm_anatomy import results

    results.available()                  # ['gpt_throughput', 'gpt_throughput_cuda', 'python_gpt']
    speed = results.load("gpt_throughput")
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9_\-]+")


def available() -> list[str]:
    """The names of the shipped results, sorted (file names without ``.json``)."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json") and f.is_file())


def load(name: str) -> Any:
    """The parsed JSON of the result ``name`` (e.g. ``"gpt_throughput"``).

    Args:
        name: A result's name, without the ``.json`` suffix; :func:`available` lists them.

    Returns:
        The file's content, as :func:`json.loads` returns it (a dict for every shipped result).

    Raises:
        TypeError: if ``name`` is not a string.
        ValueError: if no result has that name (the message lists the available ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"a result's name must be a string, got {type(name).__name__}")
    file = resources.files(__name__) / f"{name}.json"
    if not _NAME.fullmatch(name) or not file.is_file():
        raise ValueError(f"no result named {name!r}; available: {', '.join(available())}")
    return json.loads(file.read_text(encoding="utf-8"))
