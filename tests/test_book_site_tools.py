"""The site's build-time math (KaTeX in V8) and its per-folder sitemaps, on small inputs."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import pytest

from llm_anatomy_book.blocks import DOCS
from llm_anatomy_book.math import KATEX_JS, MathError, katex, render_page_math
from llm_anatomy_book.sitemaps import SitemapError, write_scoped_sitemaps

NOTEBOOK_CELL = (
    '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput" '
    'data-mime-type="text/markdown">{}</div>'
)


def _annotations(page: str) -> list[str]:
    """The TeX KaTeX keeps in each formula's MathML (what it typeset)."""
    found = re.findall(r'<annotation encoding="application/x-tex">(.*?)</annotation>', page, re.S)
    return [html.unescape(t) for t in found]


def test_arithmatex_output_is_typeset_inline_and_display() -> None:
    page = (
        '<p>so <span class="arithmatex">\\(a &lt; b_i\\)</span> holds</p>\n'
        '<div class="arithmatex">\\[\\frac{\\partial f}{\\partial x}\\]</div>\n'
        '<div class="arithmatex">\\begin{aligned} y &amp;= 1 \\end{aligned}</div>'
    )
    out = render_page_math(page, DOCS)
    assert _annotations(out) == ["a < b_i", "\\frac{\\partial f}{\\partial x}", "\\begin{aligned} y &= 1 \\end{aligned}"]
    assert out.count('class="katex-display"') == 2  # the two <div>s, not the inline span
    assert '<span class="arithmatex"><span class="katex">' in out
    assert "\\(" not in re.sub(r"<annotation.*?</annotation>", "", out)


def test_katex_matches_the_shipped_library() -> None:
    # the build typesets with the very katex.min.js the site ships (one version for both)
    engine = katex((DOCS / KATEX_JS).resolve())
    shipped = (DOCS / KATEX_JS).read_text(encoding="utf-8")
    assert engine.version and f'version:"{engine.version}"' in shipped.replace(" ", "")


def test_notebook_dollars_are_typeset_but_not_code_or_prices() -> None:
    body = (
        "<p>error $O(h^2)$, costs 5 $ and 6 $; <code>$x$</code></p>\n"
        "<p>$$\\frac{f(x + h) - f(x - h)}{2h}.$$</p>"
    )
    out = render_page_math(NOTEBOOK_CELL.format(body), DOCS)
    assert _annotations(out) == ["O(h^2)", "\\frac{f(x + h) - f(x - h)}{2h}."]
    assert "costs 5 $ and 6 $" in out and "<code>$x$</code>" in out
    # a $$ paragraph becomes the formula's block: no <div> inside a <p>
    assert "<p><div" not in out and '<div class="arithmatex"><span class="katex-display">' in out


def test_dollars_outside_notebook_cells_are_left_alone() -> None:
    page = "<p>Pay $5 and $10 $x$.</p>"
    assert render_page_math(page, DOCS) == page


def test_bad_tex_is_an_error_naming_the_formula() -> None:
    with pytest.raises(MathError, match=r"KaTeX parse error.*\\\\frac\{"):
        render_page_math('<span class="arithmatex">\\(\\frac{\\)</span>', DOCS)
    with pytest.raises(MathError, match="Undefined control sequence"):
        render_page_math(NOTEBOOK_CELL.format("<p>$\\notacommand x$</p>"), DOCS)


SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">
{}
</urlset>"""
URL = """<url><loc>https://x.io/book/{0}</loc>
<xhtml:link rel="alternate" hreflang="en" href="https://x.io/book/{1}"/>
<xhtml:link rel="alternate" hreflang="zh" href="https://x.io/book/zh/{1}"/></url>"""


def test_every_page_folder_gets_the_sitemap_of_its_scope(tmp_path) -> None:
    pages = ["", "07-autograd/", "zh/", "zh/07-autograd/", "zh/12-attention/"]
    for page in pages:
        (tmp_path / page).mkdir(parents=True, exist_ok=True)
        (tmp_path / page / "index.html").write_text("<html></html>")
    plain = ["", "07-autograd/", "07-autograd/", "", "12-attention/"]
    (tmp_path / "sitemap.xml").write_text(SITEMAP.format("\n".join(URL.format(p, q) for p, q in zip(pages, plain, strict=True))))
    root_before = (tmp_path / "sitemap.xml").read_text()

    (tmp_path / "07-autograd-lab").mkdir()  # a page the site's sitemap leaves out
    (tmp_path / "07-autograd-lab/index.html").write_text("<html></html>")

    assert write_scoped_sitemaps(tmp_path) == 5
    assert (tmp_path / "sitemap.xml").read_text() == root_before  # mkdocs' own is kept

    def locs(folder: str) -> list[str]:
        tree = ET.parse(tmp_path / folder / "sitemap.xml").getroot()
        ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
        return [u.findtext("s:loc", namespaces=ns) for u in tree.findall("s:url", ns)]

    assert locs("zh") == ["https://x.io/book/zh/", "https://x.io/book/zh/07-autograd/", "https://x.io/book/zh/12-attention/"]
    assert locs("zh/07-autograd") == ["https://x.io/book/zh/07-autograd/"]
    assert locs("07-autograd") == ["https://x.io/book/07-autograd/"]
    assert locs("07-autograd-lab") == ["https://x.io/book/07-autograd-lab/"]
    assert 'hreflang="zh" href="https://x.io/book/zh/07-autograd/"' in (tmp_path / "07-autograd/sitemap.xml").read_text()


def test_sitemaps_need_the_site_sitemap(tmp_path) -> None:
    with pytest.raises(SitemapError, match="no sitemap.xml"):
        write_scoped_sitemaps(tmp_path)
    (tmp_path / "sitemap.xml").write_text(SITEMAP.format(""))
    with pytest.raises(SitemapError, match="lists no page"):
        write_scoped_sitemaps(tmp_path)
