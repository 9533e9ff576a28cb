"""Math rendered at build time: the site's own KaTeX, run in-process by V8 (``mini-racer``).

pymdownx.arithmatex (``generic: true``) leaves TeX in ``<span class="arithmatex">\\(…\\)</span>``
and ``<div class="arithmatex">\\[…\\]</div>``; mkdocs-jupyter leaves ``$…$`` and ``$$…$$`` in the
text of notebook Markdown cells. :func:`render_page_math` replaces both with KaTeX's HTML (and
MathML, for screen readers), so the page shows typeset math as soon as it is parsed: no
client-side script, no raw TeX at any moment. The KaTeX stylesheet and fonts stay in the site.

TeX that KaTeX cannot parse is an error (:class:`MathError`), never raw TeX on the page.
"""

from __future__ import annotations

import atexit
import html
import re
from functools import lru_cache, partial
from pathlib import Path

# Where the site ships KaTeX, relative to docs_dir (one KaTeX version for build and page).
KATEX_JS = Path("assets/katex/katex.min.js")

# arithmatex's generic output; its TeX is HTML-escaped text, no nested tags.
_ARITHMATEX = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.DOTALL)
_DELIMITED = re.compile(r"^\\[\[(](.*)\\[\])]$", re.DOTALL)
# A notebook's rendered Markdown cell (nbconvert), where $…$ is left as text.
_NOTEBOOK_MARKDOWN = re.compile(
    r'(<div class="[^"]*\bjp-RenderedMarkdown\b[^"]*"[^>]*>)(.*?)(</div>)', re.DOTALL
)
_TAG = re.compile(r"(<[^>]+>)")
# a $$…$$ paragraph of its own becomes the formula's block (a <div> may not sit in a <p>)
_DISPLAY_PARAGRAPH = re.compile(r'<p>\s*(<div class="arithmatex">(?:(?!</div>).)*</div>)\s*</p>', re.DOTALL)
# $$…$$ first, then $…$ that neither starts nor ends with a space (so "5 $ and 6 $" is text).
_DOLLARS = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$]+?)(?<![\s\\])\$(?!\d)", re.DOTALL)


# What a reader would see as raw TeX once the formulas are typeset: delimiters, or a $…$ with a
# TeX command that arithmatex did not take as math (e.g. "$x = $", space before the closing $).
_NOT_TEXT = re.compile(
    r"<(pre|code|script|style|svg|annotation)\b.*?</\1>|<!--.*?-->", re.DOTALL | re.IGNORECASE
)
_RAW_TEX = re.compile(r"\\[(\[]|\$\$|\$[^$]{0,80}\\[A-Za-z]+[^$]{0,80}\$")


class MathError(ValueError):
    """TeX that KaTeX cannot render."""


class KaTeX:
    """KaTeX's ``renderToString`` in an embedded V8 context."""

    def __init__(self, script: Path) -> None:
        from py_mini_racer import MiniRacer

        if not script.is_file():
            raise FileNotFoundError(f"KaTeX is missing: {script}")
        self._context = MiniRacer()
        # closed explicitly: a V8 context left to the interpreter's exit can hang it
        atexit.register(self._context.close)
        self._context.eval(script.read_text(encoding="utf-8"))
        # called with plain strings and booleans only (no Python dict turned into a JS object)
        self._context.eval(
            "function bookRenderMath(tex, display) { return katex.renderToString(tex,"
            " {displayMode: display, throwOnError: true, output: 'htmlAndMathml'}); }"
        )
        self.version: str = self._context.eval("katex.version")

    def render(self, tex: str, display: bool) -> str:
        """HTML (with MathML) of ``tex``.

        Args:
            tex: TeX source, without delimiters.
            display: display style (a block) instead of inline.

        Returns:
            KaTeX's markup: ``<span class="katex">…`` (inside ``katex-display`` for display).

        Raises:
            MathError: KaTeX cannot parse ``tex``.
        """
        from py_mini_racer import JSEvalException

        try:
            return self._context.call("bookRenderMath", tex, display)
        except JSEvalException as exc:
            message = str(exc).splitlines()[0].split("ParseError: ", 1)[-1]
            raise MathError(f"{message} (TeX: {tex!r})") from None


@lru_cache(maxsize=2)
def katex(script: Path) -> KaTeX:
    """The process's KaTeX from ``script`` (V8 start and script load cost about 0.3 s, once)."""
    return KaTeX(script)


def _render_arithmatex(engine: KaTeX, match: re.Match[str]) -> str:
    tag, body = match.group(1), html.unescape(match.group(2)).strip()
    delimited = _DELIMITED.match(body)
    tex = delimited.group(1) if delimited else body  # \begin{align}… comes without \[ \]
    return f'<{tag} class="arithmatex">{engine.render(tex.strip(), tag == "div")}</{tag}>'


def _render_dollars(engine: KaTeX, text: str) -> str:
    def one(match: re.Match[str]) -> str:
        display = match.group(1) is not None
        tex = html.unescape(match.group(1) if display else match.group(2)).strip()
        tag = "div" if display else "span"
        return f'<{tag} class="arithmatex">{engine.render(tex, display)}</{tag}>'

    return _DOLLARS.sub(one, text)


def _render_notebook_cell(engine: KaTeX, match: re.Match[str]) -> str:
    opening, body, closing = match.groups()
    parts = _TAG.split(body)
    in_code = 0
    for i, part in enumerate(parts):
        if i % 2:  # a tag
            name = re.match(r"</?\s*(\w+)", part)
            if name and name.group(1).lower() in ("code", "pre"):
                in_code += -1 if part.startswith("</") else 1
        elif not in_code and "$" in part:
            parts[i] = _render_dollars(engine, part)
    return opening + _DISPLAY_PARAGRAPH.sub(r"\1", "".join(parts)) + closing


def render_page_math(page_html: str, docs_dir: str | Path) -> str:
    """Every formula of a page's HTML typeset by KaTeX.

    Args:
        page_html: a page's content (``on_page_content``), Markdown or notebook.
        docs_dir: the site's sources, where ``assets/katex/katex.min.js`` is.

    Returns:
        The same HTML with KaTeX markup in place of arithmatex's TeX and of the ``$…$`` /
        ``$$…$$`` of notebook Markdown cells.

    Raises:
        MathError: a formula KaTeX cannot parse, or TeX left in the text as it is.
    """
    engine = katex(Path(docs_dir).resolve() / KATEX_JS)
    if "arithmatex" in page_html:
        page_html = _ARITHMATEX.sub(partial(_render_arithmatex, engine), page_html)
    if "jp-RenderedMarkdown" in page_html and "$" in page_html:
        page_html = _NOTEBOOK_MARKDOWN.sub(partial(_render_notebook_cell, engine), page_html)
    left = _RAW_TEX.findall(_TAG.sub(" ", _NOT_TEXT.sub(" ", page_html)))
    if left:
        raise MathError(f"TeX left in the text, not typeset (a space inside $…$?): {left[:3]}")
    return page_html
