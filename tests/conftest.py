"""Shared test options: ``--device`` picks where torch code runs, ``--runslow`` opts in to long checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llm_anatomy.device import ENV_VAR, get_device
from llm_anatomy.tokenizer.gpt2 import RANKS_ENV

# GPT-2's rank file for the tests, beside the repository (never committed into it)
SHARED_GPT2_RANKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gpt2.tiktoken"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="torch device for tests and docs blocks: cpu, cuda, cuda:N, mps")
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    # Fail at once, with the reason, if the device does not exist (e.g. --device cuda on a CPU box).
    device = get_device(config.getoption("--device"))
    os.environ[ENV_VAR] = str(device)
    if not os.environ.get(RANKS_ENV) and SHARED_GPT2_RANKS.is_file():
        os.environ[RANKS_ENV] = str(SHARED_GPT2_RANKS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def device():
    """The torch device chosen with ``--device`` (default cpu)."""
    return get_device()
