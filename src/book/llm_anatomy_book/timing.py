"""How long each page takes to build, per language: the figure the build budget is checked against.

Rendering a page is where its snippets are pulled in and markdown-exec runs its executed
blocks, so the time from the page's Markdown to its HTML is the chapter's cost. The hooks call
:func:`start` and :func:`stop` around that step; after each language the times so far are
written to ``site/build-times.json`` ({page: {language: seconds}}), which ``nox -s docs``
prints as a table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

_started: dict[tuple[str, str], float] = {}
_seconds: dict[str, dict[str, float]] = {}


def start(page: str, lang: str) -> None:
    """Note that ``page`` in ``lang`` begins to render."""
    _started[page, lang] = time.perf_counter()


def stop(page: str, lang: str) -> None:
    """Record the seconds since :func:`start` for ``page`` in ``lang``."""
    began = _started.pop((page, lang), None)
    if began is not None:
        _seconds.setdefault(page, {})[lang] = round(time.perf_counter() - began, 2)


def write(path: Path) -> None:
    """Write the times recorded in this build to ``path`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(_seconds.items())), indent=1, ensure_ascii=False) + "\n")


def table(times: dict[str, dict[str, float]]) -> str:
    """A text table of per-page seconds per language, slowest pages first, with totals."""
    langs = sorted({lang for per_lang in times.values() for lang in per_lang}, key=("en", "zh", "ru").index)
    rows = sorted(times.items(), key=lambda item: -sum(item[1].values()))
    lines = [f"{'page':<28}" + "".join(f"{lang:>8}" for lang in langs) + f"{'all':>8}"]
    for page, per_lang in rows:
        lines.append(f"{page:<28}" + "".join(f"{per_lang.get(lang, 0):8.1f}" for lang in langs)
                     + f"{sum(per_lang.values()):8.1f}")
    totals = [sum(per_lang.get(lang, 0) for per_lang in times.values()) for lang in langs]
    lines.append(f"{'total':<28}" + "".join(f"{t:8.1f}" for t in totals) + f"{sum(totals):8.1f}")
    return "\n".join(lines)
