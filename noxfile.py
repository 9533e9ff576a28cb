"""Build and check the book: ``nox -s docs tests`` is the one command.

All sessions but ``lint``/``bench``/``browser`` share one virtual environment, ``.nox/book``,
created on the first run and reused afterwards (torch alone is ~1 GB, so installing it once
per session would cost minutes). It is reinstalled when ``pyproject.toml`` changes.

torch is pinned so that pip picks a CPU build: ``LLM_ANATOMY_TORCH`` overrides the pin
(e.g. ``LLM_ANATOMY_TORCH="torch==2.5.1"``), and a CPU-only index can be added with
``PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["docs", "tests"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).parent
TORCH = os.environ.get("LLM_ANATOMY_TORCH", "torch==2.13.0")
PROJECTS = ("pyproject.toml", "src/book/pyproject.toml")  # a change to either reinstalls
# The peer GPT implementation the tests and benchmarks compare with, installed --no-deps: it
# requires tensorflow and jupyterlab, which its model code (torch only) does not use.
PEER = "llms-from-scratch==1.0.19"
# The environment of every build and test run: mkdocs' 2.0 notice off, and (below) GPT-2's ranks.
BOOK_ENV = {"NO_MKDOCS_2_WARNING": "1"}
# GPT-2's rank file for an offline build (chapter 11): beside the repository when it is there;
# without it, the package downloads the file once (see llm_anatomy.tokenizer.gpt2).
_RANKS = ROOT.parent / "shared" / "data" / "gpt2.tiktoken"
if "LLM_ANATOMY_GPT2_RANKS" not in os.environ and _RANKS.is_file():
    BOOK_ENV["LLM_ANATOMY_GPT2_RANKS"] = str(_RANKS)


def _book_python(session: nox.Session, name: str = "book", torch: str = TORCH) -> str:
    """Create (once) the shared environment and return its python."""
    env = ROOT / ".nox" / name
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    key = hashlib.sha256(b"".join((ROOT / p).read_bytes() for p in PROJECTS) + (torch + PEER).encode()).hexdigest()
    stamp = env / ".installed"
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(env), external=True)
    if not stamp.exists() or stamp.read_text() != key:
        session.run(str(python), "-m", "pip", "install", "-q", "--upgrade", "pip", external=True)
        session.run(str(python), "-m", "pip", "install", torch, "-e", ".[test]", "-e", "src/book", external=True)
        session.run(str(python), "-m", "pip", "install", "-q", "--no-deps", PEER, external=True)
        stamp.write_text(key)
    return str(python)


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Build the site in all three languages, strictly (any warning fails)."""
    python = _book_python(session)
    session.run(python, "-m", "mkdocs", "build", "--strict", *session.posargs, env=BOOK_ENV, external=True)
    session.log(f"site built in {ROOT / 'site'}; seconds per page and language (site/build-times.json):")
    session.run(python, "-m", "llm_anatomy_book", "build-times", external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run every test, including every code block of every page (``-- --device cuda`` to change device)."""
    python = _book_python(session)
    if not (ROOT / "site" / "index.html").exists():
        session.log("site/ is not built yet: building it first (the site tests need it)")
        session.run(python, "-m", "mkdocs", "build", "--strict", env=BOOK_ENV, external=True)
    env = {**BOOK_ENV, "LLM_ANATOMY_REQUIRE_SITE": "1"}
    session.run(python, "-m", "pytest", *(session.posargs or ["-q"]), env=env, external=True)


@nox.session(venv_backend="none")
def serve(session: nox.Session) -> None:
    """Preview the site with live reload on http://127.0.0.1:8000/llm-anatomy/ (the path of site_url)."""
    python = _book_python(session)
    session.run(python, "-m", "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", *session.posargs, env=BOOK_ENV, external=True)


@nox.session(venv_backend="none")
def notebooks(session: nox.Session) -> None:
    """Write every chapter × language notebook into build/notebooks/ and execute it, saved with outputs.

    Each runs top to bottom in a reader's fresh environment (.nox/reader: the package's wheel,
    the chapter's extras, torch, ipykernel; the install cell made a no-op). Options go to
    ``python -m llm_anatomy_book notebooks``: ``-- --lang zh --chapter 13``, and
    ``-- --site site`` to put the executed notebooks into a built site (the pages workflow).
    """
    python = _book_python(session)
    session.run(python, "-m", "llm_anatomy_book", "notebooks", "build/notebooks", "--execute", "--torch", TORCH,
                *session.posargs, env=BOOK_ENV, external=True)


@nox.session(venv_backend="none")
def translations(session: nox.Session) -> None:
    """Print which translated pages are up to date, stale or missing."""
    python = _book_python(session)
    session.run(python, "-m", "llm_anatomy_book", "translations", *session.posargs, external=True)


@nox.session(venv_backend="none")
def gpu(session: nox.Session) -> None:
    """The same verification on a CUDA device; fails (does not pretend) where CUDA is absent."""
    if shutil.which("nvidia-smi") is None:
        session.error("CUDA is absent on this machine (no nvidia-smi): the gpu session needs an NVIDIA GPU runner")
    # LLM_ANATOMY_GPU_PYTHON: an interpreter that already has a CUDA torch, the book's
    # dependencies and PEER (a GPU image's python, an offline runner); otherwise .nox/book-gpu is made.
    python = os.environ.get("LLM_ANATOMY_GPU_PYTHON") or _book_python(
        session, name="book-gpu", torch=os.environ.get("LLM_ANATOMY_TORCH_GPU", "torch"))
    session.run(python, "-c", "from llm_anatomy.device import get_device; print('running on', get_device('cuda'))", external=True)
    env = {**BOOK_ENV, "LLM_ANATOMY_DEVICE": "cuda"}
    session.run(python, "-m", "mkdocs", "build", "--strict", env=env, external=True)
    session.run(python, "-m", "pytest", "-q", "--device", "cuda", *session.posargs, env={**env, "LLM_ANATOMY_REQUIRE_SITE": "1"}, external=True)


@nox.session(reuse_venv=True)
def lint(session: nox.Session) -> None:
    """ruff on the code, and the GitHub workflows checked against their schema."""
    session.install("ruff>=0.6", "check-jsonschema>=0.28")
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Benchmarks (not tests); results in bench/results/, and those the pages read in src/llm_anatomy/results/.

    ``nox -s bench`` runs every benchmark but the long training runs (``bench/train_*.py``);
    ``nox -s bench -- NAME [ARGS...]`` runs ``bench/NAME.py`` alone, with its own arguments
    (e.g. ``nox -s bench -- train_python_gpt --steps 2000``).
    """
    python = _book_python(session)
    session.run(python, "-m", "pip", "install", "-q", "micrograd==0.1.0", external=True)  # the [bench] extra
    if session.posargs:
        name, *args = session.posargs
        script = ROOT / "bench" / f"{name.removesuffix('.py')}.py"
        if not script.exists():
            session.error(f"no benchmark {script.name} in bench/")
        session.run(python, str(script), *args, external=True)
        return
    for script in sorted((ROOT / "bench").glob("*.py")):
        if not script.name.startswith("train_"):
            session.run(python, str(script), external=True)


@nox.session(venv_backend="none")
def browser(session: nox.Session) -> None:
    """Opt-in: headless Chromium checks of the built site (installs Debian chromium and CJK fonts)."""
    if not shutil.which("chromium"):
        session.run("apt-get", "install", "-y", "-q", "chromium", "fonts-noto-cjk", external=True)
    python = _book_python(session)
    session.run(python, "-m", "pip", "install", "-q", "-e", ".[browser]", external=True)
    if not (ROOT / "site" / "index.html").exists():
        session.run(python, "-m", "mkdocs", "build", "--strict", env=BOOK_ENV, external=True)
    session.run(python, "tests/browser/check_site.py", *session.posargs, external=True)
