"""The test markers of CONTRIBUTING.md really drive the verification of docs blocks.

A throwaway docs tree is verified by the real ``test_docs_blocks.py`` in a separate pytest
process, and the outcomes are counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_anatomy_book.blocks import BookError, parse_blocks
from llm_anatomy_book.runner import PageRunner

pytest_plugins = ["pytester"]

PAGE = '''# Demo

```python
print("hello")
```

<!--pytest-codeblocks:expected-output-->
```text
hello
```

```python
print("world")
```

<!--pytest-codeblocks:expected-output-->
```text
something else
```

<!--pytest.mark.skip(reason="shown, not run")-->
```python
raise SystemExit("a skipped block must not run")
```

<!--pytest.mark.skipif(sys.version_info > (3,), reason="always skipped here")-->
```python
raise SystemExit("must not run either")
```

<!--pytest.mark.xfail(raises=ValueError, strict=True, reason="shows the error")-->
```python
raise ValueError("expected")
```

```python
print("still runs after an xfail")
```

```python
1 / 0
```

```python
print("not reached: an earlier block failed")
```
'''


def test_markers_skip_xfail_and_expected_output(pytester) -> None:
    docs = pytester.path / "docs"
    (docs / "en").mkdir(parents=True)
    (docs / "en" / "01-demo.md").write_text(PAGE, encoding="utf-8")
    pytester.makeconftest(f"import pathlib, llm_anatomy_book.blocks as b\nb.DOCS = pathlib.Path({str(docs)!r})\n")
    source = Path(__file__).with_name("test_docs_blocks.py").read_text(encoding="utf-8")
    pytester.makepyfile(test_blocks=source)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    # passed: hello, its output, world, the block after the xfail;
    # failed: the wrong expected output, 1 / 0, and the block after it
    result.assert_outcomes(passed=4, failed=3, skipped=2, xfailed=1)
    result.stdout.fnmatch_lines(["*ZeroDivisionError*", "*earlier block of this page failed*"])


SESSION_PAGE = '''# Blocks that depend on the blocks above them

```python exec="on" session="demo" result="text"
x = 20
```

```python exec="on" session="demo" result="text"
print(x + 1)
```

<!--pytest-codeblocks:expected-output-->
```text
21
```

<!--pytest.mark.skip(reason="shown, not run")-->
```python
x = -1000
```

```python exec="on" result="text"
print("no session: alone", "x" in globals())
```

<!--pytest.mark.xfail(raises=ValueError, strict=True, reason="shows the error")-->
```python
x = x * 2
raise ValueError("expected")
```

```python exec="on" session="demo" result="text"
assert x == 40, x
print(x + 2)
```

<!--pytest-codeblocks:expected-output-->
```text
42
```
'''


def _block_tests(pytester, page: str) -> list[str]:
    """Write ``page`` as the only chapter of a throwaway book; return the labels of its blocks."""
    docs = pytester.path / "docs"
    (docs / "en").mkdir(parents=True)
    (docs / "en" / "01-demo.md").write_text(page, encoding="utf-8")
    pytester.makeconftest(f"import pathlib, llm_anatomy_book.blocks as b\nb.DOCS = pathlib.Path({str(docs)!r})\n")
    pytester.makepyfile(test_blocks=Path(__file__).with_name("test_docs_blocks.py").read_text(encoding="utf-8"))
    # a plugin that runs the collected items in reverse order
    pytester.makepyfile(reverse_order="def pytest_collection_modifyitems(items):\n    items.reverse()\n")
    return [b.label() for b in parse_blocks(docs / "en" / "01-demo.md")]


def _run_items(result) -> list[tuple[str, str]]:
    """(item id, outcome) in the order the items ran, from ``-v`` output."""
    return [tuple(line.split()[:2]) for line in result.outlines if line.startswith("test_blocks.py::test_block[")]


def test_a_late_block_runs_alone_with_k(pytester) -> None:
    labels = _block_tests(pytester, SESSION_PAGE)
    assert len(labels) == 8  # 8 items: 6 Python blocks and 2 expected outputs
    # the block that needs x == 40: the first block and the xfail must run before it, the skip not
    late = labels[-2].rsplit(":", 1)[1]
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-k", f"md:{late}]")
    result.assert_outcomes(passed=1, deselected=7)
    # the expected output of that block, alone: its block runs first
    output = labels[-1].rsplit(":", 1)[1]
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-k", f"md:{output}-output")
    result.assert_outcomes(passed=1, deselected=7)


def test_blocks_give_the_same_outcomes_in_reverse_order(pytester) -> None:
    _block_tests(pytester, SESSION_PAGE)
    forward = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    forward.assert_outcomes(passed=6, skipped=1, xfailed=1)
    backward = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "-p", "reverse_order")
    backward.assert_outcomes(passed=6, skipped=1, xfailed=1)
    assert len(_run_items(forward)) == 8
    assert _run_items(backward) == _run_items(forward)[::-1]  # same outcome for each item, in reverse


def test_the_runner_runs_each_block_once_whatever_the_order(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '```python\nruns = ["a"]\n```\n\n'
        '```python\nruns.append("b")\nprint(len(runs))\n```\n\n'
        '```python\nruns.append("skipped")\n```\n\n'
        '```python\nruns.append("c")\nprint(runs)\n```\n',
        encoding="utf-8",
    )
    blocks = parse_blocks(page)
    runner = PageRunner(blocks, skipped=[blocks[2].label()])
    assert runner.run(blocks[3]) == "['a', 'b', 'c']\n"  # the earlier blocks ran first, not the skipped one
    assert runner.run(blocks[1]) == "2\n"  # its first outcome: not run a second time
    assert runner.run(blocks[0]) == ""
    assert runner.sessions["__page__"]["runs"] == ["a", "b", "c"]
    with pytest.raises(BookError, match="is skipped"):
        runner.run(blocks[2])


def test_a_block_run_first_names_the_earlier_failure(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\n1 / 0\n```\n\n```python\nprint(1)\n```\n", encoding="utf-8")
    blocks = parse_blocks(page)
    runner = PageRunner(blocks)
    with pytest.raises(BookError, match=r"earlier block of this page failed \(.*page.md:1\)") as info:
        runner.run(blocks[1])
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        runner.run(blocks[0])  # the failing block's own outcome
