"""Figures that render the same way on the website, in a notebook and in the tests.

The book's code is identical in every language, yet a figure's title should be read in
the reader's language. :func:`tr` picks the label for the language being built, and
:func:`show` turns a Matplotlib figure into inline SVG for the website (text kept as
text, so the browser draws Chinese and Cyrillic glyphs with its own fonts) or displays it
in Jupyter.

An SVG is scaled to the width of the page's column, text included: a figure ten inches
wide drawn in a 358-pixel phone column shrinks 10-point labels to 5 pixels. So on the
website :func:`show` lays every figure out for the column it will be shown in, so that its
text is never smaller than :data:`MIN_TEXT_PX` (80% of the body text):

* a **plot** (axes with ticks) is drawn twice: for the desktop column, at most
  :data:`DESKTOP_WIDTH_PX` wide, and for a phone, :data:`PHONE_WIDTH_PX` wide with its
  panels stacked one above the other (two per row when a figure has more than six).
  Both drawings keep every text at least :data:`MIN_FONT_PT` points (legends included);
  the page's stylesheet (``docs/assets/figures.css``) shows the one that fits the screen;
* a **drawing** (axes switched off, text placed among boxes and arrows, as
  :func:`llm_anatomy.autograd.draw_graph` makes) keeps its proportions: on a phone it is
  shown at least as wide as its text needs, and scrolls sideways inside its own box.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import math
import os
import re
import warnings

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec, GridSpecFromSubplotSpec, SubplotSpec
from matplotlib.text import Text

LANGUAGES = ("en", "zh", "ru")

# Matplotlib's default font has no Chinese glyphs. That only affects its layout estimate:
# figures are shown as SVG whose text the browser (or Jupyter) draws with its own fonts.
warnings.filterwarnings("ignore", message="Glyph .* missing from font")
LANG_ENV_VAR = "LLM_ANATOMY_LANG"

BODY_TEXT_PX = 16.0
"""The site's body text: Material sets ``.md-typeset`` to 0.8rem of a 20 px root (below 1600 px)."""
MIN_TEXT_PX = 0.8 * BODY_TEXT_PX
"""No text of a figure may be drawn smaller than this, on a phone or a desktop."""
PX_PER_PT = 4 / 3
"""CSS pixels per point: an SVG ``width="360pt"`` is 480 px wide when nothing scales it."""
MIN_FONT_PT = 10.0
"""The smallest font a plot keeps (Matplotlib's tick labels): 13.3 px at natural size."""
PHONE_WIDTH_PX = 358.0
"""Width of the page's column at a 390 px wide phone screen (0.8rem margins on each side)."""
DESKTOP_WIDTH_PX = 688.0
"""Width of the page's column on a desktop screen, between both sidebars (1220–1600 px)."""
_PHONE_ASPECT = (0.55, 1.0)  # a phone panel's height, as a fraction of its width: bounds


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


_FONT_SIZE = re.compile(r"font-size:\s*([\d.]+)px")
# Matplotlib writes a formula ($...$) as a comment followed by a group holding one <text>
_FORMULA = re.compile(r"<!-- \$.*?\$ -->\s*<g[^>]*>\s*<text>(.*?)</text>", re.S)


def svg_size(svg: str) -> tuple[float, float]:
    """The width of an SVG's ``viewBox`` (user units: points for Matplotlib) and its smallest ``font-size``.

    A formula's sub- and superscripts count at the size of the formula they belong to:
    Matplotlib draws them at 70% of it, as KaTeX does in the page's text.

    Raises:
        ValueError: if the SVG has no ``viewBox`` or no text.
    """
    view_box = re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) [\d.]+"', svg)
    formulas = [max(map(float, _FONT_SIZE.findall(m.group(1))), default=None) for m in _FORMULA.finditer(svg)]
    sizes = [float(s) for s in _FONT_SIZE.findall(_FORMULA.sub("", svg))] + [f for f in formulas if f]
    if view_box is None or not sizes:
        raise ValueError("expected an SVG with a viewBox and text with a font-size")
    return float(view_box.group(1)), min(sizes)


def _texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def is_drawing(fig: Figure) -> bool:
    """A drawing places text among shapes on axes that are switched off: it must keep its proportions."""
    return any(not ax.axison and ax.texts for ax in fig.axes)


def _grid(fig: Figure) -> GridSpec | None:
    """The one grid that every axes of the figure sits in, if there is one."""
    grids = set()
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is None:
            return None  # an axes placed by hand (fig.add_axes): the layout is the author's
        grids.add(spec.get_topmost_subplotspec().get_gridspec())
    return grids.pop() if len(grids) == 1 else None


def _stack(fig: Figure, width: float) -> float:
    """Re-lay the figure's grid out in one column (two for four or more columns), ``width`` inches wide.

    Returns:
        The new figure height in inches.
    """
    grid = _grid(fig)
    fig_w, fig_h = fig.get_size_inches()
    if grid is None:
        return fig_h * width / fig_w
    n_rows, n_cols = grid.get_geometry()
    cells = sorted(
        {ax.get_subplotspec().get_topmost_subplotspec() for ax in fig.axes},
        key=lambda c: (c.rowspan.start, c.colspan.start),
    )
    columns = 1 if len(cells) <= 6 else 2
    panel_w = width / columns
    if n_cols == 1 or any(len(c.colspan) > 1 for c in cells):
        aspect = (fig_h / n_rows) / (fig_w / n_cols)
        return n_rows * panel_w * min(max(aspect, _PHONE_ASPECT[0]), _PHONE_ASPECT[1])
    n_new = -(-len(cells) // columns)
    heights = [grid.get_height_ratios()[c.rowspan.start] if grid.get_height_ratios() else 1.0 for c in cells]
    aspect = (fig_h / n_rows) / (fig_w / n_cols)
    panel_h = panel_w * min(max(aspect, _PHONE_ASPECT[0]), _PHONE_ASPECT[1])
    row_ratios = [max(heights[i : i + columns]) for i in range(0, len(cells), columns)]
    new = GridSpec(n_new, columns, figure=fig, height_ratios=row_ratios)
    placed = {cell: new[i // columns, i % columns] for i, cell in enumerate(cells)}
    moved_subgrids = set()
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec.get_gridspec() is grid:
            ax.set_subplotspec(placed[spec.get_topmost_subplotspec()])
        else:  # inside a sub-grid (a colorbar beside its image): move the sub-grid
            sub = spec.get_gridspec()
            while isinstance(sub, GridSpecFromSubplotSpec):
                parent: SubplotSpec = sub._subplot_spec
                if parent.get_gridspec() is grid:
                    if sub not in moved_subgrids:
                        sub._subplot_spec = placed[parent]
                        moved_subgrids.add(sub)
                    break
                sub = parent.get_gridspec()
        # shared axes hide the inner panels' tick labels; stacked, every panel needs its own
        if len(ax.get_shared_y_axes().get_siblings(ax)) > 1 and ax.yaxis.get_ticks_position() != "right":
            ax.tick_params(axis="y", labelleft=True)
        if len(ax.get_shared_x_axes().get_siblings(ax)) > 1 and ax.xaxis.get_ticks_position() != "top":
            ax.tick_params(axis="x", labelbottom=True)
    return panel_h * n_new


def _fit_text_to_phone(fig: Figure) -> None:
    """Make a figure's text fit a phone's column: titles and axis labels wrap, legends are one column inside their axes."""
    for text in [*fig.texts, *(t for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label))]:
        text.set_wrap(True)
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        anchor, box = legend.get_bbox_to_anchor(), ax.bbox
        inside = anchor.x0 >= box.x0 - 1 and anchor.x1 <= box.x1 + 1 and anchor.y0 >= box.y0 - 1 and anchor.y1 <= box.y1 + 1
        if inside and legend._ncols == 1:
            continue
        texts = legend.get_texts()
        ax.legend(legend.legend_handles, [t.get_text() for t in texts], loc="best", ncols=1,
                  fontsize=max(texts[0].get_fontsize(), MIN_FONT_PT) if texts else MIN_FONT_PT)


def _slant_crowded_ticks(fig: Figure) -> None:
    """Slant an axes' x tick labels when, at the figure's present size, neighbours overlap."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = sorted(
            (t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_visible() and t.get_text()),
            key=lambda b: b.x0,
        )
        if any(a.x1 > b.x0 for a, b in zip(boxes, boxes[1:], strict=False)):
            ax.tick_params(axis="x", labelrotation=30)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")


def _layout_for(fig: Figure, width_px: float) -> str:
    """Draw a plot for a column ``width_px`` wide: no text under :data:`MIN_FONT_PT`, no scaling down.

    The figure is narrowed until its SVG (bounding box included: a legend outside the
    axes widens it) fits the column, so the browser shows it at its natural size.
    """
    for text in _texts(fig):
        if text.get_fontsize() < MIN_FONT_PT:
            text.set_fontsize(MIN_FONT_PT)
    target_pt = width_px / PX_PER_PT
    w, h = fig.get_size_inches()
    if w > target_pt / 72:  # narrower, and a little lower so that panels keep a sensible shape
        fig.set_size_inches(target_pt / 72, h * (target_pt / 72 / w) ** 0.5)
    for _ in range(6):
        fig.draw_without_rendering()  # tick labels and axis labels placed for this size first
        if fig.get_layout_engine() is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "not compatible with tight_layout": keep the author's layout
                fig.tight_layout()
        svg = to_svg(fig)
        view_width, _ = svg_size(svg)
        w, h = fig.get_size_inches()
        narrower = w - (view_width - target_pt) / 72 - 0.02
        if view_width <= target_pt + 0.5 or narrower < 0.5 * target_pt / 72:
            break  # it fits, or something wider than the column does not shrink with the figure
        fig.set_size_inches(narrower, h)
    return svg


def _unique_ids(svg: str, prefix: str) -> str:
    """Prefix every ``id`` of an SVG and its references, so that two SVGs of one page never share one."""
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if not ids:
        return svg
    pattern = re.compile(r'(\bid="|url\(#|href="#)(' + "|".join(map(re.escape, sorted(ids, key=len, reverse=True))) + r')(?=[")])')
    return pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)


def _tidy(svg: str, prefix: str) -> str:
    return _unique_ids(re.sub(r"\s+\n", "\n", svg), prefix)


def figure_html(fig: Figure) -> str:
    """The HTML ``<figure>`` the website shows for a figure, laid out for desktop and phone (see the module doc)."""
    wide = to_svg(fig)
    key = hashlib.sha1(wide.encode()).hexdigest()[:8]
    view_width, smallest = svg_size(wide)
    if is_drawing(fig):
        # at least wide enough, on a phone, that its smallest text reaches MIN_TEXT_PX
        need_px = view_width * MIN_TEXT_PX / smallest
        if need_px <= PHONE_WIDTH_PX:
            return f'<figure class="la-figure">{_tidy(wide, "f" + key)}</figure>'
        return (
            f'<figure class="la-figure"><div class="la-figure__scroll" style="--la-min-width: {math.ceil(need_px)}px">'
            f'{_tidy(wide, "f" + key)}</div></figure>'
        )
    wide = _layout_for(fig, DESKTOP_WIDTH_PX)
    w, h = fig.get_size_inches()
    phone_w = PHONE_WIDTH_PX / PX_PER_PT / 72
    if w <= phone_w + 0.01 and svg_size(wide)[0] <= PHONE_WIDTH_PX / PX_PER_PT + 0.5:
        return f'<figure class="la-figure">{_tidy(wide, "f" + key)}</figure>'
    height = _stack(fig, phone_w)
    _fit_text_to_phone(fig)
    fig.set_size_inches(phone_w, height)
    _slant_crowded_ticks(fig)
    narrow = _layout_for(fig, PHONE_WIDTH_PX)
    return (
        f'<figure class="la-figure"><div class="la-figure__wide">{_tidy(wide, "w" + key)}</div>'
        f'<div class="la-figure__narrow">{_tidy(narrow, "n" + key)}</div></figure>'
    )


def show(fig: Figure) -> None:
    """Show a figure as SVG: inline in Jupyter, otherwise printed as an HTML ``<figure>``.

    On the website the block that calls ``show`` is executed with ``html="1"``, so the
    printed figure (:func:`figure_html`) becomes part of the page. markdown-exec captures
    output through the ``print`` it places in the block's globals, not through
    ``sys.stdout``, so the figure is printed with the caller's ``print``.
    """
    if _in_notebook():
        from IPython.display import SVG, display

        display(SVG(to_svg(fig)))
    else:
        caller_print = inspect.currentframe().f_back.f_globals.get("print", print)
        caller_print(figure_html(fig))
    plt.close(fig)
