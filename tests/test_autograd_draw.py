"""The Matplotlib drawing of a computational graph."""

from __future__ import annotations

import io

from matplotlib.figure import Figure

from llm_anatomy.autograd import MLP, Value, draw_graph, topological_order


def texts(fig: Figure, gid: str) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").split("-")[0] == gid]


def test_draws_one_box_per_value_and_one_circle_per_operation():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b
    d = c + a
    d.label = "d"
    d.backward()
    fig = draw_graph(d)
    assert isinstance(fig, Figure)
    boxes = texts(fig, "value")
    assert len(boxes) == 4
    assert "a\ndata 2.000\ngrad -2.000" in boxes
    assert "d\ndata -4.000\ngrad 1.000" in boxes
    assert sorted(texts(fig, "op")) == ["+", "×"]
    fig.savefig(io.BytesIO(), format="png")  # the arrows are laid out at draw time


def test_draws_a_small_network():
    model = MLP(2, [3, 1])
    [out] = model([1.0, -1.0])
    out.backward()
    nodes = topological_order(out)
    assert 25 <= len(nodes) <= 35
    fig = draw_graph(out)
    assert len(texts(fig, "value")) == len(nodes)
    assert len(texts(fig, "op")) == sum(1 for node in nodes if node.op)
    fig.savefig(io.BytesIO(), format="svg")


def test_figsize_can_be_chosen():
    fig = draw_graph(Value(1.0).exp(), figsize=(4, 2))
    assert tuple(fig.get_size_inches()) == (4, 2)
