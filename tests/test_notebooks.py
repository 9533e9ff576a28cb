"""The chapters' generated notebooks: what a reader downloads, opens on Colab, and runs.

Every chapter × language notebook starts with an install cell with the chapter's extras,
treats skipped, xfailed and network blocks as the page does, and names no path of this
repository. Each chapter's notebook (one language per chapter, rotating) is executed top to
bottom in a fresh environment that holds only what the reader's install cell installs:
the package's wheel built from this tree, the chapter's extras, torch, a kernel.
"""

from __future__ import annotations

import ast
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from llm_anatomy_book.blocks import (
    DOCS,
    LANGUAGES,
    ROOT,
    BookError,
    CodeBlock,
    chapter_files,
    parse_blocks,
)
from llm_anatomy_book.notebooks import (
    CHAPTER_NAME,
    INSTALL_TAG,
    ReaderEnv,
    chapter_notebook,
    code_cell,
    colab_url,
    notebook_name,
    offline,
    site_path,
)

CHAPTERS = [p.name for p in chapter_files("en") if CHAPTER_NAME.match(p.name)]
PAGES = [(lang, name) for name in CHAPTERS for lang in LANGUAGES]
EXTRAS = {  # what each chapter imports beyond the core (statsmodels; transformers, huggingface_hub)
    "03-linear-regression.md": ("stats",),
    "04-logistic-regression.md": ("stats",),
    "05-econometrics.md": ("stats",),
    "13-gpt.md": ("hf",),
    "14-pretraining.md": ("hf",),
}
REPOSITORY_PATHS = re.compile(r"\.\./shared|SHARED_GPT2_RANKS|bench/results|\"bench\"\s*/\s*\"results\"|parents\[\d\]|pip install -e")
SOURCE = "https://github.com/llm-anatomy/llm-anatomy"  # project.urls.Source of pyproject.toml


def _nb(lang: str, name: str) -> nbformat.NotebookNode:
    return chapter_notebook(DOCS / lang / name)


@pytest.mark.parametrize(("lang", "name"), PAGES)
def test_install_cell_comes_first_with_the_chapter_extras(lang: str, name: str) -> None:
    nb = _nb(lang, name)
    nbformat.validate(nb)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert INSTALL_TAG in first.metadata.tags
    extras = EXTRAS.get(name, ())
    spec = f"llm-anatomy[{','.join(extras)}]" if extras else "llm-anatomy"
    assert f'    %pip install "{spec} @ git+{SOURCE}"' in first.source.split("\n")
    assert f'once released, this becomes: %pip install "{spec}"' in first.source
    assert "CUDA" in first.source and "--index-url https://download.pytorch.org/whl/cpu" in first.source
    # the guard: installed only where the package or one of the extra's modules is missing
    guard = next(line for line in first.source.split("\n") if line.startswith("if any("))
    names = ast.literal_eval(re.search(r"in (\(.*\))\):", guard)[1])
    wanted = {"llm_anatomy"} | {"stats": {"statsmodels", "pandas"}, "hf": {"transformers", "safetensors", "huggingface_hub"}}.get(
        extras[0] if extras else "", set())
    assert set(names) == wanted
    assert nb.metadata.llm_anatomy.extras == list(extras)


def test_install_cell_is_skipped_where_the_package_is_installed() -> None:
    from IPython.core.inputtransformer2 import TransformerManager

    source = next(c.source for c in _nb("en", "03-linear-regression.md").cells if c.cell_type == "code")
    python = TransformerManager().transform_cell(source)  # %pip inside the if: a valid IPython cell
    installs = []
    exec(compile(python, "<install>", "exec"), {"get_ipython": lambda: type("IP", (), {"run_line_magic": lambda *a: installs.append(a)})()})
    assert installs == []  # this venv has llm_anatomy, statsmodels and pandas
    missing = python.replace("'pandas'", "'a_module_that_is_not_installed'")
    exec(compile(missing, "<install>", "exec"), {"get_ipython": lambda: type("IP", (), {"run_line_magic": lambda *a: installs.append(a)})()})
    assert installs and installs[0][1:] == ("pip", f'install "llm-anatomy[stats] @ git+{SOURCE}"')


def test_offline_copy_raises_instead_of_installing() -> None:
    nb = _nb("en", "13-gpt.md")
    run = offline(nb)
    def live(source: str) -> list[str]:
        return [line.strip() for line in source.split("\n") if not line.lstrip().startswith("#")]

    assert any(line.startswith("%pip install") for line in live(nb.cells[1].source))
    assert not any("%pip" in line for line in live(run.cells[1].source))
    assert "    raise RuntimeError('the reader environment lacks" in run.cells[1].source
    assert run.cells[2:] == nb.cells[2:]


@pytest.mark.parametrize(("lang", "name"), PAGES)
def test_marked_blocks_are_treated_as_the_page_treats_them(lang: str, name: str) -> None:
    blocks = [b for b in parse_blocks(DOCS / lang / name) if b.kind in ("exec", "plain")]
    cells = [c for c in _nb(lang, name).cells if c.cell_type == "code" and INSTALL_TAG not in c.metadata.get("tags", [])]
    if lang != "en":
        assert cells.pop(0).source.startswith('import os\nos.environ["LLM_ANATOMY_LANG"]')
    assert len(cells) == len(blocks)
    for block, cell in zip(blocks, cells, strict=True):
        marks = [m for m in block.markers if m.startswith("pytest.mark.")]
        reason = re.search(r'reason="([^"]*)"', marks[0])[1] if marks else None
        if not marks:
            assert cell.source == block.code
        elif "xfail" in marks[0]:
            raises = re.search(r"raises=(\w+)", marks[0])[1]
            assert cell.metadata.tags == ["shows-error"]
            assert f"\nexcept {raises}:\n    traceback.print_exc()" in cell.source
            assert all(f"    {line}" in cell.source for line in block.code.split("\n") if line.strip())
        else:  # skip, skipif: commented out with the reason, nothing left to run
            head = "# needs internet: " if re.search("download|internet", reason) else "# not run on the book's page: "
            assert cell.source.startswith(head + reason)
            assert all(line.startswith("#") for line in cell.source.split("\n"))
            assert ast.parse(cell.source).body == []
            assert all(f"# {line}" in cell.source for line in block.code.split("\n") if line.strip())


def test_network_chapters_comment_out_their_downloads() -> None:
    for name in ("11-text.md", "13-gpt.md", "14-pretraining.md"):
        cells = [c for c in _nb("en", name).cells if c.cell_type == "code"]
        assert any("needs-internet" in c.metadata.get("tags", []) for c in cells), f"{name}: no cell needs internet"
        live = [line for c in cells for line in c.source.split("\n") if not line.lstrip().startswith("#")]
        assert not [line for line in live if re.search(r"from_pretrained\w*\(|get_encoding\(", line)]


def _block(code: str, *markers: str) -> CodeBlock:
    return CodeBlock(path="docs/en/x.md", line=3, lang="python", options={}, source=code, code=code, markers=markers)


def test_code_cell_for_each_marker() -> None:
    assert code_cell(_block("x = 1")).source == "x = 1"
    skipped = code_cell(_block("x = 1\n\ny = 2", "pytest.mark.skip"))
    assert skipped.source.endswith("# x = 1\n#\n# y = 2") and skipped.metadata.tags == ["skipped"]
    cuda = code_cell(_block("x.cuda()", 'pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")'))
    assert cuda.source.startswith("# not run on the book's page: needs CUDA\n# (the page skips it when not torch.cuda.is_available())")
    error = code_cell(_block("for i in range(2):\n    1 / 0", "pytest.mark.xfail"))
    assert "try:\n    for i in range(2):\n        1 / 0\nexcept Exception:" in error.source
    exec(error.source, {})  # prints the ZeroDivisionError's traceback and does not raise
    with pytest.raises(BookError, match="no notebook treatment"):
        code_cell(_block("x = 1", "pytest.mark.parametrize('a', [1])"))


@pytest.mark.parametrize(
    ("lang", "name"), PAGES)
def test_no_repository_path_in_the_notebook(lang: str, name: str) -> None:
    nb = _nb(lang, name)
    for cell in [nb.cells[0], *(c for c in nb.cells if c.cell_type == "code")]:  # the intro, and all code
        text = cell.source
        assert not REPOSITORY_PATHS.search(text), f"{name} [{lang}]: {REPOSITORY_PATHS.search(text)[0]!r} in\n{text[:300]}"


def test_notebook_names_are_per_language() -> None:
    assert notebook_name("13-gpt.md", "zh") == "13-gpt.zh.ipynb"
    assert site_path("13-gpt.md", "en") == "13-gpt/13-gpt.en.ipynb"
    assert site_path("13-gpt.md", "ru") == "ru/13-gpt/13-gpt.ru.ipynb"
    assert len({notebook_name(name, lang) for lang, name in PAGES}) == len(PAGES)
    assert colab_url("13-gpt.ru.ipynb") == (
        "https://colab.research.google.com/github/llm-anatomy/llm-anatomy/blob/notebooks/13-gpt.ru.ipynb")
    with pytest.raises(BookError, match="unknown language 'fr'"):
        notebook_name("13-gpt.md", "fr")


def test_chapter_pages_link_their_notebook_and_colab() -> None:
    site = ROOT / "site"
    if not (site / "index.html").exists():
        if os.environ.get("LLM_ANATOMY_REQUIRE_SITE"):
            raise RuntimeError("site/ is not built")
        pytest.skip("site/ is not built: run `nox -s docs` first")
    for lang, name in PAGES:
        path = site / site_path(name, lang)
        html = (path.parent / "index.html").read_text(encoding="utf-8")
        file = notebook_name(name, lang)
        assert f'<a href="{file}" download>' in html, f"{lang} {name}: no download link"
        assert f'href="{colab_url(file)}"' in html, f"{lang} {name}: no Colab link"
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert INSTALL_TAG in nb["cells"][1]["metadata"]["tags"]
        assert nb["metadata"]["llm_anatomy"]["language"] == lang


# -- a reader's fresh environment -------------------------------------------------------


@pytest.fixture(scope="session")
def reader() -> ReaderEnv:
    env = ReaderEnv(ROOT / ".nox" / "reader", torch=os.environ.get("LLM_ANATOMY_TORCH", "torch==2.13.0"))
    env.prepare()
    return env


def _executed() -> list:
    # one language per chapter, rotating, so that every language is executed
    return [pytest.param(LANGUAGES[i % len(LANGUAGES)], name, id=f"{name}-{LANGUAGES[i % len(LANGUAGES)]}")
            for i, name in enumerate(CHAPTERS)]


@pytest.mark.parametrize(("lang", "name"), _executed())
def test_notebook_runs_in_a_fresh_reader_environment(reader: ReaderEnv, lang: str, name: str, tmp_path: Path) -> None:
    nb = _nb(lang, name)
    install = nb.cells[1].source
    start = time.perf_counter()
    reader.execute(nb, tmp_path)
    print(f"{notebook_name(name, lang)} executed in {time.perf_counter() - start:.0f} s")
    assert nb.cells[1].source == install and not nb.cells[1].outputs  # the reader's cell is kept; it did nothing
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a cell was not executed"
    assert any(c.outputs for c in code), "the notebook printed nothing"
    for cell in code:
        if "shows-error" in cell.metadata.get("tags", []):
            raises = re.search(r"except (\w+):", cell.source)[1]
            shown = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert f"{raises}:" in shown, f"the deliberate {raises} is not shown"
