"""Mark what a reader must not paste: library excerpts, outputs, and blocks the tests skip.

A reader copies the blocks of a chapter, in order, into one session. That works for the
executed and plain blocks, which import the package, but not for three other kinds of block
the page shows in the same grey box:

* a **listing** (``--8<--`` include of a section of ``src/``) is an excerpt of the package:
  pasted, a section of ``class Value`` would replace the package's full class, and it lacks its
  module's imports;
* an **output** (what an executed block printed, or an expected-output block) is not code;
* a block marked ``skip``/``skipif``/``xfail`` for the tests (a download, a deliberate error).

:func:`mark_code_blocks` runs on each page's HTML at build time (``on_page_content``). It
walks the page's rendered code blocks together with the blocks the parser of
:mod:`llm_anatomy_book.blocks` finds in the Markdown source, checks that each rendered block
shows the source's code (so the two sequences cannot drift apart silently), and wraps:

* an excerpt in ``<div class="la-excerpt" data-la-excerpt="src/...">`` with a note that names
  the file and the import that brings the code in;
* an output in ``<div class="la-output no-copy" data-la-output="...">`` with a label
  ("Output") and no copy button: ``exec`` for an executed block's ``result``, ``exec-html``
  for the text a figure block (``html="1"``) prints before its figure, which would otherwise
  be bare text, ``expected`` for an expected-output block; on a notebook page
  (mkdocs-jupyter), each cell's output area gets the same class and label (``notebook``);
* a marked block in ``<div class="la-marked" data-la-mark="skip|skipif|xfail" ...>`` with
  a note that says why (``data-la-reason``, ``data-la-condition``, ``data-la-raises``).

``tests/test_paste.py`` reads these classes and attributes from the built site.
"""

from __future__ import annotations

import ast
import functools
import html as htmllib
import importlib
import re
from pathlib import Path

from .blocks import ROOT, BookError, CodeBlock, parse_blocks
from .notebooks import CHAPTER_NAME

HIGHLIGHT = re.compile(r'<div class="(?:language-(?P<lang>[\w+-]+) )?highlight">(?P<body>.*?)</div>', re.S)
"""A code block as pymdownx.highlight renders it; its content is escaped, so holds no ``</div>``."""
FILENAME = re.compile(r'<span class="filename">.*?</span>', re.S)
TAG = re.compile(r"<[^>]+>")
BARE_TEXT = re.compile(r"(?P<text>[^<]*)")
SECTION = '# --8<-- [{}:{}]'

OUTPUT_LABEL = {"en": "Output", "zh": "输出", "ru": "Вывод"}
EXCERPT_NOTE = {
    "en": "Excerpt from <code>{path}</code>{part} — this code is part of the package, not a block to "
    "paste: <code>{imports}</code> imports it.",
    "zh": "摘自 <code>{path}</code>{part}——这段代码属于本书的软件包，不必粘贴运行："
    "<code>{imports}</code> 即可导入。",
    "ru": "Фрагмент <code>{path}</code>{part} — этот код входит в пакет, вставлять его не нужно: "
    "его импортирует <code>{imports}</code>.",
}
EXCERPT_PART = {
    "en": " (part of <code>{name}</code>)",
    "zh": "（<code>{name}</code> 的一部分）",
    "ru": " (часть <code>{name}</code>)",
}
MARK_NOTE = {
    "skip": {
        "en": "Not run in the book's tests: {reason}.",
        "zh": "本书的测试不运行这段代码：{reason}。",
        "ru": "В тестах книги этот блок не запускается: {reason}.",
    },
    "skipif": {
        "en": "May be skipped in the book's tests: {reason}.",
        "zh": "本书的测试可能跳过这段代码：{reason}。",
        "ru": "В тестах книги этот блок может быть пропущен: {reason}.",
    },
    "xfail": {
        "en": "Raises on purpose ({raises}): {reason}.",
        "zh": "这段代码会故意抛出异常（{raises}）：{reason}。",
        "ru": "Этот блок намеренно вызывает исключение ({raises}): {reason}.",
    },
}
ANY_EXCEPTION = "Exception"


def _text(body: str) -> str:
    """The code a reader copies from a rendered block: its text, without the file name."""
    return htmllib.unescape(TAG.sub("", FILENAME.sub("", body)))


def _same_code(rendered: str, code: str) -> bool:
    def lines(text: str) -> list[str]:
        return [ln.rstrip() for ln in text.strip("\n").split("\n")]

    return lines(rendered) == lines(code)


def _section_lines(file: Path, section: str) -> tuple[int, int]:
    """1-based first and last line of a ``--8<--`` section of a source file."""
    lines = file.read_text(encoding="utf-8").split("\n")
    start = end = None
    for number, line in enumerate(lines, 1):
        if line.strip() == SECTION.format("start", section):
            start = number
        elif line.strip() == SECTION.format("end", section) and start is not None:
            end = number
            break
    if start is None or end is None:
        raise BookError(f"{file}: no section {section!r}")
    return start, end


def _defined_names(tree: ast.Module, start: int, end: int) -> tuple[list[str], str | None]:
    """Names a section defines at module level (the public ones if any), or the class it is a part of."""
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.lineno < end and start <= node.end_lineno and not (
            start < node.lineno and node.end_lineno < end
        ):
            return [node.name], node.name  # a section inside a class, or its first lines: a part of it
        if not start < node.lineno < end:
            continue
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    public = [n for n in names if not n.startswith("_")]
    return public or names, None


def _shortest_import(module: str, name: str) -> str:
    """The shortest package path from which ``name`` of ``module`` can be imported."""
    obj = getattr(importlib.import_module(module), name)
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        candidate = ".".join(parts[:i])
        if getattr(importlib.import_module(candidate), name, None) is obj:
            return candidate
    return module


@functools.cache
def excerpt_of(target: str) -> tuple[str, str, str | None]:
    """Describe a listing's ``file:section`` target for the reader.

    Args:
        target: a snippet target such as ``src/llm_anatomy/autograd/engine.py:value``.

    Returns:
        The file path, the import statement that brings the section's code in (e.g.
        ``from llm_anatomy.autograd import Value``), and the class the section is a part of
        (``None`` when the section is whole definitions).

    Raises:
        BookError: if the target is not a section of a Python file under ``src/``.
    """
    from .blocks import module_of

    module = module_of(target)
    path, _, section = target.partition(":")
    file = ROOT / path
    if section:
        start, end = _section_lines(file, section)
    else:
        start, end = 0, len(file.read_text(encoding="utf-8").split("\n")) + 1
    names, part_of = _defined_names(ast.parse(file.read_text(encoding="utf-8")), start, end)
    if not names:
        return path, f"import {module}", None
    by_source: dict[str, list[str]] = {}
    for name in names:
        by_source.setdefault(_shortest_import(module, name), []).append(name)
    imports = "; ".join(f"from {src} import {', '.join(ns)}" for src, ns in by_source.items())
    return path, imports, part_of


def _marker(block: CodeBlock) -> dict[str, str] | None:
    """The test marker of a block (``skip``, ``skipif``, ``xfail``) and its arguments."""
    for text in block.markers:
        if not text.startswith("pytest.mark."):
            continue
        call = ast.parse(text, mode="eval").body
        func = call.func if isinstance(call, ast.Call) else call
        kind = func.attr
        if kind not in MARK_NOTE:
            raise BookError(f"{block.label()}: marker {text!r} has no note for readers (known: {sorted(MARK_NOTE)})")
        keywords = {k.arg: k.value for k in call.keywords} if isinstance(call, ast.Call) else {}
        reason = keywords.get("reason")
        mark = {"kind": kind, "reason": reason.value if isinstance(reason, ast.Constant) else ""}
        if kind == "skipif":
            mark["condition"] = ast.get_source_segment(text, call.args[0])
        if kind == "xfail":
            raises = keywords.get("raises")
            mark["raises"] = ast.get_source_segment(text, raises) if raises is not None else ANY_EXCEPTION
        return mark
    return None


def _attr(value: str) -> str:
    return htmllib.escape(value, quote=True)


def _wrap_excerpt(div: str, block: CodeBlock, lang: str) -> str:
    described = [excerpt_of(t) for t in block.listing_targets()]
    paths = list(dict.fromkeys(d[0] for d in described))
    imports = "; ".join(dict.fromkeys(d[1] for d in described))
    parts = list(dict.fromkeys(d[2] for d in described if d[2]))
    part = EXCERPT_PART[lang].format(name=htmllib.escape(parts[0])) if len(parts) == 1 else ""
    note = EXCERPT_NOTE[lang].format(path=htmllib.escape(", ".join(paths)), part=part, imports=htmllib.escape(imports))
    return (
        f'<div class="la-excerpt" data-la-excerpt="{_attr(", ".join(paths))}" data-la-import="{_attr(imports)}">'
        f'<p class="la-excerpt-note">{note}</p>{div}</div>'
    )


def _wrap_marked(div: str, mark: dict[str, str], lang: str) -> str:
    note = MARK_NOTE[mark["kind"]][lang].format(
        reason=htmllib.escape(mark["reason"] or mark.get("condition", "")), raises=htmllib.escape(mark.get("raises", ""))
    )
    attrs = "".join(f' data-la-{key if key != "kind" else "mark"}="{_attr(value)}"' for key, value in mark.items())
    return f'<div class="la-marked"{attrs}><p class="la-mark-note">{note}</p>{div}</div>'


def _wrap_output(div: str, kind: str, lang: str) -> str:
    return (
        f'<div class="la-output no-copy" data-la-output="{kind}">'
        f'<p class="la-output-label">{OUTPUT_LABEL[lang]}</p>{div}</div>'
    )


def _text_block(text: str) -> str:
    """A code block of plain text, as pymdownx.highlight renders one (``text`` is HTML already)."""
    return f'<div class="language-text highlight"><pre><span></span><code>{text}\n</code></pre></div>'


def _expected(blocks: list[CodeBlock]) -> list[tuple[str, CodeBlock]]:
    """What each Markdown block renders as, in order: ``code`` and ``output`` highlight blocks.

    An executed block shows its source (``source="above"``), then its printed output in a
    ``result`` block; ``html="1"`` output is raw HTML (a figure), not a code block.
    """
    expected = []
    for block in blocks:
        if block.kind != "exec":
            expected.append(("output" if block.expects_output else "code", block))
            continue
        source = block.options.get("source", "")
        if source not in {"", "above"}:
            raise BookError(f"{block.label()}: source={source!r}: only source=\"above\" is marked on the page")
        if source:
            expected.append(("code", block))
        if block.options.get("result"):
            expected.append(("exec-output", block))
    return expected


def mark_chapter(html: str, blocks: list[CodeBlock], lang: str, page: str = "") -> str:
    """Mark the excerpts, outputs and test-marked blocks of a chapter's rendered HTML.

    Args:
        html: the page's content as rendered by Python-Markdown.
        blocks: the page's blocks parsed from its Markdown source, in page order.
        lang: the page's language (``en``, ``zh``, ``ru``).
        page: the page's name, for error messages.

    Returns:
        The HTML with the blocks wrapped as the module docstring describes.

    Raises:
        BookError: if the rendered code blocks do not follow the Markdown's (a block shows
            other code than its source, or the counts differ): the marks would land on the
            wrong blocks.
    """
    expected = _expected(blocks)
    rendered = list(HIGHLIGHT.finditer(html))
    if len(rendered) != len(expected):
        raise BookError(
            f"{page}: {len(rendered)} code blocks rendered, {len(expected)} expected from the Markdown "
            "(a block rendered in an unexpected way): cannot mark excerpts and outputs"
        )
    out, last = [], 0
    for match, (role, block) in zip(rendered, expected, strict=True):
        div = match.group(0)
        if role == "code" and not _same_code(_text(match["body"]), block.code):
            raise BookError(f"{block.label()}: the rendered block does not show the Markdown block's code")
        end = match.end()
        if role == "code" and block.kind == "exec" and block.options.get("html"):
            # text a figure block prints before its figure lands on the page as bare text
            text = BARE_TEXT.match(html, end)["text"]
            if text.strip():
                div += _wrap_output(_text_block(text.strip("\n")), "exec-html", lang)
                end += len(text)
        if role == "exec-output":
            div = _wrap_output(div, "exec", lang)
        elif role == "output":
            div = _wrap_output(div, "expected", lang)
        elif block.kind == "listing":
            div = _wrap_excerpt(div, block, lang)
        elif block.is_python and (mark := _marker(block)):
            div = _wrap_marked(div, mark, lang)
        out += [html[last : match.start()], div]
        last = end
    out.append(html[last:])
    return "".join(out)


NOTEBOOK_OUTPUT = re.compile(r'<div class="jp-OutputArea jp-Cell-outputArea">')


def mark_notebook(html: str, lang: str) -> str:
    """Label every output area of a notebook page (mkdocs-jupyter) as an output."""
    return NOTEBOOK_OUTPUT.sub(
        f'<div class="jp-OutputArea jp-Cell-outputArea la-output no-copy" data-la-output="notebook">'
        f'<p class="la-output-label">{OUTPUT_LABEL[lang]}</p>',
        html,
    )


def mark_code_blocks(html: str, page, lang: str) -> str:
    """The ``on_page_content`` step: mark a chapter's or a notebook page's blocks.

    Args:
        html: the page's rendered content.
        page: the mkdocs page (its source file is read again to find the blocks).
        lang: the language being built.

    Returns:
        The marked HTML; other pages (index, glossary, API) are returned unchanged.
    """
    src = Path(page.file.abs_src_path)
    if src.suffix == ".ipynb":
        return mark_notebook(html, lang)
    if not CHAPTER_NAME.match(src.name):
        return html
    return mark_chapter(html, parse_blocks(src), lang, page=page.file.src_uri)
