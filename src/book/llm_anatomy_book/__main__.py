"""Command line of the book's tooling: ``python -m llm_anatomy_book --help``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import timing
from .blocks import DEFAULT_LANGUAGE, LANGUAGES, chapter_files
from .notebooks import CHAPTER_NAME, write_notebook
from .translations import MISSING, UNSTAMPED, format_status, stamp, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_anatomy_book", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    tr = commands.add_parser("translations", help="print the chapter x language status table")
    tr.add_argument("--strict", action="store_true", help="exit 1 if a page is stale, missing or unstamped")
    st = commands.add_parser("stamp", help="record the English revision a translated page now follows")
    st.add_argument("pages", nargs="+", type=Path)
    nb = commands.add_parser("notebooks", help="write every chapter as a notebook per language")
    nb.add_argument("out", type=Path)
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
    for lang in LANGUAGES:
        for page in chapter_files(lang):
            if CHAPTER_NAME.match(page.name):
                print(write_notebook(page, args.out / lang / page.with_suffix(".ipynb").name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
