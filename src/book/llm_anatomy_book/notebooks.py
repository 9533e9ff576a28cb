"""Turn a chapter's Markdown into a Jupyter notebook a reader can download and run.

Prose becomes Markdown cells, every runnable block (``exec`` and plain) becomes a code cell
in page order, and listings from ``src/`` become read-only Markdown code so the notebook
imports the tested package instead of redefining it. Admonitions (``!!!``/``???``) are turned
into bold headings, since Jupyter does not know them.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .blocks import DOCS, LANGUAGES, MARKER, BookError, parse_blocks
from .translations import FRONT_MATTER

CHAPTER_NAME = re.compile(r"^\d\d-[\w-]+\.md$")
"""Chapters are the pages named ``NN-slug.md``; each gets a notebook."""
ADMONITION = re.compile(r'^(?P<indent>\s*)(?:!!!|\?\?\?\+?)\s+(?P<kind>[\w-]+)(?:\s+"(?P<title>[^"]*)")?\s*$')
INTRO = {
    "en": "*Generated from the chapter of [LLM Anatomy](https://github.com/llm-anatomy/llm-anatomy). "
    "Run it where the `llm_anatomy` package is installed (`pip install -e .` in the repository).*",
    "zh": "*本笔记本由《大模型解剖》的章节自动生成。请在已安装 `llm_anatomy` 包的环境中运行"
    "（在仓库根目录执行 `pip install -e .`）。*",
    "ru": "*Блокнот сгенерирован из главы книги «Анатомия LLM». Запускайте его там, где установлен "
    "пакет `llm_anatomy` (`pip install -e .` в корне репозитория).*",
}


def _prose_to_markdown(lines: list[str], depth_indents: list[int]) -> str:
    """Flatten admonitions into headings and drop test markers from a run of prose lines.

    ``depth_indents`` holds the indentation of the admonitions still open; it is carried from
    one run of prose to the next, since a code block can sit inside an admonition.
    """
    out = []
    for line in lines:
        if MARKER.match(line):
            continue
        indent = len(line) - len(line.lstrip())
        while depth_indents and line.strip() and indent < depth_indents[-1]:
            depth_indents.pop()
        strip = depth_indents[-1] if depth_indents else 0
        m = ADMONITION.match(line)
        if m:
            title = m["title"] or m["kind"].capitalize()
            out.append(f"**{title}**\n")
            depth_indents.append(len(m["indent"]) + 4)
            continue
        out.append(line[strip:] if line[:strip].strip() == "" else line.lstrip())
    return "\n".join(out).strip("\n")


def chapter_notebook(path: Path | str) -> nbformat.NotebookNode:
    """Build the notebook of one chapter page.

    Raises:
        BookError: if the page is not inside a language folder of ``docs/``.
    """
    path = Path(path).resolve()
    lang = path.relative_to(DOCS).parts[0]
    if lang not in LANGUAGES:
        raise BookError(f"{path} is not in a language folder of docs/ ({', '.join(LANGUAGES)})")
    text = path.read_text(encoding="utf-8")
    offset = 0
    if m := FRONT_MATTER.match(text):
        offset = m.group(0).count("\n")
    lines = text.split("\n")
    cells = [nbformat.v4.new_markdown_cell(INTRO[lang])]
    if lang != "en":
        cells.append(nbformat.v4.new_code_cell(f'import os\nos.environ["LLM_ANATOMY_LANG"] = "{lang}"  # figure labels'))
    prose_start, open_admonitions = offset, []
    for block in parse_blocks(path):
        start, end = block.line - 1, block.line + block.source.count("\n") + 1
        if block.kind in ("exec", "plain"):
            cells.append(nbformat.v4.new_markdown_cell(_prose_to_markdown(lines[prose_start:start], open_admonitions)))
            cells.append(nbformat.v4.new_code_cell(block.code))
        elif block.kind == "listing":
            cells.append(nbformat.v4.new_markdown_cell(_prose_to_markdown(lines[prose_start:start], open_admonitions)))
            title = block.options.get("title", "")
            cells.append(nbformat.v4.new_markdown_cell(f"`{title}`\n\n```python\n{block.code}\n```"))
        else:
            continue
        prose_start = end + 1
    cells.append(nbformat.v4.new_markdown_cell(_prose_to_markdown(lines[prose_start:], open_admonitions)))
    nb = nbformat.v4.new_notebook(cells=[c for c in cells if c.source.strip()])
    nb.metadata.update(
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
        language_info={"name": "python"},
    )
    return nb


def write_notebook(path: Path | str, dest: Path | str) -> Path:
    """Write the notebook of ``path`` to ``dest`` and return ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(chapter_notebook(path), str(dest))
    return dest
