"""The test markers of CONTRIBUTING.md really drive the verification of docs blocks.

A throwaway docs tree is verified by the real ``test_docs_blocks.py`` in a separate pytest
process, and the outcomes are counted.
"""

from __future__ import annotations

from pathlib import Path

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
