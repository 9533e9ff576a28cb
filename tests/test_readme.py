"""The README's Python example runs as a reader would run it: in a fresh interpreter, outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_outside_the_repository(tmp_path):
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert blocks, "README.md has no Python example"
    for code in blocks:
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        printed = re.findall(r"print\(.*\)  # (.+)$", code, flags=re.M)  # each print states its output
        assert done.stdout.splitlines() == printed
