"""Chapter 8: neural-network layers on tensors, each with a hand-written backward pass."""

from llm_anatomy.nn.activations import (
    ACTIVATIONS,
    GELU,
    Identity,
    ReLU,
    Sigmoid,
    SiLU,
    Tanh,
    make_activation,
    sigmoid,
)
from llm_anatomy.nn.init import (
    calculate_gain,
    fan_in_and_fan_out,
    kaiming_normal_,
    kaiming_std,
    kaiming_uniform_,
    xavier_normal_,
    xavier_uniform_,
)
from llm_anatomy.nn.layers import Linear
from llm_anatomy.nn.mlp import MLP, fit, sgd_step
from llm_anatomy.nn.module import Module, check_tensor
from llm_anatomy.nn.norm import BatchNorm1d, LayerNorm, standardize, standardize_backward
from llm_anatomy.nn.perceptron import Perceptron
from llm_anatomy.nn.softmax import CrossEntropyLoss, Softmax, log_softmax, softmax

__all__ = [
    "ACTIVATIONS",
    "GELU",
    "MLP",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Identity",
    "LayerNorm",
    "Linear",
    "Module",
    "Perceptron",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "calculate_gain",
    "check_tensor",
    "fan_in_and_fan_out",
    "fit",
    "kaiming_normal_",
    "kaiming_std",
    "kaiming_uniform_",
    "log_softmax",
    "make_activation",
    "sgd_step",
    "sigmoid",
    "softmax",
    "standardize",
    "standardize_backward",
    "xavier_normal_",
    "xavier_uniform_",
]
