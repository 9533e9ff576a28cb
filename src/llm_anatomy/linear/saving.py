"""Saving fitted linear models to JSON and loading them back.

JSON is plain text that any language can read, a ``diff`` can compare, and loading it runs
no code (unlike ``pickle``). Python writes every float with enough digits to be read back
exactly, so a saved model predicts bit for bit what the original did.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np

from llm_anatomy.linear.inference import OLSResult
from llm_anatomy.linear.model import LinearModel

FORMAT = "llm_anatomy.linear"
VERSION = 1
MODEL_TYPES = {cls.__name__: cls for cls in (LinearModel, OLSResult)}


# --8<-- [start:save]
def save_model(model: LinearModel | OLSResult, path: str | Path) -> None:
    """Write a fitted model to a JSON file.

    The file records the format, its version and the model's type, then every field of the
    model (arrays as nested lists).
    """
    if type(model).__name__ not in MODEL_TYPES:
        raise TypeError(f"cannot save a {type(model).__name__}; expected one of {sorted(MODEL_TYPES)}")
    payload = {"format": FORMAT, "version": VERSION, "type": type(model).__name__}
    for field in fields(model):
        value = getattr(model, field.name)
        payload[field.name] = value.tolist() if isinstance(value, np.ndarray) else value
    Path(path).write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")


def load_model(path: str | Path) -> LinearModel | OLSResult:
    """Read a model written by :func:`save_model`.

    Raises:
        ValueError: if the file is not a saved model of a known type and version, or its
            fields are missing, unexpected or inconsistent.
    """
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(payload, dict) or payload.pop("format", None) != FORMAT:
        raise ValueError(f"{path} is not a model saved by llm_anatomy.linear")
    if payload.pop("version", None) != VERSION:
        raise ValueError(f"{path} has an unsupported format version (this code reads version {VERSION})")
    cls = MODEL_TYPES.get(payload.pop("type", None))
    if cls is None:
        raise ValueError(f"{path} holds an unknown model type; expected one of {sorted(MODEL_TYPES)}")
    expected = {field.name for field in fields(cls)}
    if set(payload) != expected:
        raise ValueError(f"{path}: fields {sorted(payload)} do not match {cls.__name__}'s {sorted(expected)}")
    return cls(**payload)  # __post_init__ turns lists back into arrays and checks shapes


# --8<-- [end:save]
