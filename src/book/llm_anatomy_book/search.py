"""Search per language: Pagefind indexes the built site, one index per ``<html lang>``.

Material's own search puts every language into one ``search_index.json`` (7 MB) that each
page fetches whole, and its worker, once ``lang`` lists three languages, no longer stems
Russian or English words. Pagefind (the ``pagefind[extended]`` wheel ships the binary; its
extended build segments Chinese) writes a separate index for each language found in the
pages' ``<html lang>``, stemmed for that language, and a page fetches only the small chunks
its query needs. Its UI (``pagefind-ui.js``) runs in Material's search dialog (the theme's
``partials/search.html``) and searches the index of the page's own language.

Excerpts are the page's text: the permalink signs, KaTeX's MathML copy of the TeX and the
code-copy buttons are left out of the index.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

# The part of a page that is indexed, and what inside it is not text for a reader.
ROOT_SELECTOR = "article.md-content__inner"
EXCLUDE_SELECTORS = (
    ".headerlink",          # the ¶ of Markdown headings
    ".anchor-link",         # the ¶ of notebook headings
    ".katex-mathml",        # KaTeX's MathML copy, which carries the TeX source
    ".katex .vlist-s",      # KaTeX's zero-width spaces (a Safari workaround)
    ".md-clipboard",
    ".md-source-file",
    ".la-notebook-link",
)
BUNDLE = "pagefind"


class SearchIndexError(RuntimeError):
    """Pagefind did not index the site as expected."""


def _pages(site_dir: Path) -> list[tuple[str, Path]]:
    """The site's pages as (URL path from the site root, file); not 404 pages, not assets."""
    pages = []
    for file in sorted(site_dir.rglob("index.html")):
        rel = file.parent.relative_to(site_dir).as_posix()
        if rel.split("/")[0] in (BUNDLE, "assets", "search"):
            continue
        pages.append(("/" if rel == "." else f"/{rel}/", file))
    return pages


def _index(site_dir: Path) -> int:
    """Run the Pagefind binary (a subprocess that finishes writing before it exits)."""
    from pagefind_bin_extended import get_executable

    pages = _pages(site_dir)
    command = [str(get_executable()), "--site", str(site_dir), "--output-subdir", BUNDLE,
               "--root-selector", ROOT_SELECTOR, "--glob", "**/index.html", "--quiet"]
    for selector in EXCLUDE_SELECTORS:
        command += ["--exclude-selectors", selector]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SearchIndexError(f"pagefind failed: {done.stderr or done.stdout}")
    return len(pages)


def build_search_index(site_dir: str | Path, languages: list[str]) -> dict[str, int]:
    """Index the built site with Pagefind, one index per page language.

    Also removes Material's merged ``search/search_index.json``: the site's pages no longer
    fetch it (the search dialog is Pagefind's).

    Args:
        site_dir: the built site.
        languages: the languages the site is built in; each must get its own index.

    Returns:
        ``{"pages": n, LANG: pages of LANG, …}``: how many pages were indexed.

    Raises:
        SearchIndexError: a language got no index, or nothing was indexed.
    """
    site = Path(site_dir).resolve()
    shutil.rmtree(site / BUNDLE, ignore_errors=True)
    pages = _index(site)
    entry_file = site / BUNDLE / "pagefind-entry.json"
    for _ in range(120):  # the service may still be writing it when its context closes
        if entry_file.is_file() and entry_file.stat().st_size:
            break
        time.sleep(0.5)
    entry = json.loads(entry_file.read_text(encoding="utf-8"))
    counts = {lang: info["page_count"] for lang, info in entry["languages"].items()}
    missing = [lang for lang in languages if not counts.get(lang)]
    if not pages or missing:
        raise SearchIndexError(f"Pagefind indexed {pages} pages of {site}, none in {missing}")
    shutil.rmtree(site / "search", ignore_errors=True)
    return {"pages": pages, **counts}
