"""Turn plain-text chapter references ("chapter 12", «главе 12», «第 12 章») into links.

Chapters refer to each other by number all the time, in three languages. Writing every such
reference as a Markdown link by hand is tedious and goes stale while chapters are still
being written, so the build does it: :func:`link_chapter_references` rewrites a page's HTML
and links every reference to a chapter that exists, leaving alone

* text that is already a link, a heading, code (``<code>``, ``<pre>``, ``<kbd>``), math,
  a figure's SVG, a script or style, an admonition's or a collapsible block's title, or a
  code block's file name;
* chapters that do not exist yet ("chapter 9" stays plain text until ``09-*.md`` exists);
* a page's references to itself.

Lists and ranges link every number: "chapters 12 and 13", "chapters 11–14", «главы 12 и 13»,
«第 12–14 章».
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from pathlib import PurePosixPath

from mkdocs.utils import get_relative_url

# "chapter 7", "Chapters 3 to 6", "chapters 12 and 13"
_EN = r"\b[Cc]hapters?"
# every case of «глава» in the singular and plural: глава главы главе главу главой главою
# глав главам главами главах (the word «главный» and its forms do not match)
_RU = r"(?<![\w-])[Гг]лав(?:а|ы|е|у|ой|ою|ам|ами|ах)?"
_NUMBER = r"\d{1,2}(?![\d.,]\d)"
_JOIN = r"\s*(?:–|—|-|,|\band\b|\bto\b|\bor\b|\bи\b|\bили\b)\s*"
WORD_REFERENCE = re.compile(rf"(?:{_EN}|{_RU})\s+{_NUMBER}(?:{_JOIN}{_NUMBER})*")
# 第 12 章, 第12章, 第 12–14 章, 第 12、13 章
ZH_REFERENCE = re.compile(r"第\s*\d{1,2}(?:\s*(?:–|—|-|~|、|至|到|和|与)\s*\d{1,2})*\s*章")
_DIGITS = re.compile(r"\d+")
CHAPTER_FILE = re.compile(r"^(\d\d)-[\w-]+\.md$")

# elements whose text is never rewritten
SKIP_TAGS = frozenset(
    {"a", "h1", "h2", "h3", "h4", "h5", "h6", "code", "pre", "kbd", "samp", "script", "style",
     "svg", "math", "summary", "title", "textarea", "button", "select", "option", "label"}
)
# elements skipped because of a class: admonition titles, code-block file names, math
SKIP_CLASSES = frozenset({"admonition-title", "filename", "arithmatex", "katex", "la-notebook-link"})
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_TOKEN = re.compile(
    r"(<!--.*?-->|<(script|style)\b.*?</\2\s*>|<![^>]*>|<[^>]*>)",
    re.S | re.I,
)
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w:-]*)([^>]*?)(/?)\s*>", re.S)
_CLASS = re.compile(r"""\bclass\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def references(text: str) -> list[tuple[int, int, list[tuple[int, int, int]]]]:
    """Find chapter references in plain text.

    Returns:
        One ``(start, end, numbers)`` per reference, where ``numbers`` lists
        ``(start, end, chapter)`` for each chapter number inside it, all as offsets in ``text``.
    """
    found = []
    for pattern in (WORD_REFERENCE, ZH_REFERENCE):
        for m in pattern.finditer(text):
            # the first number belongs to the word ("chapter 12"); in Chinese to "第"
            numbers = [(m.start() + d.start(), m.start() + d.end(), int(d.group())) for d in _DIGITS.finditer(m.group())]
            found.append((m.start(), m.end(), numbers))
    return sorted(found)


def _link_text(text: str, href_for: Callable[[int], str | None]) -> tuple[str, int]:
    """Link the references of one run of text (HTML-escaped) whose chapter has a URL."""
    out, pos, count = [], 0, 0
    for start, end, numbers in references(text):
        spans = []
        for i, (n_start, n_end, chapter) in enumerate(numbers):
            href = href_for(chapter)
            if href is None:
                continue
            # the first number's link covers the word before it: "chapter 12", "第 12 章"
            first, last = i == 0, i == len(numbers) - 1
            s = start if first else n_start
            e = end if (last and text[start] == "第" and len(numbers) == 1) else n_end
            spans.append((s, e, href))
        for s, e, href in spans:
            out.append(text[pos:s])
            out.append(f'<a href="{html_lib.escape(href)}" class="la-chapter-link">{text[s:e]}</a>')
            pos = e
            count += 1
    out.append(text[pos:])
    return "".join(out), count


def link_chapter_references(html: str, href_for: Callable[[int], str | None]) -> tuple[str, int]:
    """Link the plain-text chapter references of a page's HTML.

    Args:
        html: the page's content HTML.
        href_for: the URL of a chapter's page given its number, or ``None`` when the
            reference must stay plain text (the chapter does not exist, or is this page).

    Returns:
        The rewritten HTML and the number of links added.
    """
    out: list[str] = []
    total = 0
    skipping: list[str] = []  # open elements, from the outermost skipped one inward
    for i, piece in enumerate(_TOKEN.split(html)):
        if piece is None or piece == "" or (i % 3 == 2):
            continue  # the split's inner group (script/style name)
        if i % 3 == 1:  # a tag, comment, doctype or whole script/style element
            out.append(piece)
            tag = _TAG.fullmatch(piece)
            if tag is None:
                continue
            closing, name, attrs, self_closing = tag.group(1), tag.group(2).lower(), tag.group(3), tag.group(4)
            if name in VOID_TAGS or self_closing:
                continue
            if skipping:
                if closing:
                    if name in skipping:
                        while skipping and skipping.pop() != name:
                            pass
                else:
                    skipping.append(name)
            elif not closing and (name in SKIP_TAGS or _has_skip_class(attrs)):
                skipping.append(name)
            continue
        if skipping:
            out.append(piece)
        else:
            linked, count = _link_text(piece, href_for)
            out.append(linked)
            total += count
    return "".join(out), total


def _has_skip_class(attrs: str) -> bool:
    m = _CLASS.search(attrs)
    return bool(m) and not SKIP_CLASSES.isdisjoint((m.group(1) or m.group(2) or m.group(3) or "").split())


def chapter_urls(page_src: str, urls: list[tuple[str, str]]) -> dict[int, str]:
    """Chapter number -> URL of the chapter page in the same language as the page.

    Args:
        page_src: the page's source file, relative to ``docs`` (``zh/13-gpt.md``): the
            chapters of its folder are its language's.
        urls: ``(source file, URL)`` of every page of the site.
    """
    folder = PurePosixPath(page_src).parent
    chapters = {}
    for src, url in urls:
        m = CHAPTER_FILE.match(PurePosixPath(src).name)
        if m and PurePosixPath(src).parent == folder:
            chapters[int(m[1])] = url
    return chapters


def link_page(html: str, page, files) -> str:
    """The mkdocs hook's step: link a page's references to the other chapters of its language."""
    urls = [(f.src_uri, f.url) for f in files if f.is_documentation_page()]
    chapters = chapter_urls(page.file.src_uri, urls)
    own = CHAPTER_FILE.match(PurePosixPath(page.file.src_uri).name)
    if own:
        chapters.pop(int(own[1]), None)
    linked, _ = link_chapter_references(html, lambda n: get_relative_url(chapters[n], page.url) if n in chapters else None)
    return linked
