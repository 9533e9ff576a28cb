"""Draw the computational graph behind a :class:`~llm_anatomy.autograd.Value` with Matplotlib."""

from __future__ import annotations

from collections import defaultdict

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from llm_anatomy.autograd.engine import Value, topological_order

OP_SYMBOLS = {"*": "×", "neg": "−", "sum": "Σ", "dot": "·"}
VALUE_STYLE = {"boxstyle": "round,pad=0.4", "facecolor": "#e8f0fe", "edgecolor": "#4a6fa5"}
OP_STYLE = {"boxstyle": "circle,pad=0.3", "facecolor": "#fff4d6", "edgecolor": "#b58900"}
ARROW_STYLE = {"arrowstyle": "->", "color": "#555555", "shrinkA": 0, "shrinkB": 0}


def _columns(nodes: list[Value]) -> dict[int, list[Value]]:
    """Group the nodes (in topological order) into columns, from left to right.

    A computed value goes in the column of its depth: the length of the longest path
    from an input to it. An input goes just left of the first operation that uses it.
    """
    depth: dict[Value, int] = {}
    for node in nodes:  # children come first in topological order
        depth[node] = 1 + max((depth[child] for child in node.children), default=-1)
    first_use: dict[Value, int] = {}
    for node in nodes:
        for child in node.children:
            if not child.children:
                first_use[child] = min(first_use.get(child, depth[node]), depth[node])
    for leaf, user_depth in first_use.items():
        depth[leaf] = user_depth - 1
    columns: dict[int, list[Value]] = defaultdict(list)
    for node in nodes:
        columns[depth[node]].append(node)
    return columns


def _node_text(node: Value) -> str:
    fields = [node.label] if node.label else []
    return "\n".join([*fields, f"data {node.data:.3f}", f"grad {node.grad:.3f}"])


def _arrow(ax: Axes, source: Text, target: Text) -> None:
    """An arrow from the right edge of one text box to the left edge of another."""
    ax.annotate(
        "", xy=(0, 0.5), xycoords=target, xytext=(1, 0.5), textcoords=source,
        arrowprops=ARROW_STYLE,
    )


def draw_graph(root: Value, figsize: tuple[float, float] | None = None) -> Figure:
    """Draw the graph that computes ``root``, from the inputs on the left to ``root``.

    Each value is a box showing, one per line, its label (if any), its data and its
    gradient. A value computed by an operation is preceded by a small circle holding the
    operation's symbol, with arrows from the operands to the circle and from the circle to
    the result. Values are placed in columns by depth (the length of the longest path from
    an input), and each input just left of the first operation that uses it.

    Args:
        root: The value whose graph is drawn, usually after calling ``root.backward()``.
        figsize: Width and height in inches; by default it grows with the graph.

    Returns:
        The figure (not shown: display it, save it, or pass it to ``plot.show``).
    """
    columns = _columns(topological_order(root))
    n_columns, n_rows = len(columns), max(len(column) for column in columns.values())
    fig = Figure(figsize=figsize or (1.9 * n_columns, 0.3 + 1.1 * n_rows))
    ax = fig.add_subplot()
    ax.set_xlim(-1.5, 3 * n_columns - 1.5)
    ax.set_ylim(-n_rows / 2, n_rows / 2)
    ax.set_axis_off()

    boxes = {}
    for d in range(n_columns):  # inputs first, so every child has its box before its parent
        column = columns[d]
        for row, node in enumerate(column):
            y = (len(column) - 1) / 2 - row
            boxes[node] = ax.text(3 * d, y, _node_text(node), ha="center", va="center",
                                  fontsize=9, linespacing=1.25, bbox=VALUE_STYLE, gid=f"value-{len(boxes)}")  # ids unique in the SVG
            if node.op:
                symbol = OP_SYMBOLS.get(node.op, node.op)
                op = ax.text(3 * d - 1.45, y, symbol, ha="center", va="center", fontsize=10,
                             bbox=OP_STYLE, gid=f"op-{len(boxes) - 1}")
                _arrow(ax, op, boxes[node])
                for child in node.children:
                    _arrow(ax, boxes[child], op)
    return fig
