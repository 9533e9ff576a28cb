"""Keep the zh and ru pages in step with the English source.

Each translated page records which English revision it follows: Markdown pages in front
matter (``source_sha: <first 12 hex digits of sha256 of the English file>``), notebook
pages in ``metadata.llm_anatomy.source_sha``. When English changes, the hash no longer
matches and the page shows up as *stale* in ``nox -s translations``; once the translator
has caught up, ``python -m llm_anatomy_book stamp zh/07-autograd.md`` records the new hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .blocks import DEFAULT_LANGUAGE, DOCS, LANGUAGES, BookError, parse_blocks

PAGE_SUFFIXES = (".md", ".ipynb")
FRONT_MATTER = re.compile(r"\A---\n(?P<yaml>.*?)\n---\n", re.DOTALL)
UP_TO_DATE, STALE, MISSING, UNSTAMPED = "up to date", "stale", "missing", "unstamped"


def source_sha(english: Path) -> str:
    """The revision id of an English page: 12 hex digits of its sha256."""
    return hashlib.sha256(english.read_bytes()).hexdigest()[:12]


def english_pages() -> list[str]:
    """Page names (relative to ``docs/en``) every language must have."""
    root = DOCS / DEFAULT_LANGUAGE
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in PAGE_SUFFIXES)


def recorded_sha(page: Path) -> str | None:
    """The English revision a translated page says it follows, if any."""
    if page.suffix == ".ipynb":
        meta = json.loads(page.read_text(encoding="utf-8")).get("metadata", {})
        return meta.get("llm_anatomy", {}).get("source_sha")
    m = FRONT_MATTER.match(page.read_text(encoding="utf-8"))
    return (yaml.safe_load(m["yaml"]) or {}).get("source_sha") if m else None


@dataclass(frozen=True)
class PageStatus:
    name: str
    lang: str
    state: str


def status(langs: tuple[str, ...] = ("zh", "ru")) -> list[PageStatus]:
    """The state of every translated page: up to date, stale, unstamped or missing."""
    rows = []
    for name in english_pages():
        sha = source_sha(DOCS / DEFAULT_LANGUAGE / name)
        for lang in langs:
            if lang not in LANGUAGES:
                raise BookError(f"unknown language {lang!r}: the book is written in {', '.join(LANGUAGES)}")
            page = DOCS / lang / name
            if not page.exists():
                state = MISSING
            else:
                recorded = recorded_sha(page)
                state = UNSTAMPED if recorded is None else UP_TO_DATE if recorded == sha else STALE
            rows.append(PageStatus(name, lang, state))
    return rows


def format_status(rows: list[PageStatus]) -> str:
    """A chapter × language table, as ``nox -s translations`` prints it."""
    langs = sorted({r.lang for r in rows}, key=LANGUAGES.index)
    names = sorted({r.name for r in rows})
    cell = {(r.name, r.lang): r.state for r in rows}
    width = max(len(n) for n in names) if names else 4
    lines = [f"{'page':<{width}}  " + "  ".join(f"{lang:<11}" for lang in langs)]
    lines.append("-" * len(lines[0]))
    lines += [f"{n:<{width}}  " + "  ".join(f"{cell[n, lang]:<11}" for lang in langs) for n in names]
    return "\n".join(lines)


def stamp(page: Path) -> str:
    """Record in a translated page the English revision it now follows; return the hash."""
    lang = page.resolve().relative_to(DOCS).parts[0]
    if lang not in LANGUAGES or lang == DEFAULT_LANGUAGE:
        raise BookError(f"{page}: only zh and ru pages are stamped")
    name = page.resolve().relative_to(DOCS / lang).as_posix()
    sha = source_sha(DOCS / DEFAULT_LANGUAGE / name)
    if page.suffix == ".ipynb":
        nb = json.loads(page.read_text(encoding="utf-8"))
        nb.setdefault("metadata", {}).setdefault("llm_anatomy", {})["source_sha"] = sha
        page.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return sha
    text = page.read_text(encoding="utf-8")
    m = FRONT_MATTER.match(text)
    meta = (yaml.safe_load(m["yaml"]) or {}) if m else {}
    meta["source_sha"] = sha
    body = text[m.end() :] if m else text
    page.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n" + body, encoding="utf-8")
    return sha


def code_of(page: Path) -> list[tuple[str, str]]:
    """The code of a page that must be identical in every language: (fence info, code) pairs.

    Notebook pages contribute their code cells; Markdown pages their fenced blocks and their
    mkdocstrings directives (``::: module``), which decide what the API pages document.
    """
    if page.suffix == ".ipynb":
        cells = json.loads(page.read_text(encoding="utf-8"))["cells"]
        return [("code", "".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    blocks = [(f"{b.lang} {sorted(b.options.items())}", b.source) for b in parse_blocks(page)]
    directives = [("mkdocstrings", ln.strip()) for ln in page.read_text(encoding="utf-8").splitlines() if ln.startswith(":::")]
    return blocks + directives
