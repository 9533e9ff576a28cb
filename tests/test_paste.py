"""A reader pastes a chapter's code, as the built site shows it, into one fresh Python session.

The code is taken from the built HTML (``site/``, ``site/zh/``, ``site/ru/``), not from the
Markdown: what the reader copies is what runs. Per chapter, every Python block of the page
runs in page order in ONE namespace, in a fresh interpreter whose working directory is an
empty temporary folder, with the package as installed. Blocks that the page itself marks
(by ``llm_anatomy_book.excerpts`` at build time) are treated as the page says:

* excerpts of the package (``.la-excerpt``) and outputs (``.la-output``) are not pasted;
* ``data-la-mark="skip"`` is not run, ``"skipif"`` is not run when its condition holds,
  ``"xfail"`` must raise the exception named in ``data-la-raises``.

A chapter whose pasted code is the same in zh or ru as in English runs once. The chapters
run in parallel subprocesses (``LLM_ANATOMY_PASTE_JOBS``, default: the number of CPUs).

The page checks below make sure the marks are there: every listing of the Markdown is an
excerpt on the page, every output of an executed block is labelled, and the note of each
excerpt imports the code it shows.
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from llm_anatomy_book.blocks import ROOT, BookError, CodeBlock, module_of, parse_blocks
from llm_anatomy_book.excerpts import OUTPUT_LABEL, excerpt_of, mark_chapter
from llm_anatomy_book.notebooks import CHAPTER_NAME
from llm_anatomy_book.translations import english_pages

SITE = ROOT / "site"
LANG_PREFIX = {"en": "", "zh": "zh/", "ru": "ru/"}
GPT2_RANKS = ROOT.parent / "shared" / "data" / "gpt2.tiktoken"
HEAVY_FIRST = ("14-", "13-", "11-", "08-", "12-")  # start the slow chapters first
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
TIMEOUT_S = 1200  # per chapter; chapter 14 takes about 90 s of CPU

BUILT = (SITE / "index.html").exists()
NOT_BUILT = "site/ is not built: run `nox -s docs` (or `mkdocs build`) first"
if not BUILT and os.environ.get("LLM_ANATOMY_REQUIRE_SITE"):
    raise RuntimeError(NOT_BUILT)
needs_site = pytest.mark.skipif(not BUILT, reason=NOT_BUILT)


def _page(lang: str, name: str) -> Path:
    return SITE / LANG_PREFIX[lang] / Path(name).with_suffix("") / "index.html"


CHAPTERS = [name for name in english_pages() if CHAPTER_NAME.match(name)]


@dataclass(frozen=True)
class HtmlBlock:
    """A code block of a built page, with the marks of the ``div`` elements around it."""

    lang: str
    code: str
    excerpt: str | None = None  # data-la-excerpt: the file the excerpt comes from
    output: str | None = None  # data-la-output: exec, expected or notebook
    mark: str | None = None  # data-la-mark: skip, skipif, xfail
    condition: str | None = None
    raises: str | None = None
    reason: str | None = None


class _PageBlocks(HTMLParser):
    """Collects the ``<code>`` of every highlighted block of a page, in page order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.divs: list[dict[str, str]] = []  # the div elements open at this point
        self.blocks: list[HtmlBlock] = []
        self.output_areas: list[dict[str, str]] = []  # notebook output areas
        self.bare_text: list[str] = []  # text right inside the page's article, outside any element
        self._code: list[str] | None = None
        self._article_depth: int | None = None  # elements open inside the article

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = {k: v or "" for k, v in attrs}
        if tag == "article":
            self._article_depth = 0
        elif self._article_depth is not None and tag not in VOID:
            self._article_depth += 1
        if tag == "div":
            self.divs.append(attrs)
            if "jp-OutputArea" in attrs.get("class", "").split():
                self.output_areas.append(attrs)
        elif tag == "code" and self.divs and "highlight" in self.divs[-1].get("class", "").split():
            self._code = []

    def handle_endtag(self, tag: str) -> None:
        if self._article_depth is not None and tag not in VOID:
            self._article_depth = None if tag == "article" else self._article_depth - 1
        if tag == "div":
            self.divs.pop()
        elif tag == "code" and self._code is not None:
            classes = self.divs[-1]["class"].split()
            lang = next((c.removeprefix("language-") for c in classes if c.startswith("language-")), "")
            marks: dict[str, str] = {}
            for div in self.divs:
                marks.update({k.removeprefix("data-la-"): v for k, v in div.items() if k.startswith("data-la-")})
            self.blocks.append(
                HtmlBlock(
                    lang=lang,
                    code="".join(self._code),
                    **{k: marks.get(k) for k in ("excerpt", "output", "mark", "condition", "raises", "reason")},
                )
            )
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code.append(data)
        if self._article_depth == 0 and data.strip():
            self.bare_text.append(data.strip())



@functools.cache
def page_blocks(lang: str, name: str) -> _PageBlocks:
    parser = _PageBlocks()
    parser.feed(_page(lang, name).read_text(encoding="utf-8"))
    parser.close()
    return parser


def pasted(lang: str, name: str) -> list[HtmlBlock]:
    """The blocks a reader pastes: Python code, neither an excerpt of the package nor an output."""
    return [b for b in page_blocks(lang, name).blocks if b.lang == "python" and not b.excerpt and not b.output]


def _key(blocks: list[HtmlBlock]) -> list[tuple]:
    return [(b.code, b.mark, b.condition, b.raises) for b in blocks]


def _groups() -> list[tuple[str, tuple[str, ...]]]:
    """(chapter, languages): a chapter runs once for the languages whose pasted code is identical."""
    groups = []
    for name in CHAPTERS:
        runs: list[tuple[list[tuple], list[str]]] = []
        for lang in LANG_PREFIX:
            key = _key(pasted(lang, name))
            same = next((langs for k, langs in runs if k == key), None)
            if same is None:
                runs.append((key, [lang]))
            else:
                same.append(lang)
        groups += [(name, tuple(langs)) for _, langs in runs]
    return groups


def _skipped(block: HtmlBlock) -> bool:
    if block.mark == "skip":
        return True
    if block.mark == "skipif":
        import torch  # conditions may ask torch, as in test_docs_blocks.py

        return bool(eval(block.condition, {"sys": sys, "os": os, "torch": torch}))
    return False


# Runs in the fresh interpreter: the blocks, in order, in one namespace, as pasted into a REPL.
DRIVER = r"""
import contextlib, io, json, sys, time, traceback
plan = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
with open(sys.argv[1], "w", encoding="utf-8") as results:
    for number, item in enumerate(plan, 1):
        if item["skip"]:
            status, detail, seconds = "skipped", "", 0.0
        else:
            start = time.perf_counter()
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(item["code"], f"<pasted block {number}>", "exec"), namespace)
            except Exception as error:
                expected = item["raises"] and isinstance(error, eval(item["raises"], dict(namespace)))
                status = "xfailed" if expected else "failed"
                detail = "".join(traceback.format_exception(error)[-6:])
            else:
                status, detail = ("failed", "expected to raise, did not") if item["raises"] else ("passed", "")
            seconds = time.perf_counter() - start
        cpu = time.process_time()  # all threads of this interpreter, so far
        results.write(json.dumps({"status": status, "detail": detail, "seconds": seconds, "cpu": cpu}) + "\n")
        results.flush()
        if status == "failed":
            break
"""


def _environment(lang: str) -> dict[str, str]:
    env = dict(os.environ)
    # absolute entries only: relative ones would resolve against the temporary folder
    paths = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        MPLBACKEND="Agg",
        LLM_ANATOMY_LANG=lang,
        HF_HUB_OFFLINE="1",  # a block that would download fails at once instead of hanging
        TRANSFORMERS_OFFLINE="1",
    )
    if GPT2_RANKS.exists():
        env["LLM_ANATOMY_GPT2_RANKS"] = str(GPT2_RANKS)
    return env


def paste(name: str, lang: str) -> dict:
    """Run a chapter's pasted blocks in a fresh interpreter; one result per block, in order."""
    blocks = pasted(lang, name)
    plan = [{"code": b.code, "skip": _skipped(b), "raises": b.raises if b.mark == "xfail" else None} for b in blocks]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="paste-") as cwd:
        results_file = Path(cwd) / "results.jsonl"
        proc = subprocess.run(
            [sys.executable, "-c", DRIVER, str(results_file)],
            input=json.dumps(plan),
            capture_output=True,
            text=True,
            cwd=cwd,
            env=_environment(lang),
            timeout=TIMEOUT_S,
        )
        lines = results_file.read_text(encoding="utf-8").splitlines() if results_file.exists() else []
    return {
        "blocks": blocks,
        "results": [json.loads(line) for line in lines],
        "returncode": proc.returncode,
        "stderr": proc.stderr[-3000:],
        "seconds": time.perf_counter() - start,
    }


GROUPS = _groups() if BUILT else []


@pytest.fixture(scope="session")
def pasted_runs(request: pytest.FixtureRequest) -> dict:
    """Start every selected chapter's run at once, in parallel; each test waits for its own."""
    selected = [
        item.callspec.params["group"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_pasted_chapter"
    ]
    selected.sort(key=lambda g: next((i for i, p in enumerate(HEAVY_FIRST) if g[0].startswith(p)), len(HEAVY_FIRST)))
    jobs = int(os.environ.get("LLM_ANATOMY_PASTE_JOBS", os.cpu_count() or 1))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    futures = {group: pool.submit(paste, group[0], group[1][0]) for group in selected}
    yield futures
    pool.shutdown(cancel_futures=True)


@needs_site
@pytest.mark.docs
@pytest.mark.parametrize("group", GROUPS, ids=[f"{name.removesuffix('.md')}[{','.join(langs)}]" for name, langs in GROUPS])
def test_pasted_chapter(group: tuple[str, tuple[str, ...]], pasted_runs: dict) -> None:
    name, langs = group
    run = pasted_runs[group].result()
    results, blocks = run["results"], run["blocks"]
    counts = {s: sum(r["status"] == s for r in results) for s in ("passed", "skipped", "xfailed", "failed")}
    excerpts = sum(1 for b in page_blocks(langs[0], name).blocks if b.excerpt)
    print(
        f"\n{name} [{','.join(langs)}]: {len(blocks)} blocks pasted: {counts['passed']} ran, {counts['skipped']} skipped, "
        f"{counts['xfailed']} raised as marked, {counts['failed']} failed; {excerpts} excerpts not pasted; "
        f"{run['seconds']:.1f} s wall, {results[-1]['cpu'] if results else 0:.1f} s CPU"
    )
    slowest = sorted(range(len(results)), key=lambda i: -results[i]["seconds"])[:3]
    print("  slowest blocks: " + ", ".join(f"#{i + 1} {results[i]['seconds']:.1f} s" for i in slowest))
    failed = next((i for i, r in enumerate(results) if r["status"] == "failed"), None)
    if failed is not None:
        pytest.fail(
            f"{name} [{langs[0]}] pasted block {failed + 1} of {len(blocks)} failed:\n{blocks[failed].code[:800]}\n"
            f"---\n{results[failed]['detail']}"
        )
    assert len(results) == len(blocks), f"{name}: the session stopped after {len(results)} blocks:\n{run['stderr']}"
    assert run["returncode"] == 0, run["stderr"]


@needs_site
@pytest.mark.parametrize("lang", LANG_PREFIX)
@pytest.mark.parametrize("name", CHAPTERS)
def test_page_marks_excerpts_outputs_and_test_markers(name: str, lang: str) -> None:
    source = [b for b in parse_blocks(ROOT / "docs" / lang / name) if b.kind != "other" or b.expects_output]
    page = page_blocks(lang, name).blocks
    listings = [b for b in source if b.kind == "listing"]
    excerpts = [b for b in page if b.excerpt]
    assert [b.code.strip("\n") for b in excerpts] == [b.code.strip("\n") for b in listings]
    assert all(b.excerpt == excerpt_of(t)[0] for b, s in zip(excerpts, listings, strict=True) for t in s.listing_targets())

    outputs = [b for b in page if b.output]
    exec_outputs = [b for b in source if b.kind == "exec" and b.options.get("result")]
    assert sum(b.output == "exec" for b in outputs) == len(exec_outputs), "an executed block's output is not marked"
    assert sum(b.output == "expected" for b in outputs) == sum(b.expects_output for b in source)

    marked = [b for b in source if b.is_python and any(m.startswith("pytest.mark.") for m in b.markers)]
    assert [b.code.strip("\n") for b in page if b.mark] == [b.code.strip("\n") for b in marked]
    shown = [b for b in source if b.kind in ("exec", "plain") and (b.kind != "exec" or b.options.get("source"))]
    assert [b.code.strip("\n") for b in pasted(lang, name)] == [b.code.strip("\n") for b in shown]

    # printed text must sit in a labelled output block, not run into the prose as bare text
    assert page_blocks(lang, name).bare_text == []

    html = _page(lang, name).read_text(encoding="utf-8")
    assert html.count('class="la-output-label"') == len(outputs)
    assert html.count(f'<p class="la-output-label">{OUTPUT_LABEL[lang]}</p>') == len(outputs)
    assert html.count('class="la-excerpt-note"') == len(excerpts)
    assert html.count('class="la-mark-note"') == len(marked)


@needs_site
@pytest.mark.parametrize("lang", LANG_PREFIX)
def test_notebook_outputs_are_labelled(lang: str) -> None:
    notebooks = [n for n in english_pages() if n.endswith(".ipynb")]
    assert notebooks, "the book has a notebook page (the chapter 7 lab)"
    for name in notebooks:
        areas = page_blocks(lang, name).output_areas
        assert areas, f"{lang}/{name}: no output on the page (is the notebook executed at build time?)"
        assert all("la-output" in a["class"].split() and "no-copy" in a["class"].split() for a in areas)
        html = _page(lang, name).read_text(encoding="utf-8")
        assert html.count(f'<p class="la-output-label">{OUTPUT_LABEL[lang]}</p>') == len(areas)


def test_every_excerpt_note_imports_the_code_it_shows() -> None:
    targets = sorted({t for name in CHAPTERS for b in parse_blocks(ROOT / "docs" / "en" / name) for t in b.listing_targets()})
    assert targets
    for target in targets:
        path, imports, part_of = excerpt_of(target)
        source_module = importlib.import_module(module_of(target))
        assert Path(inspect.getsourcefile(source_module)).resolve() == (ROOT / path).resolve()
        namespace: dict = {}
        exec(imports, namespace)  # the statement the page tells the reader to run
        namespace.pop("__builtins__")
        if imports.startswith("import "):  # a section that defines no name: its module
            assert importlib.import_module(imports.removeprefix("import ")) is source_module
            continue
        assert namespace, f"{target}: {imports!r} imports nothing"
        for name, obj in namespace.items():  # the very objects the listing's module defines
            assert getattr(source_module, name) is obj, (target, imports)
        if part_of is not None:
            assert list(namespace) == [part_of]


def _block(kind: str, code: str, line: int, markers: tuple[str, ...] = ()) -> CodeBlock:
    options = {"exec": "on", "source": "above", "result": "text"} if kind == "exec" else {}
    return CodeBlock(path="docs/en/99-demo.md", line=line, lang="python", options=options, source=code, code=code, markers=markers)


def _rendered(code: str) -> str:
    return f'<div class="language-python highlight"><pre><span></span><code>{code}\n</code></pre></div>'


def test_marking_wraps_outputs_and_marked_blocks_and_refuses_a_mismatch() -> None:
    blocks = [
        _block("exec", "print(1 &lt; 2)".replace("&lt;", "<"), 1),
        _block("plain", "1 / 0", 5, ('pytest.mark.xfail(reason="shows the error", raises=ZeroDivisionError)',)),
    ]
    output = '<div class="language-text highlight"><pre><span></span><code>True\n</code></pre></div>'
    html = _rendered("print(1 &lt; 2)") + output + "<p>prose</p>" + _rendered("1 / 0")
    marked = mark_chapter(html, blocks, "ru")
    assert '<div class="la-output no-copy" data-la-output="exec"><p class="la-output-label">Вывод</p>' + output in marked
    assert 'data-la-mark="xfail"' in marked and 'data-la-raises="ZeroDivisionError"' in marked
    assert "намеренно вызывает исключение (ZeroDivisionError): shows the error" in marked
    with pytest.raises(BookError, match="2 code blocks rendered, 3 expected"):
        mark_chapter(_rendered("print(1 &lt; 2)") + _rendered("1 / 0"), blocks, "en")
    with pytest.raises(BookError, match="does not show the Markdown block's code"):
        mark_chapter(_rendered("print(2)") + output + _rendered("1 / 0"), blocks, "en")
