"""Find the code blocks of a chapter, the way the site's build sees them.

The book's promise is that every Python block on the site runs. Three kinds exist:

* **listing**: a block whose lines are only ``--8<--`` snippet includes of a file in
  ``src/``; the build replaces them with a named section of that file;
* **exec**: a block with ``exec="on"`` that markdown-exec runs while the site builds;
* **plain**: any other Python block, shown as it is.

This module parses a Markdown file into :class:`CodeBlock` objects, expanding snippets with
pymdownx's own preprocessor configured from ``mkdocs.yml`` (so a block is checked exactly
as it is rendered), and reads the test markers written as HTML comments above a block.
"""

from __future__ import annotations

import functools
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import markdown

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
LANGUAGES = ("en", "zh", "ru")
DEFAULT_LANGUAGE = "en"

PYTHON_LANGS = {"python", "py", "python3", "pycon"}
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[ \t]*(?P<info>.*)$")
SNIPPET_LINE = re.compile(r"^\s*-{1,}8<-{1,}\s+[\"'](?P<target>[^\"']+)[\"']\s*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<body>pytest[\w-]*[:.].*?)\s*-->\s*$")


class BookError(ValueError):
    """A chapter breaks one of the book's rules (bad marker, unknown language, ...)."""


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block of a Markdown page.

    Attributes:
        path: the Markdown file, relative to the repository root.
        line: 1-based line of the opening fence.
        lang: the fence's language (``python``, ``text``...).
        options: ``key="value"`` options of the fence (``exec``, ``session``, ``title``...).
        source: the block's text as written in the Markdown file (dedented).
        code: the text the reader sees: ``source`` with snippets expanded.
        markers: test markers found in HTML comments right above the fence.
    """

    path: str
    line: int
    lang: str
    options: dict[str, str]
    source: str
    code: str
    markers: tuple[str, ...] = field(default=())

    @property
    def is_python(self) -> bool:
        return self.lang in PYTHON_LANGS

    @property
    def kind(self) -> str:
        """``"listing"``, ``"exec"``, ``"plain"`` for Python blocks, else ``"other"``."""
        if not self.is_python:
            return "other"
        if self.options.get("exec", "").lower() in {"on", "true", "1", "yes"}:
            return "exec"
        if self.listing_targets():
            return "listing"
        return "plain"

    @property
    def session(self) -> str | None:
        return self.options.get("session")

    def listing_targets(self) -> list[str]:
        """The ``file:section`` targets if the block is made only of snippet lines."""
        lines = [ln for ln in self.source.splitlines() if ln.strip()]
        matches = [SNIPPET_LINE.match(ln) for ln in lines]
        if lines and all(matches):
            return [m["target"] for m in matches]
        return []

    @property
    def expects_output(self) -> bool:
        return "pytest-codeblocks:expected-output" in self.markers

    def label(self) -> str:
        return f"{self.path}:{self.line}"


def _parse_options(info: str) -> dict[str, str]:
    options = {}
    for token in shlex.split(info.strip().strip("{}")):
        key, sep, value = token.partition("=")
        options[key] = value if sep else "true"
    return options


@functools.cache
def site_config():
    """``mkdocs.yml``, loaded and validated by mkdocs itself."""
    from mkdocs.config import load_config

    return load_config(str(ROOT / "mkdocs.yml"))


def _snippet_config() -> dict:
    """The ``pymdownx.snippets`` options of ``mkdocs.yml``, as the build uses them."""
    return dict(site_config()["mdx_configs"].get("pymdownx.snippets", {}))


def expand_snippets(text: str) -> str:
    """Expand ``--8<--`` lines with pymdownx's own preprocessor, configured as the site is.

    Raises:
        BookError: if a file or a section does not exist (``check_paths`` is on, as in the build).
    """
    md = markdown.Markdown(extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": _snippet_config()})
    try:
        lines = md.preprocessors["snippet"].run(text.split("\n"))
    except Exception as err:  # pymdownx raises SnippetMissingError, a plain Exception subclass
        raise BookError(str(err)) from err
    return "\n".join(lines)


def _markers_above(lines: list[str], index: int) -> tuple[str, ...]:
    markers = []
    i = index - 1
    while i >= 0 and (m := MARKER.match(lines[i])):
        markers.append(m["body"])
        i -= 1
    return tuple(reversed(markers))


def parse_blocks(path: Path | str) -> list[CodeBlock]:
    """Parse every fenced block of a Markdown file, in page order.

    Args:
        path: a Markdown file inside the repository.

    Returns:
        The blocks, with snippets expanded in ``code``.

    Raises:
        BookError: on a fence that is never closed or a snippet that does not exist.
    """
    path = Path(path).resolve()
    rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        close = re.compile(rf"^{re.escape(indent)}{fence[0]}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if j == len(lines):
            raise BookError(f"{rel}:{i + 1}: code fence is never closed")
        body = [ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1 : j]]
        source = textwrap.dedent("\n".join(body))
        block = CodeBlock(
            path=rel,
            line=i + 1,
            lang=m["lang"].lower(),
            options=_parse_options(m["info"]),
            source=source,
            code=source,
            markers=_markers_above(lines, i),
        )
        if block.is_python and "--8<--" in source:
            block = CodeBlock(**{**block.__dict__, "code": expand_snippets(source)})
        blocks.append(block)
        i = j + 1
    return blocks


def chapter_files(lang: str = DEFAULT_LANGUAGE, suffixes: tuple[str, ...] = (".md",)) -> list[Path]:
    """The pages of one language, sorted by file name."""
    if lang not in LANGUAGES:
        raise BookError(f"unknown language {lang!r}: the book is written in {', '.join(LANGUAGES)}")
    return sorted(p for p in (DOCS / lang).rglob("*") if p.suffix in suffixes)


def module_of(target: str) -> str:
    """Map a snippet target such as ``src/llm_anatomy/autograd/engine.py:value`` to its module.

    Raises:
        BookError: if the target is not a Python file under ``src/``.
    """
    file = target.split(":", 1)[0]
    if not (file.startswith("src/") and file.endswith(".py")):
        raise BookError(f"listing {target!r} does not point at a Python file under src/")
    parts = Path(file[len("src/") : -len(".py")]).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
