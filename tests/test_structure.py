"""Every translation has the English page's shape: same headings, exercises, boxes, figures, tables, math.

The code of a translated page is compared byte for byte in ``test_translations.py``; this file
compares its prose *structure*, counted from the Markdown source of each language: headings per
level, exercises, admonitions (``!!!`` and ``???``, per kind and type), figures (executed blocks
that call ``show(...)``, and Markdown images), tables (with their number of rows) and display-math
blocks. A translator who drops an exercise, a table row or an equation fails here, with the
chapter, the language and what differs.

A deliberate difference goes into ``ALLOWED`` with the reason; an entry that no longer matches a
real difference fails too, so the list cannot rot.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from llm_anatomy_book.blocks import DOCS, FENCE_OPEN, LANGUAGES, parse_blocks
from llm_anatomy_book.translations import FRONT_MATTER, english_pages

TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]

# (page, language, structure key) -> why that count may differ from English. Keys are the
# names used by ``structure()`` below, e.g. "heading h3", "admonition ??? question", "tables".
ALLOWED: dict[tuple[str, str, str], str] = {}

HEADING = re.compile(r"^[ \t]*(#{1,6})[ \t]+\S")
ADMONITION = re.compile(r"^[ \t]*(!!!|\?\?\?\+?)[ \t]+(\w[\w-]*)")
IMAGE = re.compile(r"!\[[^\]]*\]\([^)]+\)")
TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$")
TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$")
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks and front matter."""
    m = FRONT_MATTER.match(text)
    if m:
        text = text[m.end() :]
    out, fence = [], None
    for line in text.splitlines():
        if fence is None:
            opening = FENCE_OPEN.match(line)
            if opening:
                fence = opening["fence"]
                continue
            out.append(line)
        elif line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            fence = None
    return out


def markdown_of(page: Path) -> str:
    """A page's Markdown: the file itself, or a notebook's Markdown cells joined."""
    if page.suffix == ".ipynb":
        cells = json.loads(page.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return page.read_text(encoding="utf-8")


def structure(page: Path) -> Counter:
    """Counts of the structural elements of one page, keyed by a readable name."""
    lines = prose_lines(markdown_of(page))
    counts: Counter = Counter()
    for i, line in enumerate(lines):
        if m := HEADING.match(line):
            counts[f"heading h{len(m[1])}"] += 1
        if m := ADMONITION.match(line):
            counts[f"admonition {m[1]} {m[2]}"] += 1
            if m[2] == "question":
                counts["exercises"] += 1
        counts["images"] += len(IMAGE.findall(line))
        if TABLE_RULE.match(line) and i > 0 and TABLE_ROW.match(lines[i - 1]):
            rows = 0
            while i + 1 + rows < len(lines) and TABLE_ROW.match(lines[i + 1 + rows]):
                rows += 1
            counts["tables"] += 1
            counts[f"table {counts['tables']} rows"] = rows
    counts["display math"] = len(DISPLAY_MATH.findall("\n".join(lines)))
    if page.suffix == ".md":
        counts["figures (show)"] = sum(b.kind == "exec" and "show(" in b.code for b in parse_blocks(page))
    return +counts  # drop zero counts


def differences(name: str, lang: str) -> dict[str, tuple[int, int]]:
    """Structure keys whose count in ``lang`` differs from English: key -> (English, lang)."""
    english, translated = structure(DOCS / "en" / name), structure(DOCS / lang / name)
    return {k: (english[k], translated[k]) for k in sorted(english.keys() | translated.keys()) if english[k] != translated[k]}


@pytest.mark.parametrize("lang", TRANSLATED)
@pytest.mark.parametrize("name", english_pages())
def test_translation_has_the_english_structure(name: str, lang: str) -> None:
    if not (DOCS / lang / name).exists():
        pytest.fail(f"docs/{lang}/{name} is missing")
    diff = differences(name, lang)
    unexplained = {k: v for k, v in diff.items() if (name, lang, k) not in ALLOWED}
    assert not unexplained, f"docs/{lang}/{name} differs from English in structure (key: English, {lang}):\n" + "\n".join(
        f"  {k}: {en}, {tr}" for k, (en, tr) in unexplained.items()
    )


def test_allowed_differences_are_real_and_explained() -> None:
    for (name, lang, key), reason in ALLOWED.items():
        assert reason.strip(), f"ALLOWED entry {(name, lang, key)} gives no reason"
        assert key in differences(name, lang), f"ALLOWED entry {(name, lang, key)} no longer differs: remove it"


def test_structure_counts_what_it_claims(tmp_path: Path) -> None:
    # The counter itself, on a page with one of everything, and code that must not count.
    page = tmp_path / "x.md"
    page.write_text(
        "---\nsource_sha: abc\n---\n# Title\n\n## One\n\n$$\na = b\n$$\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n| 3 | 4 |\n\n"
        "!!! note \"N\"\n    text ![fig](a.png)\n\n??? question \"Q\"\n    ### Sub\n    ??? success \"S\"\n"
        "        ```python\n        # not a heading\n        x = 1  # $$ not math $$\n        ```\n\n"
        "```text\n| not | a table |\n|---|---|\n!!! note\n```\n",
        encoding="utf-8",
    )
    assert structure(page) == Counter(
        {
            "heading h1": 1,
            "heading h2": 1,
            "heading h3": 1,
            "display math": 1,
            "tables": 1,
            "table 1 rows": 2,
            "admonition !!! note": 1,
            "admonition ??? question": 1,
            "admonition ??? success": 1,
            "exercises": 1,
            "images": 1,
        }
    )
