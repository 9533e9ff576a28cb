"""Pick the torch device the book's code runs on.

Every chapter is written to run on a CPU. The same code runs on a GPU when the reader
(or the ``gpu`` nox session) asks for one through the ``LLM_ANATOMY_DEVICE`` environment
variable, so that no listing ever hard-codes ``"cuda"``.
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "LLM_ANATOMY_DEVICE"


def get_device(name: str | None = None) -> torch.device:
    """Return the device to run on, checking that it really exists.

    Args:
        name: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``... When ``None``, the value of
            the ``LLM_ANATOMY_DEVICE`` environment variable is used, and ``"cpu"`` if unset.

    Returns:
        The requested ``torch.device``.

    Raises:
        ValueError: if the name is not a device type torch knows.
        RuntimeError: if the device type is known but not available on this machine.
    """
    name = name or os.environ.get(ENV_VAR) or "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {name!r}: expected 'cpu', 'cuda', 'cuda:N' or 'mps'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was requested but CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r} was requested but only {torch.cuda.device_count()} GPU(s) exist")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' was requested but Apple's MPS backend is not available")
    return device
