"""Run a page's Python blocks the way the site and the notebooks run them.

* An ``exec`` block with ``session="name"`` shares its globals with the page's other blocks
  of that session, as markdown-exec does at build time; one without a session runs alone.
* A ``plain`` block runs in the namespace of the page's session: the downloadable notebook
  runs all of a chapter's blocks, in order, in one kernel.
* A ``listing`` block runs in a copy of its source module's globals, which proves the text
  on the page is real code of that module and runs in its context.

markdown-exec puts the page's output together from the ``print`` it places in an ``exec``
block's globals, not from ``sys.stdout``: text that library code writes to ``sys.stdout``
(a plain ``print`` inside a function of ``src``) lands in the build log, not on the page.
The runner does the same and refuses such a block, so that the page shows what the prose
says it shows.

Any block can be run first, alone or in any order (``pytest -k`` picks one test item, a
plugin may shuffle them): before a block of the page's session runs, the runner runs the
earlier blocks of that session which have not run yet in this process, in page order, and
keeps every block's outcome, so that each block runs once and reports the same result
whatever the order.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
from collections.abc import Collection

from .blocks import BookError, CodeBlock, module_of


def _page_print(page: io.StringIO):
    """The ``print`` that markdown-exec gives an exec block: by default it writes into the page."""
    return functools.partial(print, file=page)


class PageRunner:
    """Executes the blocks of one page, keeping the page's namespaces and each block's outcome.

    Args:
        blocks: the page's blocks, in page order (as :func:`parse_blocks` returns them).
        skipped: labels of the blocks that are not run (marked skip, or skipif true); they
            are not run as earlier blocks of the session either.
    """

    def __init__(self, blocks: list[CodeBlock], skipped: Collection[str] = ()) -> None:
        sessions = {b.session for b in blocks if b.kind == "exec" and b.session}
        if len(sessions) > 1:
            raise BookError(f"{blocks[0].path}: one markdown-exec session per page, found {sorted(sessions)}")
        self.page_session = sessions.pop() if sessions else "__page__"
        self.blocks = [b for b in blocks if b.kind != "other"]
        self.skipped = frozenset(skipped)
        self.sessions: dict[str, dict] = {}
        self.outcomes: dict[str, str | BaseException] = {}  # label -> printed text or exception
        self.failed: dict[str, CodeBlock] = {}  # namespace -> its first unexpected failure

    def _namespace_key(self, block: CodeBlock) -> str:
        """Blocks with the same key share globals; a listing or a session-less exec block is alone."""
        if block.kind == "listing" or (block.kind == "exec" and block.session is None):
            return block.label()
        return block.session or self.page_session

    def _namespace(self, block: CodeBlock) -> dict:
        if block.kind == "listing":
            targets = block.listing_targets()
            modules = {module_of(t) for t in targets}
            if len(modules) != 1:
                raise BookError(f"{block.label()}: a listing block must come from one file, got {sorted(modules)}")
            return dict(vars(importlib.import_module(modules.pop())))
        if block.kind == "exec" and block.session is None:
            return {"__name__": "__main__"}
        return self.sessions.setdefault(self._namespace_key(block), {"__name__": "__main__"})

    def run(self, block: CodeBlock) -> str:
        """Run one block, after the earlier blocks of its namespace that have not run yet.

        A block runs once: running it again returns (or raises) its first outcome. A block
        marked xfail may raise without stopping the page's later blocks.

        Args:
            block: one of the page's blocks.

        Returns:
            What the block printed.

        Raises:
            BookError: if the block is unknown to this page or skipped, if an earlier block of
                its namespace failed (the namespace is incomplete), or if an exec block writes
                to ``sys.stdout`` other than through its ``print`` (the page would not show it).
            Exception: whatever the block raises.
        """
        if block not in self.blocks:
            raise BookError(f"{block.label()} is not a runnable block of this page")
        if block.label() in self.skipped:
            raise BookError(f"{block.label()} is skipped: it does not run")
        key = self._namespace_key(block)
        for earlier in self.blocks[: self.blocks.index(block)]:
            if self._namespace_key(earlier) == key and earlier.label() not in self.skipped:
                with contextlib.suppress(Exception):  # its own test item reports it; this block then says so
                    self._run_once(earlier)
        return self._run_once(block)

    def _run_once(self, block: CodeBlock) -> str:
        label = block.label()
        if label not in self.outcomes:
            try:
                self.outcomes[label] = self._execute(block)
            except Exception as err:  # KeyboardInterrupt and SystemExit stop the run instead
                self.outcomes[label] = err
        outcome = self.outcomes[label]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _execute(self, block: CodeBlock) -> str:
        key = self._namespace_key(block)
        if key in self.failed:
            failed = self.failed[key].label()
            cause = self.outcomes.get(failed)  # its exception, shown with this error
            raise BookError(f"{block.label()} not run: an earlier block of this page failed ({failed})") from (
                cause if isinstance(cause, BaseException) else None)
        namespace = self._namespace(block)
        stdout, page = io.StringIO(), io.StringIO()
        if block.kind == "exec":
            namespace["print"] = _page_print(page)
        elif block.kind == "plain":  # Jupyter's print, not the page print an exec block left in the session
            namespace["print"] = print
        try:
            code = compile(block.code, f"<{block.label()}>", "exec")
            with contextlib.redirect_stdout(stdout):
                exec(code, namespace)
        except BaseException:
            if not _may_fail(block):
                self.failed[key] = block
            raise
        if block.kind == "exec" and stdout.getvalue():
            raise BookError(
                f"{block.label()}: wrote to sys.stdout outside the block's own print, which "
                f"markdown-exec leaves off the page (it goes to the build log): "
                f"{stdout.getvalue()[:200]!r}. Let the library take a print function, or return the text."
            )
        return page.getvalue() + stdout.getvalue()


def _may_fail(block: CodeBlock) -> bool:
    """The block is marked xfail: its error is expected and does not stop later blocks."""
    return any(m.startswith("pytest.mark.xfail") for m in block.markers)
