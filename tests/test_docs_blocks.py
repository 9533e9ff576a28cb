"""Run every Python block of every page of the book, as the site and the notebooks run them.

Blocks are collected with the book's own parser, snippets expanded by pymdownx as in the
build. A zh or ru page whose code is identical to the English page is not run again
(``test_translations.py`` checks that identity), so each block runs once.

Each block is one test item, and any item can run alone (``pytest -k``) or in any order: the
page's :class:`PageRunner` first runs the earlier blocks of the block's session that have not
run in this process, and keeps every block's outcome (``test_docs_markers.py`` proves it).
"""

from __future__ import annotations

import os
import sys

import pytest

from llm_anatomy_book.blocks import (
    DEFAULT_LANGUAGE,
    DOCS,
    LANGUAGES,
    BookError,
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


def _skips(marks: list[pytest.MarkDecorator]) -> bool:
    """The block does not run: marked skip, or skipif with a true condition."""
    return any(m.name == "skip" or (m.name == "skipif" and any(m.args)) for m in marks)


def _runnable(blocks: list[CodeBlock]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(b.kind, b.code, b.markers) for b in blocks if b.kind != "other"]


def _collect():
    params = []
    english = {p.name: parse_blocks(p) for p in chapter_files(DEFAULT_LANGUAGE)}
    for lang in LANGUAGES:
        for path in chapter_files(lang):
            blocks = english[path.name] if lang == DEFAULT_LANGUAGE else parse_blocks(path)
            if lang != DEFAULT_LANGUAGE and _runnable(blocks) == _runnable(english.get(path.name, [])):
                continue  # same code as English: already run there
            runnable = [b for b in blocks if b.kind != "other" or b.expects_output]
            if not runnable:
                continue
            marks = {b.label(): _marks(b) for b in runnable}
            runner = PageRunner(blocks, skipped=[label for label, m in marks.items() if _skips(m)])
            previous = None
            for block in runnable:
                if block.expects_output:
                    params.append(pytest.param(runner, block, previous, id=f"{block.label()}-output"))
                    continue
                params.append(pytest.param(runner, block, None, id=block.label(), marks=marks[block.label()]))
                previous = block
    if not params:
        raise BookError(f"no runnable block found under {DOCS}: nothing would be checked")
    return params


@pytest.mark.docs
@pytest.mark.parametrize(("runner", "block", "producer"), _collect())
def test_block(runner: PageRunner, block: CodeBlock, producer: CodeBlock | None) -> None:
    if producer is not None:  # an expected-output block: compare with what the block above printed
        assert runner.run(producer).strip() == block.code.strip()
        return
    runner.run(block)
