"""The machinery that checks the book: block parser, runner, notebooks, glossary, figures, devices."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
import torch

from llm_anatomy.device import get_device
from llm_anatomy.plot import show, to_svg, tr
from llm_anatomy_book.blocks import (
    DOCS,
    BookError,
    chapter_files,
    expand_snippets,
    module_of,
    parse_blocks,
)
from llm_anatomy_book.glossary import load as load_glossary
from llm_anatomy_book.glossary import markdown_table
from llm_anatomy_book.notebooks import chapter_notebook
from llm_anatomy_book.runner import PageRunner

PAGE = '''# A page

<!--pytest.mark.skip(reason="demo")-->
```python
print("plain")
```

```python exec="on" session="s" source="above" result="text"
x = 41
```

```python exec="on" session="s"
print(x + 1)
```

```python exec="on"
print("x" in globals())
```

```python title="src/llm_anatomy/device.py"
--8<-- "src/llm_anatomy/device.py:nonexistent"
```

??? question "Exercise"
    Text.

    ```python
    y = x * 2
    ```

```text
not python
```
'''


def _write(tmp_path, text: str):
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_parser_kinds_options_markers_and_indentation(tmp_path) -> None:
    with pytest.raises(BookError, match="nonexistent"):
        parse_blocks(_write(tmp_path, PAGE))
    blocks = parse_blocks(_write(tmp_path, PAGE.replace(':nonexistent"', '"')))
    assert [b.kind for b in blocks] == ["plain", "exec", "exec", "exec", "listing", "plain", "other"]
    assert blocks[0].markers == ('pytest.mark.skip(reason="demo")',)
    assert blocks[1].options == {"exec": "on", "session": "s", "source": "above", "result": "text"}
    assert blocks[5].source == "y = x * 2"  # dedented out of the admonition
    assert "def get_device" in blocks[4].code and "--8<--" not in blocks[4].code


def test_runner_follows_markdown_exec_sessions(tmp_path) -> None:
    blocks = parse_blocks(_write(tmp_path, PAGE.replace(':nonexistent"', '"')))
    runner = PageRunner(blocks)
    assert runner.run(blocks[1]) == ""
    assert runner.run(blocks[2]) == "42\n"  # same session sees x
    assert runner.run(blocks[3]) == "False\n"  # no session: a fresh namespace
    runner.run(blocks[4])  # a listing runs in its module's globals
    runner.run(blocks[5])  # a plain block runs in the page's session
    assert runner.sessions["s"]["y"] == 82


def test_runner_refuses_output_that_markdown_exec_would_leave_off_the_page(tmp_path) -> None:
    page = (
        '```python exec="on" session="s" result="text"\nprint("on the page")\n```\n\n'
        '```python exec="on" session="s" result="text"\nimport sys\nsys.stdout.write("in the log")\n```\n\n'
        '```python exec="on" session="s" result="text"\nimport builtins\nbuiltins.print("in the log")\n```\n\n'
        '```python\nprint("a notebook shows this")\n```\n'
    )
    blocks = parse_blocks(_write(tmp_path, page))
    assert PageRunner(blocks).run(blocks[0]) == "on the page\n"
    for block in blocks[1:3]:
        with pytest.raises(BookError, match="outside the block's own print"):
            PageRunner(blocks).run(block)
    assert PageRunner(blocks).run(blocks[3]) == "a notebook shows this\n"  # a plain block: Jupyter shows stdout


def test_runner_stops_a_page_after_a_failure(tmp_path) -> None:
    blocks = parse_blocks(_write(tmp_path, "```python\n1 / 0\n```\n\n```python\nprint(1)\n```\n"))
    runner = PageRunner(blocks)
    with pytest.raises(ZeroDivisionError):
        runner.run(blocks[0])
    with pytest.raises(BookError, match="earlier block"):
        runner.run(blocks[1])


def test_runner_refuses_two_sessions_on_a_page(tmp_path) -> None:
    text = '```python exec="on" session="a"\n1\n```\n\n```python exec="on" session="b"\n2\n```\n'
    with pytest.raises(BookError, match="one markdown-exec session per page"):
        PageRunner(parse_blocks(_write(tmp_path, text)))


def test_bad_input_is_named() -> None:
    with pytest.raises(BookError, match="never closed"):
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            parse_blocks(_write(Path(d), "```python\nprint(1)\n"))
    with pytest.raises(BookError, match="unknown language 'fr'"):
        chapter_files("fr")
    with pytest.raises(BookError, match="not point at a Python file"):
        module_of("docs/en/index.md:x")
    with pytest.raises(BookError, match="missing_section"):
        expand_snippets('--8<-- "src/llm_anatomy/device.py:missing_section"')
    assert module_of("src/llm_anatomy/autograd/__init__.py:x") == "llm_anatomy.autograd"


def _chapter_07(lang: str = "en"):
    return DOCS / lang / "07-autograd.md"


def test_generated_notebook_has_every_runnable_block_in_order() -> None:
    blocks = [b for b in parse_blocks(_chapter_07()) if b.kind in ("exec", "plain")]
    nb = chapter_notebook(_chapter_07())
    nbformat.validate(nb)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "%pip install" in code[0]  # the install cell (tests/test_notebooks.py)
    assert code[1:] == [b.code for b in blocks]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "--8<--" not in markdown and "<!--pytest" not in markdown
    assert not re.search(r"^\s*(!!!|\?\?\?)", markdown, re.M), "admonitions must be flattened"


def test_generated_zh_notebook_labels_figures_in_chinese() -> None:
    nb = chapter_notebook(_chapter_07("zh"))
    assert 'os.environ["LLM_ANATOMY_LANG"] = "zh"' in nb.cells[2].source  # after the intro and the install cell


@pytest.mark.parametrize("notebook", sorted((DOCS / "en").rglob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_pages_execute(notebook, tmp_path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(str(notebook), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()


def test_glossary_has_every_language_once() -> None:
    terms = load_glossary()
    assert len(terms) >= 20
    table = markdown_table("ru")
    assert table.count("\n") == len(terms) + 1 and "Глава" in table
    with pytest.raises(BookError, match="unknown language"):
        markdown_table("fr")


def test_figures_are_localised_and_reproducible(monkeypatch, capsys) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.setenv("LLM_ANATOMY_LANG", "zh")
    assert tr("loss", "损失", "потери") == "损失"
    fig, ax = plt.subplots()
    ax.set_title(tr("loss", "损失", "потери"))
    svg = to_svg(fig)
    assert svg == to_svg(fig), "two renders of one figure must be byte-identical"
    assert "损失" in svg and "<dc:date>" not in svg
    show(fig)
    printed = capsys.readouterr().out
    assert printed.startswith('<figure class="la-figure">') and "<svg" in printed
    monkeypatch.setenv("LLM_ANATOMY_LANG", "fr")
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        tr("a", "b", "c")


def test_device_selection() -> None:
    assert get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu9'"):
        get_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            get_device("cuda")


def test_every_notebook_page_has_a_kernel() -> None:
    notebooks = sorted(DOCS.rglob("*.ipynb"))
    assert notebooks, "no notebook page found: the loop below would check nothing"
    for nb in notebooks:
        assert json.loads(nb.read_text(encoding="utf-8"))["metadata"]["kernelspec"]["language"] == "python"


def test_no_executed_block_is_expected_to_fail() -> None:
    # markdown-exec turns an exception into a build warning, so --strict fails: an executed
    # block that shows an error must catch it and print it.
    for lang_page in sorted(DOCS.glob("*/*.md")):
        for block in parse_blocks(lang_page):
            if block.kind == "exec":
                assert not any("xfail" in m for m in block.markers), f"{block.label()}: xfail on an executed block"


def test_build_times_are_recorded_per_page_and_language(tmp_path):
    from llm_anatomy_book import timing

    timing.start("en/01-introduction.md", "en")
    timing.stop("en/01-introduction.md", "en")
    timing.stop("never-started.md", "en")  # a page whose start was not seen is not invented
    timing.write(tmp_path / "times.json")
    times = json.loads((tmp_path / "times.json").read_text())
    assert set(times["en/01-introduction.md"]) == {"en"} and times["en/01-introduction.md"]["en"] >= 0
    assert "never-started.md" not in times
    lines = timing.table({"a.md": {"en": 1.0, "zh": 2.0}, "b.md": {"en": 4.0}}).splitlines()
    assert lines[1].split() == ["b.md", "4.0", "0.0", "4.0"]  # slowest first
    assert lines[-1].split() == ["total", "5.0", "2.0", "7.0"]
