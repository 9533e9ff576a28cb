"""Chapter 7: a scalar autograd engine and a small neural-network library on top of it."""

from llm_anatomy.autograd.draw import draw_graph
from llm_anatomy.autograd.engine import Value, topological_order
from llm_anatomy.autograd.nn import (
    MLP,
    SGD,
    Dropout,
    Linear,
    Module,
    Neuron,
    accumulate_gradients,
    binary_cross_entropy_with_logits,
)

__all__ = [
    "MLP",
    "SGD",
    "Dropout",
    "Linear",
    "Module",
    "Neuron",
    "Value",
    "accumulate_gradients",
    "binary_cross_entropy_with_logits",
    "draw_graph",
    "topological_order",
]
