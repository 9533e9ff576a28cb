"""Turn a chapter's Markdown into a Jupyter notebook a reader can download and run anywhere.

Prose becomes Markdown cells, every runnable block (``exec`` and plain) becomes a code cell
in page order, and listings from ``src/`` become read-only Markdown code so the notebook
imports the tested package instead of redefining it. Admonitions (``!!!``/``???``) are turned
into bold headings, since Jupyter does not know them.

A reader opens the notebook on Colab or in their own Jupyter, with nothing but the notebook:

* the first code cell installs the book's package from its repository, with the extras the
  chapter's code imports (``stats``, ``hf``), unless the environment already has them;
* a block the page does not run is not run by "Run all" either: a block marked ``skip`` or
  ``skipif`` is commented out with its reason (``# needs internet: ...`` for a download), and
  a block marked ``xfail`` (it shows an error on purpose) is wrapped so that the error is
  printed and the notebook goes on.

:class:`ReaderEnv` checks that promise: it executes notebooks in fresh virtual environments
holding only the package's wheel, the chapter's extras and a kernel.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import tomllib

from .blocks import (
    DEFAULT_LANGUAGE,
    DOCS,
    LANGUAGES,
    MARKER,
    ROOT,
    BookError,
    CodeBlock,
    parse_blocks,
)
from .translations import FRONT_MATTER

CHAPTER_NAME = re.compile(r"^\d\d-[\w-]+\.md$")
"""Chapters are the pages named ``NN-slug.md``; each gets a notebook."""
ADMONITION = re.compile(r'^(?P<indent>\s*)(?:!!!|\?\?\?\+?)\s+(?P<kind>[\w-]+)(?:\s+"(?P<title>[^"]*)")?\s*$')
NOTEBOOK_BRANCH = "notebooks"
"""The branch the pages workflow publishes the executed notebooks to (Colab opens them there)."""
INSTALL_TAG = "install"
"""Cell tag of the install cell (a fresh-environment check replaces its ``%pip`` line)."""
NETWORK = re.compile(r"download|internet|online|network|hugging ?face hub", re.I)
"""A skip reason that matches is a block that needs internet access."""
COLAB = "https://colab.research.google.com/github"

INTRO = {
    "en": "*Generated from a chapter of [LLM Anatomy]({url}). It runs on Colab or in your own "
    "Jupyter: the first code cell installs the book's package `llm-anatomy`{extras} where it is "
    "missing. Cells that the book's page shows without running (they need internet, or show an "
    "error on purpose) are commented out or guarded, with the reason.*",
    "zh": "*本笔记本由《[大模型解剖]({url})》的章节自动生成，可在 Colab 或你自己的 Jupyter 中运行："
    "第一个代码单元会在缺少时安装本书的包 `llm-anatomy`{extras}。网页上只展示、不运行的代码"
    "（需要联网，或有意展示错误）在这里被注释掉或加了保护，并注明原因。*",
    "ru": "*Блокнот сгенерирован из главы книги «[Анатомия LLM]({url})». Он работает в Colab и в "
    "вашем Jupyter: первая ячейка кода устанавливает пакет книги `llm-anatomy`{extras}, если его "
    "нет. Ячейки, которые страница книги показывает, но не выполняет (им нужен интернет или они "
    "намеренно показывают ошибку), закомментированы или защищены, с указанием причины.*",
}
EXTRAS_NOTE = {
    "en": " with the extras this chapter needs (`{extras}`)",
    "zh": "（连同本章需要的附加依赖 `{extras}`）",
    "ru": " с дополнительными зависимостями этой главы (`{extras}`)",
}


# -- the project: repository and extras, read from pyproject.toml -----------------------


@functools.cache
def _project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def repository_url() -> str:
    """The repository of the book (``project.urls.Source`` of ``pyproject.toml``)."""
    return _project()["urls"]["Source"].rstrip("/")


def _requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement)[0]


def chapter_extras_declared() -> dict[str, list[str]]:
    """The extras that chapters may need: those that the ``all`` extra bundles, with their requirements."""
    extras = _project()["optional-dependencies"]
    bundled = [m for req in extras.get("all", []) if (m := re.search(r"\[([^\]]*)\]", req))]
    names = [n.strip() for m in bundled for n in m[1].split(",")]
    return {name: extras[name] for name in names}


@functools.cache
def _extra_of_module() -> dict[str, str]:
    """Import name -> extra, for the packages of the chapter extras (``statsmodels`` -> ``stats``)."""
    return {
        _requirement_name(req).lower().replace("-", "_"): extra
        for extra, reqs in chapter_extras_declared().items()
        for req in reqs
    }


@functools.cache
def _extra_of_package_name() -> dict[str, str]:
    """Functions, classes and modules of ``llm_anatomy`` that import an extra's package.

    A function of the package that imports ``huggingface_hub`` inside its body
    (``from_pretrained_gpt2``) needs the ``hf`` extra as much as a block that imports it.
    """
    by_module = _extra_of_module()
    found: dict[str, str] = {}
    for file in sorted((ROOT / "src" / "llm_anatomy").rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        module = ".".join(file.relative_to(ROOT / "src").with_suffix("").parts).removesuffix(".__init__")
        for node in tree.body:
            for extra in _imported_extras(node, by_module):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    found[node.name] = extra
                else:  # imported at module level: anything from this module needs it
                    found[module] = extra
    return found


def _imported_extras(node: ast.AST, by_module: dict[str, str]) -> set[str]:
    extras = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            extras |= {by_module[a.name.split(".")[0]] for a in sub.names if a.name.split(".")[0] in by_module}
        elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
            if (top := sub.module.split(".")[0]) in by_module:
                extras.add(by_module[top])
    return extras


def chapter_extras(blocks: list[CodeBlock]) -> tuple[str, ...]:
    """The extras a chapter's code needs, from what its Python blocks import (listings excluded).

    Raises:
        BookError: if a block is not valid Python (the notebook could not run it either).
    """
    by_module, by_name = _extra_of_module(), _extra_of_package_name()
    extras: set[str] = set()
    for block in blocks:
        if block.kind not in ("exec", "plain"):
            continue
        try:
            tree = ast.parse(block.code)
        except SyntaxError as err:
            raise BookError(f"{block.label()}: not valid Python: {err}") from err
        extras |= _imported_extras(tree, by_module)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llm_anatomy"):
                extras |= {by_name[a.name] for a in node.names if a.name in by_name}
                if node.module in by_name:
                    extras.add(by_name[node.module])
            elif isinstance(node, ast.Import):
                extras |= {by_name[a.name] for a in node.names if a.name in by_name}
    return tuple(sorted(extras))


# -- cells ------------------------------------------------------------------------------


def install_cell_source(extras: tuple[str, ...]) -> str:
    """The first code cell: install the package and the chapter's extras where they are missing."""
    spec = f"llm-anatomy[{','.join(extras)}]" if extras else "llm-anatomy"
    has = "it and this chapter's extras" if extras else "it"
    modules = ["llm_anatomy", *sorted(m for m, e in _extra_of_module().items() if e in extras)]
    return (
        f"# Installs the book's package where it is missing (Colab, a new Jupyter environment);\n"
        f"# an environment that already has {has} skips this.\n"
        f'# llm-anatomy is not on PyPI yet; once released, this becomes: %pip install "{spec}"\n'
        f"# torch: Colab already has a CUDA build. Elsewhere pip picks the default build of your\n"
        f"# platform, which on Linux is the CUDA build (several GB); for the CPU-only build, run first:\n"
        f"#   %pip install torch --index-url https://download.pytorch.org/whl/cpu\n"
        f"import importlib.util\n\n"
        f"if any(importlib.util.find_spec(name) is None for name in {tuple(modules)!r}):\n"
        f'    %pip install "{spec} @ git+{repository_url()}"'
    )


@dataclass(frozen=True)
class _Marks:
    """What a block's test markers say about running it."""

    skip: str | None = None  # the reason the page does not run it
    condition: str | None = None  # skipif's condition, as written
    raises: str | None = None  # xfail: the exception it shows on purpose
    reason: str = ""


def _marks(block: CodeBlock) -> _Marks:
    for marker in block.markers:
        if not marker.startswith("pytest.mark."):
            continue
        try:
            call = ast.parse(marker, mode="eval").body
        except SyntaxError as err:
            raise BookError(f"{block.label()}: unreadable marker {marker!r}") from err
        if not isinstance(call, ast.Call):
            call = ast.Call(func=call, args=[], keywords=[])
        kind = ast.unparse(call.func).removeprefix("pytest.mark.")
        kw = {k.arg: k.value for k in call.keywords}
        reason = kw["reason"].value if isinstance(kw.get("reason"), ast.Constant) else ""
        if kind == "skip":
            return _Marks(skip=reason or "skipped on the page", reason=reason)
        if kind == "skipif":
            condition = ast.unparse(call.args[0]) if call.args else kw.get("condition") and ast.unparse(kw["condition"])
            return _Marks(skip=reason or f"skipped on the page where {condition}", condition=condition, reason=reason)
        if kind == "xfail":
            raises = ast.unparse(kw["raises"]) if "raises" in kw else "Exception"
            return _Marks(raises=raises, reason=reason)
        raise BookError(f"{block.label()}: no notebook treatment for marker {marker!r}")
    return _Marks()


def _comment_out(code: str) -> str:
    return "\n".join(f"# {line}" if line.strip() else "#" for line in code.split("\n"))


def code_cell(block: CodeBlock) -> nbformat.NotebookNode:
    """The notebook cell of one runnable block, treated as the page treats it."""
    marks = _marks(block)
    if marks.skip is not None:
        network = bool(NETWORK.search(marks.skip))
        head = f"# needs internet: {marks.skip}" if network else f"# not run on the book's page: {marks.skip}"
        if marks.condition:
            head += f"\n# (the page skips it when {marks.condition})"
        source = (
            f"{head}\n# To run it, uncomment the lines below (select them and press Ctrl+/).\n"
            f"{_comment_out(block.code)}"
        )
        return nbformat.v4.new_code_cell(source, metadata={"tags": ["needs-internet" if network else "skipped"]})
    if marks.raises is not None:
        why = f" ({marks.reason})" if marks.reason else ""
        body = "\n".join(f"    {line}" if line.strip() else "" for line in block.code.split("\n"))
        source = (
            f"# This cell fails on purpose{why}: it raises {marks.raises}, which is caught and\n"
            f'# printed so that "Run all" goes on.\n'
            f"import traceback\n\ntry:\n{body}\nexcept {marks.raises}:\n    traceback.print_exc()"
        )
        return nbformat.v4.new_code_cell(source, metadata={"tags": ["shows-error"]})
    return nbformat.v4.new_code_cell(block.code)


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


def _language_of(path: Path) -> str:
    lang = path.relative_to(DOCS).parts[0] if path.is_relative_to(DOCS) else None
    if lang not in LANGUAGES:
        raise BookError(f"{path} is not in a language folder of docs/ ({', '.join(LANGUAGES)})")
    return lang


def chapter_notebook(path: Path | str) -> nbformat.NotebookNode:
    """Build the notebook of one chapter page.

    Raises:
        BookError: if the page is not inside a language folder of ``docs/``, or a block
            carries a marker the notebook cannot honour.
    """
    path = Path(path).resolve()
    lang = _language_of(path)
    text = path.read_text(encoding="utf-8")
    offset = 0
    if m := FRONT_MATTER.match(text):
        offset = m.group(0).count("\n")
    lines = text.split("\n")
    blocks = parse_blocks(path)
    extras = chapter_extras(blocks)
    note = EXTRAS_NOTE[lang].format(extras=",".join(extras)) if extras else ""
    cells = [
        nbformat.v4.new_markdown_cell(INTRO[lang].format(url=repository_url(), extras=note)),
        nbformat.v4.new_code_cell(install_cell_source(extras), metadata={"tags": [INSTALL_TAG]}),
    ]
    if lang != DEFAULT_LANGUAGE:
        cells.append(nbformat.v4.new_code_cell(f'import os\nos.environ["LLM_ANATOMY_LANG"] = "{lang}"  # figure labels'))
    prose_start, open_admonitions = offset, []
    for block in blocks:
        start, end = block.line - 1, block.line + block.source.count("\n") + 1
        if block.kind in ("exec", "plain"):
            cells.append(nbformat.v4.new_markdown_cell(_prose_to_markdown(lines[prose_start:start], open_admonitions)))
            cells.append(code_cell(block))
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
        llm_anatomy={"chapter": path.name, "language": lang, "extras": list(extras)},
    )
    return nb


def notebook_name(page: Path | str, lang: str) -> str:
    """The notebook's file name: one per language, so downloads do not collide (``13-gpt.zh.ipynb``)."""
    if lang not in LANGUAGES:
        raise BookError(f"unknown language {lang!r}: the book is written in {', '.join(LANGUAGES)}")
    return f"{Path(page).stem}.{lang}.ipynb"


def colab_url(name: str) -> str:
    """Where Colab opens a published notebook: the ``notebooks`` branch of the repository."""
    owner_repo = repository_url().removeprefix("https://github.com/")
    return f"{COLAB}/{owner_repo}/blob/{NOTEBOOK_BRANCH}/{name}"


def site_path(page: Path | str, lang: str) -> str:
    """The notebook's path in the built site: next to the chapter's page (directory URLs)."""
    prefix = "" if lang == DEFAULT_LANGUAGE else f"{lang}/"
    return f"{prefix}{Path(page).stem}/{notebook_name(page, lang)}"


def write_notebook(path: Path | str, dest: Path | str) -> Path:
    """Write the notebook of ``path`` to ``dest`` and return ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(chapter_notebook(path), str(dest))
    return dest


# -- running notebooks as a reader would ------------------------------------------------


def offline(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy whose install cell raises instead of installing, for an environment that has the package.

    The guard still runs: if the environment lacks the package or an extra the chapter needs,
    the cell fails, naming what it would have installed.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if INSTALL_TAG in cell.get("metadata", {}).get("tags", []):
            cell.source = re.sub(
                r"^(\s*)%pip install (.*)$",
                lambda m: f"{m[1]}raise RuntimeError({'the reader environment lacks what this cell installs: ' + m[2]!r})",
                cell.source,
                flags=re.M,
            )
    return nb


def _reader_environ() -> dict[str, str]:
    """The caller's environment variables without those that would leak this tree into a reader's.

    ``PYTHONPATH`` would import the working tree instead of the installed wheel (and make pip
    see ``src/*.egg-info`` as an installed ``llm-anatomy``); the notebook sets the language.
    """
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "LLM_ANATOMY_LANG")}


def _run(*args: str | Path) -> str:
    """Run a command in the reader's environment variables; its output is shown only if it fails.

    Raises:
        BookError: if the command fails.
    """
    done = subprocess.run([str(a) for a in args], env=_reader_environ(), capture_output=True, text=True)
    if done.returncode:
        raise BookError(f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def build_wheel(dest: Path) -> Path:
    """Build the package's wheel from a clean copy of the tree (no ``egg-info`` or ``build/`` left here).

    Raises:
        BookError: if the build fails.
    """
    source = dest / "source"
    shutil.copytree(ROOT / "src" / "llm_anatomy", source / "src" / "llm_anatomy",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copyfile(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dest, source)
    return next(dest.glob("llm_anatomy-*.whl"))


class ReaderEnv:
    """Virtual environments with only what a reader installs, to execute notebooks in.

    One core environment holds the package's wheel (built from the working tree, not
    editable) with its dependencies, a pinned torch and ``ipykernel``; each set of extras gets
    its own environment layered on the core one (a ``.pth`` file adds the core's
    site-packages) with only that extra's packages, so a chapter runs with exactly what its
    install cell asks for. The environments are kept between runs and rebuilt when
    ``pyproject.toml`` or the torch pin changes; the wheel is reinstalled on every
    :meth:`prepare`.
    """

    def __init__(self, root: Path | str, torch: str = "torch==2.13.0", base_python: str = sys.executable) -> None:
        self.root = Path(root)
        self.torch = torch
        self.base_python = base_python
        self.key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + torch.encode()).hexdigest()
        self.timings: dict[str, float] = {}

    @staticmethod
    def _python(env: Path) -> Path:
        return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def _fresh(self, env: Path) -> bool:
        stamp = env / ".installed"
        return stamp.exists() and stamp.read_text() == self.key

    def _create(self, env: Path) -> Path:
        if env.exists():
            shutil.rmtree(env)
        _run(self.base_python, "-m", "venv", env)
        python = self._python(env)
        _run(python, "-m", "pip", "install", "-q", "--upgrade", "pip")
        return python

    def prepare(self) -> None:
        """Create what is missing and install the working tree's wheel into the core environment."""
        start = time.perf_counter()
        core = self.root / "core"
        with tempfile.TemporaryDirectory() as tmp:
            python = self._python(core)
            wheel = build_wheel(Path(tmp))
            if not self._fresh(core):
                python = self._create(core)
                _run(python, "-m", "pip", "install", "-q", self.torch, wheel, "ipykernel")
                (core / ".installed").write_text(self.key)
            else:
                _run(python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel)
        self.timings["prepare"] = time.perf_counter() - start

    def python(self, extras: tuple[str, ...] = ()) -> Path:
        """The interpreter of the environment with exactly ``extras``, created on first use."""
        core = self.root / "core"
        if not extras:
            return self._python(core)
        env = self.root / "+".join(sorted(extras))
        if not self._fresh(env):
            start = time.perf_counter()
            python = self._create(env)
            purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
            site, own = _run(self._python(core), "-c", purelib).strip(), _run(python, "-c", purelib).strip()
            Path(own, "llm_anatomy_reader_core.pth").write_text(f"import site; site.addsitedir({site!r})\n")
            declared = chapter_extras_declared()
            _run(python, "-m", "pip", "install", "-q", *(r for e in extras for r in declared[e]))
            (env / ".installed").write_text(self.key)
            self.timings["+".join(extras)] = time.perf_counter() - start
        return self._python(env)

    def execute(self, nb: nbformat.NotebookNode, cwd: Path | str, timeout: int = 900) -> nbformat.NotebookNode:
        """Execute ``offline(nb)`` in the environment of its extras; return it with outputs.

        The kernel gets the caller's environment variables without ``PYTHONPATH`` and
        ``LLM_ANATOMY_LANG`` (:func:`_reader_environ`).

        Raises:
            nbclient.exceptions.CellExecutionError: if a cell raises.
        """
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient

        python = self.python(tuple(nb.metadata.get("llm_anatomy", {}).get("extras", ())))
        kernels = python.parent.parent / "share" / "jupyter" / "kernels"
        spec = kernels / "llm-anatomy-reader"
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "llm-anatomy reader", "language": "python",
        }))
        km = KernelManager(kernel_name="llm-anatomy-reader",
                           kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False))
        run = offline(nb)
        NotebookClient(run, km=km, timeout=timeout, resources={"metadata": {"path": str(cwd)}}).execute(env=_reader_environ())
        for cell, done in zip(nb.cells, run.cells, strict=True):  # keep the reader's install cell
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = done.outputs, done.execution_count
                cell.metadata = done.metadata  # the timings nbclient records, and the cell's tags
        return nb
