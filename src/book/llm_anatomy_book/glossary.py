"""The translation glossary: one term, three languages, used the same way everywhere.

``docs/glossary.yml`` is the single source. Translators look terms up there; the glossary
page of each language is rendered from it at build time.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from llm_anatomy.plot import current_language

from .blocks import DOCS, LANGUAGES, BookError

GLOSSARY = DOCS / "glossary.yml"
HEADERS = {
    "en": ("English", "中文", "Русский", "Chapter"),
    "zh": ("English", "中文", "Русский", "章节"),
    "ru": ("English", "中文", "Русский", "Глава"),
}


@dataclass(frozen=True)
class Term:
    en: str
    zh: str
    ru: str
    chapter: int | None = None
    note: str = ""


def load() -> list[Term]:
    """Read and check the glossary.

    Raises:
        BookError: if an entry lacks a language or a term appears twice.
    """
    entries = yaml.safe_load(GLOSSARY.read_text(encoding="utf-8")) or []
    terms, seen = [], set()
    for i, entry in enumerate(entries, 1):
        missing = [lang for lang in LANGUAGES if not str(entry.get(lang, "")).strip()]
        if missing:
            raise BookError(f"{GLOSSARY.name} entry {i} ({entry}) has no {', '.join(missing)} term")
        if entry["en"].lower() in seen:
            raise BookError(f"{GLOSSARY.name}: {entry['en']!r} is listed twice")
        seen.add(entry["en"].lower())
        terms.append(Term(**entry))
    return sorted(terms, key=lambda t: t.en.lower())


def markdown_table(lang: str | None = None) -> str:
    """The glossary as a Markdown table, headed in ``lang``, sorted by the English term.

    Args:
        lang: ``en``, ``zh`` or ``ru``; by default the language being built.
    """
    lang = lang or current_language()
    if lang not in HEADERS:
        raise BookError(f"unknown language {lang!r}: the book is written in {', '.join(LANGUAGES)}")
    header = HEADERS[lang]
    rows = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    rows += [f"| {t.en} | {t.zh} | {t.ru} | {t.chapter or ''} |" for t in load()]
    return "\n".join(rows)
