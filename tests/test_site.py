"""Checks of the built site (``nox -s docs`` builds it into ``site/`` first).

When ``site/`` is absent these tests skip, saying so; ``nox -s tests`` sets
``LLM_ANATOMY_REQUIRE_SITE=1`` so that a missing build fails instead.
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from llm_anatomy_book.blocks import ROOT, site_config
from llm_anatomy_book.translations import english_pages

SITE = ROOT / "site"
LANG_PREFIX = {"en": "", "zh": "zh/", "ru": "ru/"}

if not (SITE / "index.html").exists():
    reason = "site/ is not built: run `nox -s docs` (or `mkdocs build`) first"
    if os.environ.get("LLM_ANATOMY_REQUIRE_SITE"):
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)


def _page(lang: str, name: str) -> Path:
    return SITE / LANG_PREFIX[lang] / Path(name).with_suffix("") / "index.html"


def _pages() -> list[tuple[str, str]]:
    return [(lang, name) for lang in LANG_PREFIX for name in english_pages() if name != "index.md"]


class _Requests(HTMLParser):
    """Collects the URLs a page makes the browser fetch (not plain links, canonical or alternate)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "audio", "video", "source") and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and not {"canonical", "alternate"} & set((attrs.get("rel") or "").split()):
            self.urls.append(attrs.get("href") or "")


def test_no_external_scripts_styles_or_fonts() -> None:
    # Scripts, stylesheets, fonts, images and CSS url()/@import must all be served by the site.
    external = re.compile(r"^(?:https?:)?//", re.I)
    css_pattern = re.compile(r"""(?:url\(|@import\s+)["']?(?:https?:)?//""", re.I)
    offenders = []
    for file in SITE.rglob("*"):
        if file.suffix == ".html":
            parser = _Requests()
            parser.feed(file.read_text(encoding="utf-8"))
            offenders += [f"{file.relative_to(SITE)}: {u}" for u in parser.urls if external.match(u)]
        elif file.suffix == ".css" and css_pattern.search(file.read_text(encoding="utf-8", errors="ignore")):
            offenders.append(str(file.relative_to(SITE)))
    assert not offenders, f"files requesting an external host: {offenders[:10]}"


@pytest.mark.parametrize(("lang", "name"), _pages())
def test_every_page_is_built_as_html_in_its_language(lang: str, name: str) -> None:
    html = _page(lang, name).read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>"), "page is not HTML (raw notebook JSON?)"
    assert f'<html lang="{lang}"' in html
    if name.endswith(".ipynb"):
        assert "jp-Notebook" in html or "jp-Cell" in html, "notebook page not rendered by mkdocs-jupyter"
        assert '"nbformat"' not in html


@pytest.mark.parametrize(("lang", "name"), _pages())
def test_language_switcher_lands_on_the_same_page(lang: str, name: str) -> None:
    page = _page(lang, name)
    html = page.read_text(encoding="utf-8")
    for other in LANG_PREFIX:
        links = re.findall(rf'href="([^"]+)"\s+hreflang="{other}"', html)
        assert links, f"no switcher link to {other}"
        target = (page.parent / links[0]).resolve() / "index.html"
        assert target == _page(other, name).resolve(), f"{lang} {name}: switcher to {other} goes to {links[0]}"


@pytest.mark.parametrize("lang", LANG_PREFIX)
def test_chapters_link_their_notebook(lang: str) -> None:
    for name in english_pages():
        if not re.match(r"^\d\d-.*\.md$", name):
            continue
        html = _page(lang, name).read_text(encoding="utf-8")
        nb_name = Path(name).with_suffix(".ipynb").name
        assert f'href="{nb_name}" download' in html
        notebook = json.loads((_page(lang, name).parent / nb_name).read_text(encoding="utf-8"))
        assert any(c["cell_type"] == "code" for c in notebook["cells"])


@pytest.mark.parametrize("lang", LANG_PREFIX)
def test_math_is_marked_for_offline_katex(lang: str) -> None:
    html = _page(lang, "07-autograd.md").read_text(encoding="utf-8")
    assert 'class="arithmatex"' in html
    assert "assets/katex/katex.min.js" in html and "assets/katex-init.js" in html
    assert (SITE / "assets/katex/fonts/KaTeX_Main-Regular.woff2").exists()


@pytest.mark.parametrize("lang", LANG_PREFIX)
def test_api_reference_renders_in_every_language(lang: str) -> None:
    html = _page(lang, "reference.md").read_text(encoding="utf-8")
    assert 'id="llm_anatomy.autograd.Value"' in html or 'id="llm_anatomy.autograd.engine.Value"' in html
    assert "doc-function" in html or "doc-class" in html


def _search_tokens(location_prefix: str) -> set[str]:
    index = json.loads((SITE / "search/search_index.json").read_text(encoding="utf-8"))
    separator = re.compile(index["config"]["separator"])
    tokens = set()
    for doc in index["docs"]:
        if doc["location"].startswith(location_prefix):
            tokens |= {t.lower() for t in separator.split(doc["title"] + " " + doc["text"]) if t}
    return tokens


def test_search_finds_a_chinese_word_inside_a_sentence() -> None:
    # jieba cuts Chinese text into words at build time; without it a whole sentence is one token.
    tokens = _search_tokens("zh/07-autograd/")
    assert "计算图" in tokens and "反向传播" in tokens


def test_search_finds_a_russian_word() -> None:
    assert "градиент" in _search_tokens("ru/07-autograd/")


def test_site_names_are_translated() -> None:
    names = {lang.locale: lang.site_name for lang in site_config()["plugins"]["i18n"].config.languages}
    for lang in ("zh", "ru"):
        assert "<title>" in _page(lang, "07-autograd.md").read_text(encoding="utf-8")
        assert names[lang] in (SITE / LANG_PREFIX[lang] / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(("lang", "label"), [("en", "loss"), ("zh", "损失"), ("ru", "потери")])
def test_chapter_07_figures_are_on_the_page_in_its_language(lang: str, label: str) -> None:
    html = _page(lang, "07-autograd.md").read_text(encoding="utf-8")
    figures = re.findall(r'<figure class="la-figure">.*?</figure>', html, re.S)
    assert len(figures) >= 2, "the chapter's figures are missing from the page"
    assert any(label in f for f in figures), f"no figure labelled {label!r}"
