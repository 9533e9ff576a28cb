"""Give a notebook page (rendered by mkdocs-jupyter) the anchors and table of contents of a Markdown page.

nbconvert makes a heading's id from its text in its own way, and an empty one for a
heading without Latin letters (``<h1 id="">实验：梯度检验</h1>``), which breaks "skip to
content" and every link to the heading; mkdocs-jupyter builds the page's table of
contents separately, with Python-Markdown's ids, so the two need not agree.
:func:`fix_headings` gives every heading the id that Python-Markdown's ``toc`` extension
gives the headings of the book's Markdown pages, turns nbconvert's ``¶`` into the theme's
permalink, and rebuilds the page's table of contents from those headings.
"""

from __future__ import annotations

import html as html_lib
import re

from markdown.extensions.toc import slugify, unique
from mkdocs.structure.toc import get_toc

_HEADING = re.compile(r"<h([1-6])(\s[^>]*)?>(.*?)</h\1>", re.S)
_ANCHOR_LINK = re.compile(r'<a class="anchor-link"[^>]*>.*?</a>', re.S)
_TAG = re.compile(r"<[^>]+>")
_ID = re.compile(r'\sid="[^"]*"')


def fix_headings(html: str, page) -> str:
    """Re-anchor a notebook page's headings and set ``page.toc`` from them.

    Returns:
        The page's HTML, each heading with a unique, non-empty id and a permalink.
    """
    used: set[str] = set()
    tokens: list[dict] = []
    stack: list[dict] = []

    def replace(m: re.Match) -> str:
        level, attrs, inner = int(m.group(1)), m.group(2) or "", _ANCHOR_LINK.sub("", m.group(3))
        name = html_lib.unescape(_TAG.sub("", inner)).strip()
        anchor = unique(slugify(name, "-"), used)
        token = {"level": level, "id": anchor, "name": name, "html": inner, "data-toc-label": "", "children": []}
        while stack and stack[-1]["level"] >= level:
            stack.pop()
        (stack[-1]["children"] if stack else tokens).append(token)
        stack.append(token)
        permalink = f'<a class="headerlink" href="#{anchor}" title="Permanent link">&para;</a>'
        return f'<h{level} id="{anchor}"{_ID.sub("", attrs)}>{inner}{permalink}</h{level}>'

    fixed = _HEADING.sub(replace, html)
    page.toc = get_toc(tokens)
    return fixed
