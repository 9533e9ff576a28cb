"""MkDocs hooks that make the plugins work together in three languages.

mkdocs-static-i18n builds the site once per language by running the whole build again, so:

* ``on_config`` tells the build's other parts which language is being built: the theme
  language (mkdocstrings reads it before the i18n plugin sets it, which left its labels one
  language behind), ``LLM_ANATOMY_LANG`` for figure labels, and a fresh markdown-exec state
  (a chapter's session must not see the previous language's variables), and autorefs'
  anchor maps emptied (each language has its own API page).
* ``on_files`` runs after the i18n plugin, which rebuilt the file list and dropped
  mkdocs-jupyter's wrapper of notebook pages: without this hook a notebook page is written
  as raw JSON and ``--strict`` still passes.
* ``on_page_markdown`` and ``on_page_content`` time each page's rendering (snippets and
  executed blocks), written to ``site/build-times.json`` by ``on_post_build``.
* ``on_page_content`` and ``on_post_page`` add the "download as notebook" and "open in Colab"
  links to every chapter and write the notebook generated from the chapter's Markdown next to
  the page, named per language (``13-gpt.zh.ipynb``). The site's notebooks are not executed;
  the pages workflow replaces them with executed ones (``nox -s notebooks -- --site site``)
  and publishes those on the ``notebooks`` branch, where the Colab link opens them.
* ``on_page_content`` also links plain-text chapter references
  (:mod:`llm_anatomy_book.chapter_links`) and gives a notebook page's headings the ids and
  table of contents of a Markdown page (:mod:`llm_anatomy_book.notebook_page`).
* ``on_page_content`` also typesets every formula with KaTeX (``llm_anatomy_book.math``).
* ``on_post_build``, once all languages are built, writes the per-language search index
  (``llm_anatomy_book.search``) and a sitemap in every page folder (``llm_anatomy_book.sitemaps``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path, PurePosixPath

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files

from llm_anatomy.plot import LANG_ENV_VAR
from llm_anatomy_book import chapter_links, notebook_page, timing
from llm_anatomy_book.blocks import LANGUAGES
from llm_anatomy_book.excerpts import mark_code_blocks
from llm_anatomy_book.footer import build_date
from llm_anatomy_book.math import MathError, render_page_math
from llm_anatomy_book.notebooks import CHAPTER_NAME, colab_url, notebook_name, write_notebook
from llm_anatomy_book.search import build_search_index
from llm_anatomy_book.sitemaps import write_scoped_sitemaps

DOWNLOAD_LABEL = {"en": "Download this chapter as a Jupyter notebook", "zh": "下载本章的 Jupyter 笔记本", "ru": "Скачать главу как блокнот Jupyter"}
COLAB_LABEL = {"en": "Open in Colab", "zh": "在 Colab 中打开", "ru": "Открыть в Colab"}


def _language(config) -> str:
    i18n = config.plugins.get("i18n")
    return (i18n.current_language if i18n else None) or "en"


@event_priority(100)
def on_config(config):
    lang = _language(config)
    config.theme["language"] = lang
    os.environ[LANG_ENV_VAR] = lang
    from markdown_exec._internal.formatters import python as exec_python

    exec_python._sessions_globals.clear()
    exec_python._sessions_counter.clear()
    # autorefs keeps its anchor maps between builds: each language would see the others'
    # API anchors as duplicates ("Multiple primary URLs found").
    autorefs = config.plugins.get("autorefs")
    for url_map in ("_primary_url_map", "_secondary_url_map", "_title_map", "_breadcrumbs_map", "_abs_url_map"):
        getattr(autorefs, url_map, {}).clear()
    config.extra["build_date"] = build_date()  # shown in the footer (theme/partials/copyright.html)
    return config


class _Alternate:
    """What the language switcher needs of another language's version of a page."""

    def __init__(self, url: str) -> None:
        self.url = url


def _notebook_url(lang: str, name: str, default: str) -> str:
    prefix = "" if lang == default else f"{lang}/"
    return f"{prefix}{PurePosixPath(name).with_suffix('').as_posix()}/"


@event_priority(-200)
def on_files(files: Files, config) -> Files:
    jupyter = config.plugins.get("mkdocs-jupyter")
    i18n = config.plugins.get("i18n")
    if jupyter is None or i18n is None:
        return files
    from mkdocs_jupyter.plugin import NotebookFile

    default = i18n.default_language
    for file in list(files):
        if isinstance(file, NotebookFile) or not jupyter.should_include(file):
            continue
        name = getattr(file, "norm_src_uri", file.src_uri)
        page = NotebookFile(file, use_directory_urls=config.use_directory_urls, site_dir=config.site_dir)
        page.url = _notebook_url(i18n.current_language, name, default)
        page.dest_path = page.url + "index.html"
        page.abs_dest_path = os.path.normpath(os.path.join(config.site_dir, page.dest_path))
        page.alternates = {lang: _Alternate(_notebook_url(lang, name, default)) for lang in LANGUAGES}
        files.remove(file)
        files.append(page)
    return files


def _page_name(page) -> str:
    """The page's file name without its language folder: the same key in every language."""
    return PurePosixPath(getattr(page.file, "norm_src_uri", page.file.src_uri)).name


@event_priority(-1000)  # the last thing before the page renders
def on_page_markdown(markdown: str, page, config, files) -> str:
    timing.start(_page_name(page), _language(config))
    return markdown


def notebook_links(href: str, lang: str, colab: str | None = None) -> str:
    """The paragraph under a page's title that links its notebook: download, and open in Colab.

    Args:
        href: the notebook file, relative to the page.
        lang: the page's language (labels).
        colab: the notebook's Colab URL, or None for no Colab link.
    """
    links = [f'<a href="{href}" download>&#x2193; {DOWNLOAD_LABEL[lang]}</a>']
    if colab:
        links.append(f'<a class="la-colab-link" href="{colab}" target="_blank" rel="noopener">{COLAB_LABEL[lang]}</a>')
    return f'<p class="la-notebook-link">{" · ".join(links)}</p>'


@event_priority(1000)  # the first thing after it rendered
def on_page_content(html: str, page, config, files) -> str:
    timing.stop(_page_name(page), _language(config))
    try:
        html = render_page_math(html, config.docs_dir)
    except MathError as exc:
        raise PluginError(f"{page.file.src_uri} ({_language(config)}): {exc}") from None
    html = mark_code_blocks(html, page, _language(config))  # excerpts, outputs, skipped blocks
    name = PurePosixPath(page.file.src_uri).name
    html = chapter_links.link_page(html, page, files)
    if name.endswith(".ipynb"):  # the lab: anchors and table of contents as on other pages
        html = notebook_page.fix_headings(html, page)
    if not (CHAPTER_NAME.match(name) or name.endswith(".ipynb")):
        return html
    lang = _language(config)
    if name.endswith(".ipynb"):  # the lab is its own notebook, copied beside its page by mkdocs-jupyter
        file, colab = name, None
    else:
        file = notebook_name(name, lang)
        colab = colab_url(file)
    # right under the chapter's title
    return re.sub(r"(</h1>)", lambda m: m[1] + notebook_links(file, lang, colab), html, count=1)


def on_post_page(output: str, page, config) -> str:
    name = PurePosixPath(page.file.src_uri).name
    if CHAPTER_NAME.match(name):
        dest = Path(page.file.abs_dest_path).parent / notebook_name(name, _language(config))
        write_notebook(page.file.abs_src_path, dest)
    return output


@event_priority(-150)  # after the i18n plugin's, which builds the other languages
def on_post_build(config) -> None:
    i18n = config.plugins.get("i18n")
    if i18n is not None and i18n.building:
        return  # an inner (zh, ru) build: the site is complete only at the outer one's end
    timing.write(Path(config.site_dir) / "build-times.json")  # every language's pages by now
    sitemaps = write_scoped_sitemaps(config.site_dir)
    pages = build_search_index(config.site_dir, list(i18n.build_languages) if i18n else [config.theme["language"]])
    logging.getLogger("mkdocs.hooks").info(f"Pagefind search index, pages per language: {pages}; {sitemaps} folder sitemaps")
