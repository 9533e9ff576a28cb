"""Plain-text chapter references become links at build time (llm_anatomy_book.chapter_links)."""

from __future__ import annotations

import re

import pytest

from llm_anatomy_book.chapter_links import chapter_urls, link_chapter_references, references

EXISTING = {3, 4, 6, 7, 11, 12, 13, 14}


def _href(n: int) -> str | None:
    return f"../{n:02d}/" if n in EXISTING else None


def _linked(html: str) -> list[tuple[str, str]]:
    out, _ = link_chapter_references(html, _href)
    return re.findall(r'<a href="([^"]+)" class="la-chapter-link">(.*?)</a>', out)


@pytest.mark.parametrize(
    ("sentence", "links"),
    [
        ("<p>As in chapter 7, the loss falls.</p>", [("../07/", "chapter 7")]),
        ("<p>Chapter 12 builds attention.</p>", [("../12/", "Chapter 12")]),
        ("<p>chapters 12 and 13 stack blocks</p>", [("../12/", "chapters 12"), ("../13/", "13")]),
        ("<p>chapters 11–14 build GPT</p>", [("../11/", "chapters 11"), ("../14/", "14")]),
        ("<p>Chapters 3 to 6 did the work</p>", [("../03/", "Chapters 3"), ("../06/", "6")]),
        ("<p>chapter 9 is not written yet; chapters 16 to 20 neither</p>", []),
        ("<p>section 14.4 of chapter 14.</p>", [("../14/", "chapter 14")]),
    ],
)
def test_english_references(sentence: str, links: list[tuple[str, str]]) -> None:
    assert _linked(sentence) == links


@pytest.mark.parametrize(
    ("sentence", "links"),
    [
        ("<p>Глава 7 — стержень книги.</p>", [("../07/", "Глава 7")]),
        ("<p>из главы 12, в главе 13, про главу 14</p>", [("../12/", "главы 12"), ("../13/", "главе 13"), ("../14/", "главу 14")]),
        ("<p>с главой 6 и главою 7</p>", [("../06/", "главой 6"), ("../07/", "главою 7")]),
        ("<p>в главах 12–14 — трансформер</p>", [("../12/", "главах 12"), ("../14/", "14")]),
        ("<p>главы 12 и 13</p>", [("../12/", "главы 12"), ("../13/", "13")]),
        ("<p>Главы 3 или 4 хватит</p>", [("../03/", "Главы 3"), ("../04/", "4")]),
        ("<p>определяется главным образом 7 факторами; сноска 7</p>", []),
        ("<p>остаточные связи из главы 9</p>", []),
    ],
)
def test_russian_references_in_every_case(sentence: str, links: list[tuple[str, str]]) -> None:
    assert _linked(sentence) == links


@pytest.mark.parametrize(
    ("sentence", "links"),
    [
        ("<p>第 7 章的引擎</p>", [("../07/", "第 7 章")]),
        ("<p>见第12章。</p>", [("../12/", "第12章")]),
        ("<p>第 12–14 章构建 GPT</p>", [("../12/", "第 12"), ("../14/", "14")]),
        ("<p>第 12、13 章</p>", [("../12/", "第 12"), ("../13/", "13")]),
        ("<p>第 9 章还没写</p>", []),
    ],
)
def test_chinese_references(sentence: str, links: list[tuple[str, str]]) -> None:
    assert _linked(sentence) == links


def test_links_only_plain_prose() -> None:
    html = (
        "<h2>Chapter 7</h2><p><a href='x'>chapter 7</a> <code>chapter 7</code></p>"
        "<pre><code>chapter 12</code></pre><svg><text>chapter 12</text><path d='M0'/></svg>"
        '<div class="admonition"><p class="admonition-title">chapter 7 <em>!</em></p>'
        "<p>see chapter 13</p></div><details><summary>chapter 14</summary><p>глава 14</p></details>"
        '<span class="arithmatex">\\(chapter 7\\)</span><script>var s = "chapter 7";</script>'
        "<!-- chapter 7 --><p>chapter 6<br>and chapter 4</p>"
    )
    out, count = link_chapter_references(html, _href)
    assert count == 4
    assert re.findall(r'class="la-chapter-link">(.*?)</a>', out) == ["chapter 13", "глава 14", "chapter 6", "chapter 4"]
    # everything else is untouched
    assert re.sub(r'<a href="[^"]+" class="la-chapter-link">(.*?)</a>', r"\1", out) == html


def test_references_report_each_number() -> None:
    text = "chapters 12 and 13"
    ((start, end, numbers),) = references(text)
    assert (start, end) == (0, len(text))
    assert [n for *_, n in numbers] == [12, 13]


def test_chapter_urls_stay_in_the_page_language() -> None:
    urls = [
        ("zh/07-autograd.md", "zh/07-autograd/"),
        ("zh/12-attention.md", "zh/12-attention/"),
        ("en/12-attention.md", "12-attention/"),
        ("zh/glossary.md", "zh/glossary/"),
        ("zh/07-autograd-lab.ipynb", "zh/07-autograd-lab/"),
    ]
    assert chapter_urls("zh/13-gpt.md", urls) == {7: "zh/07-autograd/", 12: "zh/12-attention/"}
    assert chapter_urls("zh/index.md", urls) == {7: "zh/07-autograd/", 12: "zh/12-attention/"}
    assert chapter_urls("en/index.md", urls) == {12: "12-attention/"}
