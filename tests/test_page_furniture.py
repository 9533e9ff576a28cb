"""The footer's build date and the notebook page's headings (llm_anatomy_book.footer, .notebook_page)."""

from __future__ import annotations

import re
import types
from datetime import UTC, datetime

import pytest

from llm_anatomy_book.footer import build_date
from llm_anatomy_book.notebook_page import fix_headings


def test_build_date_follows_source_date_epoch() -> None:
    assert build_date({"SOURCE_DATE_EPOCH": "1767225600"}) == "2026-01-01"
    assert build_date({}) == datetime.now(UTC).date().isoformat()
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH"):
        build_date({"SOURCE_DATE_EPOCH": "yesterday"})


def test_notebook_headings_get_ids_permalinks_and_a_toc() -> None:
    # what nbconvert writes for a Chinese notebook: an empty id, and its own pilcrow link
    html = (
        '<h1 id="">实验：梯度检验<a class="anchor-link" href="#">¶</a></h1><p>text</p>'
        '<h2 id="PyTorch-的-gradcheck">PyTorch 的 gradcheck<a class="anchor-link" href="#PyTorch-的-gradcheck">¶</a></h2>'
        '<h2 id="x">练习<a class="anchor-link" href="#x">¶</a></h2>'
    )
    page = types.SimpleNamespace()
    fixed = fix_headings(html, page)
    ids = re.findall(r'<h\d id="([^"]*)"', fixed)
    # Python-Markdown's ids, as on the book's Markdown pages
    assert ids == ["_1", "pytorch-gradcheck", "_2"]
    assert "anchor-link" not in fixed
    assert re.findall(r'class="headerlink" href="#([^"]+)"', fixed) == ids
    (title,) = page.toc
    assert (title.id, title.title) == ("_1", "实验：梯度检验")
    assert [(c.id, c.title, c.level) for c in title.children] == [("pytorch-gradcheck", "PyTorch 的 gradcheck", 2), ("_2", "练习", 2)]
