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
* ``on_page_content`` and ``on_post_page`` add the "download as notebook" link to every
  chapter and write the notebook generated from the chapter's Markdown next to the page.
  ``on_page_content`` also typesets every formula with KaTeX (``llm_anatomy_book.math``).
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

from llm_anatomy_book.blocks import LANGUAGES
from llm_anatomy_book.math import MathError, render_page_math
from llm_anatomy_book.notebooks import CHAPTER_NAME, write_notebook
from llm_anatomy_book.search import build_search_index
from llm_anatomy_book.sitemaps import write_scoped_sitemaps
from llm_anatomy.plot import LANG_ENV_VAR

DOWNLOAD_LABEL = {"en": "Download this chapter as a Jupyter notebook", "zh": "下载本章的 Jupyter 笔记本", "ru": "Скачать главу как блокнот Jupyter"}


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


def on_page_content(html: str, page, config, files) -> str:
    try:
        html = render_page_math(html, config.docs_dir)
    except MathError as exc:
        raise PluginError(f"{page.file.src_uri} ({_language(config)}): {exc}") from None
    name = PurePosixPath(page.file.src_uri).name
    if not CHAPTER_NAME.match(name):
        return html
    link = (
        f'<p class="la-notebook-link"><a href="{Path(name).with_suffix(".ipynb")}" download>'
        f"&#x2193; {DOWNLOAD_LABEL[_language(config)]}</a></p>"
    )
    # right under the chapter's title
    return re.sub(r"(</h1>)", r"\1" + link, html, count=1)


def on_post_page(output: str, page, config) -> str:
    name = PurePosixPath(page.file.src_uri).name
    if CHAPTER_NAME.match(name):
        dest = Path(page.file.abs_dest_path).parent / Path(name).with_suffix(".ipynb")
        write_notebook(page.file.abs_src_path, dest)
    return output


@event_priority(-150)  # after the i18n plugin's, which builds the other languages
def on_post_build(config) -> None:
    i18n = config.plugins.get("i18n")
    if i18n is not None and i18n.building:
        return  # an inner (zh, ru) build: the site is complete only at the outer one's end
    sitemaps = write_scoped_sitemaps(config.site_dir)
    pages = build_search_index(config.site_dir, list(i18n.build_languages) if i18n else [config.theme["language"]])
    logging.getLogger("mkdocs.hooks").info(f"Pagefind search index, pages per language: {pages}; {sitemaps} folder sitemaps")
