"""Figures that render the same way on the website, in a notebook and in the tests.

The book's code is identical in every language, yet a figure's title should be read in
the reader's language. :func:`tr` picks the label for the language being built, and
:func:`show` turns a Matplotlib figure into inline SVG for the website (text kept as
text, so the browser draws Chinese and Cyrillic glyphs with its own fonts) or displays it
in Jupyter.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import warnings

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

LANGUAGES = ("en", "zh", "ru")

# Matplotlib's default font has no Chinese glyphs. That only affects its layout estimate:
# figures are shown as SVG whose text the browser (or Jupyter) draws with its own fonts.
warnings.filterwarnings("ignore", message="Glyph .* missing from font")
LANG_ENV_VAR = "LLM_ANATOMY_LANG"


def current_language() -> str:
    """The language figures are labelled in: ``LLM_ANATOMY_LANG``, else English.

    The site's build sets the variable for each language it renders.
    """
    lang = os.environ.get(LANG_ENV_VAR, "en")
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} in ${LANG_ENV_VAR}: expected one of {LANGUAGES}")
    return lang


def tr(en: str, zh: str, ru: str) -> str:
    """Return the label for the language being built.

    Example:
        >>> tr("loss", "损失", "потери") in ("loss", "损失", "потери")
        True
    """
    return {"en": en, "zh": zh, "ru": ru}[current_language()]


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def to_svg(fig: Figure) -> str:
    """Render a figure as a standalone, reproducible SVG element (no date stamp)."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "llm-anatomy"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def show(fig: Figure) -> None:
    """Show a figure as SVG: inline in Jupyter, otherwise printed as an HTML ``<figure>``.

    On the website the block that calls ``show`` is executed with ``html="1"``, so the
    printed SVG becomes part of the page. markdown-exec captures output through the
    ``print`` it places in the block's globals, not through ``sys.stdout``, so the figure is
    printed with the caller's ``print``.
    """
    if _in_notebook():
        from IPython.display import SVG, display

        display(SVG(to_svg(fig)))
    else:
        svg = re.sub(r"\s+\n", "\n", to_svg(fig))
        caller_print = inspect.currentframe().f_back.f_globals.get("print", print)
        caller_print(f'<figure class="la-figure">{svg}</figure>')
    plt.close(fig)
