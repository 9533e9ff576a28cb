"""Figures keep their text legible on a phone and a desktop (llm_anatomy.plot.figure_html)."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from llm_anatomy.autograd import Value, draw_graph
from llm_anatomy.plot import (
    DESKTOP_WIDTH_PX,
    MIN_TEXT_PX,
    PHONE_WIDTH_PX,
    PX_PER_PT,
    figure_html,
    svg_size,
    to_svg,
)


def displayed_text_px(svg: str, column_px: float, min_width_px: float = 0.0) -> float:
    """The smallest text of an SVG, in CSS pixels, when CSS fits it to a column (max-width: 100%)."""
    natural = float(re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', svg).group(1)) * PX_PER_PT
    view_width, smallest = svg_size(svg)
    return smallest * max(min(natural, column_px), min_width_px) / view_width


def figure_variants(html: str) -> dict[str, tuple[str, float]]:
    """The SVG each layout shows, and the minimum width CSS gives it on a phone."""
    found = {}
    for m in re.finditer(r'<div class="la-figure__(\w+)"(?: style="--la-min-width: (\d+)px")?>(<svg.*?</svg>)', html, re.S):
        found[m.group(1)] = (m.group(3), float(m.group(2) or 0))
    if not found:
        found["single"] = (re.search(r"<svg.*?</svg>", html, re.S).group(0), 0.0)
    return found


def test_svg_size_counts_a_formulas_scripts_at_its_size() -> None:
    svg = (
        '<svg width="200pt" height="100pt" viewBox="0 0 200 100">'
        '<text style="font-size: 12px">a</text>'
        "<!-- $10^{8}$ -->\n<g transform=\"translate(1 2)\">\n<text>\n"
        '<tspan style="font-size: 11px">10</tspan><tspan style="font-size: 7.7px">8</tspan>\n</text>\n</g>'
        "</svg>"
    )
    assert svg_size(svg) == (200.0, 11.0)
    assert svg_size(svg.replace("font-size: 11px", "font-size: 13px")) == (200.0, 12.0)
    with pytest.raises(ValueError, match="viewBox"):
        svg_size("<svg><text>no size</text></svg>")


def _two_panel_figure(sharey: bool = False):
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), sharey=sharey)
    for i, ax in enumerate(axes):
        ax.plot(rng.normal(size=50).cumsum(), label=f"walk {i}")
        ax.set_title(f"panel {i}")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("value")
    return fig, axes


def test_a_wide_multi_panel_figure_is_stacked_and_legible_on_a_phone() -> None:
    fig, axes = _two_panel_figure()
    before = displayed_text_px(to_svg(fig), PHONE_WIDTH_PX)
    assert before < 6  # what the issue saw: an 11-inch figure's 7-point legend at 358 px
    html = figure_html(fig)
    variants = figure_variants(html)
    assert set(variants) == {"wide", "narrow"}
    wide, _ = variants["wide"]
    narrow, _ = variants["narrow"]
    assert displayed_text_px(narrow, PHONE_WIDTH_PX) >= MIN_TEXT_PX
    assert displayed_text_px(wide, DESKTOP_WIDTH_PX) >= MIN_TEXT_PX  # legends included
    # the phone layout is one column of panels, top to bottom
    boxes = [ax.get_position() for ax in axes]
    assert max(b.x0 for b in boxes) - min(b.x0 for b in boxes) < 0.05
    assert boxes[0].y0 > boxes[1].y0 > boxes[2].y0
    # both drawings sit in one page: no id may appear twice
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert ids and len(ids) == len(set(ids))
    for ref in re.findall(r"url\(#([^)]+)\)", html):
        assert ref in ids
    plt.close(fig)


def test_stacked_panels_that_shared_an_axis_get_their_own_tick_labels() -> None:
    fig, axes = _two_panel_figure(sharey=True)
    fig.canvas.draw()
    assert not any(label.get_visible() and label.get_text() for label in axes[1].get_yticklabels())
    figure_html(fig)
    fig.canvas.draw()
    for ax in axes:
        assert any(label.get_visible() and label.get_text() for label in ax.get_yticklabels())
    plt.close(fig)


def test_a_drawing_keeps_its_shape_and_scrolls_on_a_phone() -> None:
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    loss = ((a * b).tanh() + a).relu()
    loss.backward()
    html = figure_html(draw_graph(loss))
    variants = figure_variants(html)
    assert set(variants) == {"scroll"}
    svg, min_width = variants["scroll"]
    assert min_width > PHONE_WIDTH_PX
    assert displayed_text_px(svg, PHONE_WIDTH_PX, min_width) >= MIN_TEXT_PX - 0.05


def test_a_small_figure_is_shown_once() -> None:
    fig, ax = plt.subplots(figsize=(3.2, 2.4))
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend(fontsize=6)
    variants = figure_variants(figure_html(fig))
    assert set(variants) == {"single"}
    assert displayed_text_px(variants["single"][0], PHONE_WIDTH_PX) >= MIN_TEXT_PX
    plt.close(fig)
