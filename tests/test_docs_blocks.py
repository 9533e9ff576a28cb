"""Run every Python block of every page of the book, as the site and the notebooks run them.

Blocks are collected with the book's own parser, snippets expanded by pymdownx as in the
build. A zh or ru page whose code is identical to the English page is not run again
(``test_translations.py`` checks that identity), so each block runs once.
"""

from __future__ import annotations

import os
import sys

import pytest

from llm_anatomy_book.blocks import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    CodeBlock,
    chapter_files,
    parse_blocks,
)
from llm_anatomy_book.runner import PageRunner


def _marks(block: CodeBlock) -> list[pytest.MarkDecorator]:
    marks = []
    for marker in block.markers:
        if marker.startswith("pytest.mark."):
            import torch  # available to conditions such as "not torch.cuda.is_available()"

            mark = eval(marker, {"pytest": pytest, "sys": sys, "os": os, "torch": torch})
            marks.append(mark)
    return marks


def _runnable(blocks: list[CodeBlock]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(b.kind, b.code, b.markers) for b in blocks if b.kind != "other"]


def _collect():
    params, runners = [], {}
    english = {p.name: parse_blocks(p) for p in chapter_files(DEFAULT_LANGUAGE)}
    for lang in LANGUAGES:
        for path in chapter_files(lang):
            blocks = english[path.name] if lang == DEFAULT_LANGUAGE else parse_blocks(path)
            if lang != DEFAULT_LANGUAGE and _runnable(blocks) == _runnable(english.get(path.name, [])):
                continue  # same code as English: already run there
            runnable = [b for b in blocks if b.kind != "other" or b.expects_output]
            if not runnable:
                continue
            runner = runners[path] = PageRunner(blocks)
            previous = None
            for block in runnable:
                if block.expects_output:
                    params.append(pytest.param(runner, block, previous, id=f"{block.label()}-output"))
                    continue
                params.append(pytest.param(runner, block, None, id=block.label(), marks=_marks(block)))
                previous = block
    return params


OUTPUTS: dict[str, str] = {}


@pytest.mark.docs
@pytest.mark.parametrize(("runner", "block", "producer"), _collect())
def test_block(runner: PageRunner, block: CodeBlock, producer: CodeBlock | None) -> None:
    if producer is not None:  # an expected-output block: compare with what the block above printed
        assert producer.label() in OUTPUTS, f"{producer.label()} did not run"
        assert OUTPUTS[producer.label()].strip() == block.code.strip()
        return
    may_fail = any(m.startswith("pytest.mark.xfail") for m in block.markers)
    OUTPUTS[block.label()] = runner.run(block, may_fail=may_fail)
