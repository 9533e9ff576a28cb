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
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io

from .blocks import BookError, CodeBlock, module_of


def _page_print(page: io.StringIO):
    """The ``print`` that markdown-exec gives an exec block: by default it writes into the page."""
    return functools.partial(print, file=page)


class PageRunner:
    """Executes the blocks of one page, in order, keeping the page's namespaces."""

    def __init__(self, blocks: list[CodeBlock]) -> None:
        sessions = {b.session for b in blocks if b.kind == "exec" and b.session}
        if len(sessions) > 1:
            raise BookError(f"{blocks[0].path}: one markdown-exec session per page, found {sorted(sessions)}")
        self.page_session = sessions.pop() if sessions else "__page__"
        self.sessions: dict[str, dict] = {}
        self.failed: CodeBlock | None = None

    def _namespace(self, block: CodeBlock) -> dict:
        if block.kind == "listing":
            targets = block.listing_targets()
            modules = {module_of(t) for t in targets}
            if len(modules) != 1:
                raise BookError(f"{block.label()}: a listing block must come from one file, got {sorted(modules)}")
            return dict(vars(importlib.import_module(modules.pop())))
        if block.kind == "exec" and block.session is None:
            return {"__name__": "__main__"}
        return self.sessions.setdefault(block.session or self.page_session, {"__name__": "__main__"})

    def run(self, block: CodeBlock, may_fail: bool = False) -> str:
        """Execute one block and return what it printed.

        Args:
            block: the block to run.
            may_fail: the block is expected to raise (marked xfail); its failure does not
                stop the page's later blocks.

        Raises:
            BookError: if an earlier block of the page failed (the namespace is incomplete).
            BookError: if an exec block writes to ``sys.stdout`` other than through its
                ``print`` (the page would not show it).
            Exception: whatever the block raises.
        """
        if self.failed is not None:
            raise BookError(f"{block.label()} not run: an earlier block of this page failed ({self.failed.label()})")
        namespace = self._namespace(block)
        stdout, page = io.StringIO(), io.StringIO()
        if block.kind == "exec":
            namespace["print"] = _page_print(page)
        try:
            code = compile(block.code, f"<{block.label()}>", "exec")
            with contextlib.redirect_stdout(stdout):
                exec(code, namespace)
        except BaseException:
            if not may_fail:
                self.failed = block
            raise
        if block.kind == "exec" and stdout.getvalue():
            raise BookError(
                f"{block.label()}: wrote to sys.stdout outside the block's own print, which "
                f"markdown-exec leaves off the page (it goes to the build log): "
                f"{stdout.getvalue()[:200]!r}. Let the library take a print function, or return the text."
            )
        return page.getvalue() + stdout.getvalue()
