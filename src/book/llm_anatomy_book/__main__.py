"""Command line of the book's tooling: ``python -m llm_anatomy_book --help``."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from . import timing
from .blocks import DEFAULT_LANGUAGE, LANGUAGES, ROOT, chapter_files
from .notebooks import CHAPTER_NAME, ReaderEnv, chapter_notebook, notebook_name, site_path
from .translations import MISSING, UNSTAMPED, format_status, stamp, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_anatomy_book", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    tr = commands.add_parser("translations", help="print the chapter x language status table")
    tr.add_argument("--strict", action="store_true", help="exit 1 if a page is stale, missing or unstamped")
    st = commands.add_parser("stamp", help="record the English revision a translated page now follows")
    st.add_argument("pages", nargs="+", type=Path)
    nb = commands.add_parser("notebooks", help="write every chapter as a notebook per language (NN-slug.LANG.ipynb)")
    nb.add_argument("out", type=Path)
    nb.add_argument("--execute", action="store_true",
                    help="execute each notebook in a fresh reader environment and save it with its outputs")
    nb.add_argument("--lang", action="append", choices=LANGUAGES, help="only these languages (repeatable)")
    nb.add_argument("--chapter", action="append", help="only chapters whose file name starts with this (repeatable)")
    nb.add_argument("--site", type=Path, help="also copy each notebook next to its chapter in this built site")
    nb.add_argument("--env", type=Path, default=ROOT / ".nox" / "reader", help="where the reader environments live")
    nb.add_argument("--torch", default="torch==2.13.0", help="the torch requirement of the reader environments")
    bt = commands.add_parser("build-times", help="print the seconds each page took to build, per language")
    bt.add_argument("file", type=Path, nargs="?", default=Path("site/build-times.json"))
    args = parser.parse_args(argv)

    if args.command == "build-times":
        print(timing.table(json.loads(args.file.read_text())))
        return 0
    if args.command == "translations":
        rows = status(tuple(lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE))
        print(format_status(rows))
        bad = [r for r in rows if r.state != "up to date"]
        if any(r.state in (MISSING, UNSTAMPED) for r in rows):
            print("\nmissing or unstamped pages fail the tests", file=sys.stderr)
        return 1 if (args.strict and bad) else 0
    if args.command == "stamp":
        for page in args.pages:
            print(f"{page}: source_sha {stamp(page)}")
        return 0
    return _notebooks(args)


def _notebooks(args: argparse.Namespace) -> int:
    pages = [
        (lang, page)
        for lang in (args.lang or LANGUAGES)
        for page in chapter_files(lang)
        if CHAPTER_NAME.match(page.name) and (not args.chapter or page.name.startswith(tuple(args.chapter)))
    ]
    reader = ReaderEnv(args.env, torch=args.torch) if args.execute else None
    if reader:
        reader.prepare()
        print(f"reader environment ready in {reader.timings['prepare']:.0f} s", flush=True)
    failed = []
    args.out.mkdir(parents=True, exist_ok=True)
    for lang, page in pages:
        nb, dest = chapter_notebook(page), args.out / notebook_name(page, lang)
        if reader:
            start = time.perf_counter()
            try:
                with tempfile.TemporaryDirectory() as cwd:
                    reader.execute(nb, cwd)
                result = "ok"
            except Exception as err:  # noqa: BLE001 - report every notebook, fail at the end
                failed.append(dest.name)
                message = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # nbclient's ANSI colours
                result = f"FAILED: {message.splitlines()[-1][:200] if message else type(err).__name__}"
            print(f"{dest.name}: {result} in {time.perf_counter() - start:.0f} s", flush=True)
        nbformat.write(nb, str(dest))
        if args.site:
            target = args.site / site_path(page, lang)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dest, target)
        if not reader:
            print(dest)
    if reader and len(reader.timings) > 1:
        print("extras environments created: " + ", ".join(f"{k} {v:.0f} s" for k, v in reader.timings.items() if k != "prepare"))
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
